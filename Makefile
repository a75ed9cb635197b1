# The README's two commands, each idempotent and fast when everything is in place:
#   make paper   the locked environment, TeX Live (installed or named), then every run and the PDF
#   make test    the locked environment, then the test suite
# Settings: make paper DATA_DIR=path/to/wikitext-2 CORES=4; DATA_DIR= (empty) loads the corpus from the
# Hugging Face hub. TORCH_INDEX is PyTorch's CPU-only wheel index (torch 2.13.0+cpu is locked); set it
# empty where pip finds that wheel locally.
PYTHON ?= python3
VENV ?= .venv
DATA_DIR ?= $(firstword $(wildcard ../shared/data/wikitext-2))
CORES ?= all
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
LOCK := requirements/lock.txt
# The environment is rebuilt when the lock or the project's metadata changes.
STAMP := $(VENV)/.lash-$(shell cat $(LOCK) pyproject.toml | sha256sum | cut -c1-16)

.PHONY: paper test lint smoke env system-packages

paper: env system-packages
	$(VENV)/bin/snakemake --cores $(CORES) $(if $(DATA_DIR),--config data_dir=$(DATA_DIR))

test: env
	$(VENV)/bin/python -m pytest

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakefmt --check Snakefile workflow
	$(VENV)/bin/python tools/lint-workflow.py $(if $(DATA_DIR),--config data_dir=$(DATA_DIR))

smoke: env system-packages
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/smoke.yaml

env: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes --no-deps -r $(LOCK) \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

system-packages:
	@bash tools/system-packages.sh
