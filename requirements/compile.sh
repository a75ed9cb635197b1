#!/usr/bin/env bash
# Regenerate requirements/lock.txt: every package the project installs (extras dev = workflow + cluster +
# tests + lint, and bench) for Linux x86-64, Python 3.11 and the CPU build of torch 2.13.0, with hashes.
# Needs uv (pip install uv). torch comes from PyTorch's CPU-only index; where that index cannot be
# reached, point at a local copy of the same wheel instead:
#   TORCH_INDEX=none requirements/compile.sh --find-links /opt/wheels
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
torch_source=()
[ "$TORCH_INDEX" = none ] || torch_source=(--extra-index-url "$TORCH_INDEX")
uv pip compile pyproject.toml --extra dev --extra bench --generate-hashes \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --constraint requirements/torch-cpu.txt "${torch_source[@]}" --index-strategy unsafe-best-match \
    --no-emit-index-url --no-emit-find-links --custom-compile-command "requirements/compile.sh" \
    "$@" -o requirements/lock.txt
