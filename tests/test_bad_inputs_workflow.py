"""Bad inputs of the workflow: refused when Snakemake starts, before any job runs or any output is
removed, with a message that names the problem and a Fix (the contract: tests/bad_inputs.py).

Config mistakes are refused while the Snakefile is read (a dry run shows them); missing data or TeX
when a real run starts (Snakemake's onstart), so those cases run for real and prove that nothing under
output_root appeared or changed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from bad_inputs import Ctx, Setup, assert_refused, clean_environment

from lash.workflow_env import with_this_interpreter

pytestmark = pytest.mark.usefixtures(clean_environment.__name__)  # no LASH_DATA_DIR from the caller

CHAR_JOB = "results/alpha/corrected-a0.7/seed~0.json"  # reads real WikiText-2 in the paper config
NO_DATA_ENV = ("LASH_DATA_DIR", "LASH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT")


def _root(ctx) -> Path:
    return ctx.tmp / "wf"


def _real_run(ctx, *config, names, target=CHAR_JOB, configfiles=(), **kw) -> Setup:
    """`snakemake --cores 1 -f TARGET` under a fresh output_root: nothing may appear there."""
    root = _root(ctx)
    files = ["--configfile", *map(str, configfiles)] if configfiles else []
    setup = Setup(["--cores", "1", "-f", f"{root}/{target}", *files, "--config", f"output_root={root}", *config],
                  None, names=["no job was started", *names], runner="snakemake", drop_env=NO_DATA_ENV, **kw)
    if not setup.unchanged:
        setup.absent = [root]
    return setup


def _dry_run(ctx, *config, names, configfiles=()) -> Setup:
    """A config mistake: refused while the Snakefile is read, so a dry run shows it."""
    root = _root(ctx)
    files = ["--configfile", "config/smoke.yaml", *map(str, configfiles)]
    return Setup(["-n", "--cores", "1", *files, "--config", f"output_root={root}", *config], None,
                 names=names, runner="snakemake", drop_env=NO_DATA_ENV, absent=[root])


def _yaml(ctx, name, mapping) -> Path:
    return ctx.file(name, yaml.safe_dump(mapping))


# --------------------------------------------------------------------------- data, before any job

def _data_dir_missing(ctx):
    """A forced rerun of a committed run with a wrong data_dir: refused, and the run file keeps its bytes
    (Snakemake removes a job's outputs when the job starts)."""
    committed = _root(ctx) / CHAR_JOB
    committed.parent.mkdir(parents=True)
    committed.write_text('{"committed": true}')
    setup = _real_run(ctx, f"data_dir={ctx.tmp}/no-such-corpus", names=["data_dir", "no-such-corpus"],
                      unchanged=[committed])
    setup.absent = [_root(ctx) / "logs"]
    return setup


def _kept_run_of_other_settings(ctx):
    """A run file Snakemake counts as up to date (newer than its code) but made with other settings than
    the config gives it (a smoke run where the paper expects its own): refused before the 360 other
    runs train, not by check_runs hours later; the file keeps its bytes."""
    kept = _root(ctx) / CHAR_JOB
    kept.parent.mkdir(parents=True)
    kept.write_bytes((Path(__file__).parent / "data" / "smoke_run.json").read_bytes())
    setup = _real_run(ctx, names=[f"{kept}: ", "do not match the workflow config", "`--forcerun`", "`--forceall`"],
                      target="results/checked_runs.json", unchanged=[kept])
    setup.absent = [_root(ctx) / "logs"]
    return setup


def _data_dir_altered(ctx):
    corpus = ctx.tmp / "corpus"
    corpus.mkdir()
    for split in ("train", "validation", "test"):
        (corpus / f"{split}.txt").write_text(f" = {split} = \n not WikiText-2 \n")
    return _real_run(ctx, f"data_dir={corpus}", names=["data_dir", str(corpus), "digest"])


def _hub_unreachable(ctx):
    # nothing listens on port 9 of this machine: the hub is refused at once, as on a machine without network
    setup = _real_run(ctx, names=["data_dir", "127.0.0.1", "cannot be reached"])
    setup.env = {"HF_ENDPOINT": "http://127.0.0.1:9"}
    return setup


def _offline_without_data_dir(ctx):
    return _real_run(ctx, "offline=True", names=["offline", "data_dir"])


def _bad_lash_key_in_a_variant(ctx):
    typo = _yaml(ctx, "typo.yaml", {"families": {"alpha": {"a0.7": {"train": {"max_epoch": 3}}}}})
    return _real_run(ctx, names=["train.max_epoch", "unknown key"], configfiles=["config/smoke.yaml", typo])


# --------------------------------------------------------------------------- TeX, before any job

def _path_without_tex(tools: Path) -> Path:
    """One directory with every program of this PATH except TeX's (which CI has installed)."""
    tools.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for program in Path(directory).glob("*") if Path(directory).is_dir() else []:
            if program.name not in ("latexmk", "pdflatex") and not (tools / program.name).exists():
                (tools / program.name).symlink_to(program)
    return tools


def _no_tex_for_the_paper(ctx):
    """PATH without latexmk: the paper is refused up front and the existing PDF keeps its bytes
    (Snakemake would delete an output before running its job)."""
    root = _root(ctx)
    pdf = root / "paper" / "build" / "main.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.5 committed\n")
    setup = _real_run(ctx, names=["latexmk", "not on PATH"], target="paper/build/main.pdf",
                      configfiles=["config/smoke.yaml"], unchanged=[pdf])
    setup.env = with_this_interpreter({"PATH": str(_path_without_tex(ctx.tmp / "bin"))})
    setup.absent = [root / "logs", root / "results"]
    return setup


# --------------------------------------------------------------------------- a job that fails

def _failed_job_shows_its_message(ctx):
    """A job lash refuses (an unreadable resume checkpoint): the console shows lash's own message and
    Fix from the job's log (profiles/default: show-failed-logs), not only Snakemake's summary."""
    root = _root(ctx)
    ckpt = root / "checkpoints/train/alpha/corrected-a0.7/seed~0/train.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    setup = Setup(["--cores", "1", f"{root}/{CHAR_JOB}", "--configfile", "config/smoke.yaml", "--config",
                   f"output_root={root}"], root / CHAR_JOB, names=[str(ckpt)], runner="snakemake",
                  drop_env=NO_DATA_ENV, unchanged=[ckpt])
    return setup


# --------------------------------------------------------------------------- config, while reading it

def _seeds_not_integer(ctx):
    return _dry_run(ctx, "seeds=[0,a]", names=["seeds", "'a'"])


def _unknown_top_level_key(ctx):
    return _dry_run(ctx, "sedes=[0,1]", names=["`sedes`", "`seeds`"])


def _unknown_nested_key(ctx):
    typo = _yaml(ctx, "typo.yaml", {"ashem": {"provenanec_seed": 42}})
    return _dry_run(ctx, names=["`ashem.provenanec_seed`", "`provenance_seed`"], configfiles=[typo])


def _unknown_preset_in_a_family(ctx):
    typo = _yaml(ctx, "typo.yaml", {"families": {"alpha": {"a0.7": {"preset": "asymetric"}}}})
    return _dry_run(ctx, names=["`asymetric`", "families.alpha.a0.7.preset", "`asymmetric`"], configfiles=[typo])


def _unknown_preset_in_provenance(ctx):
    typo = _yaml(ctx, "typo.yaml", {"provenance": {"corpora": ["fallback"], "variants": ["standrad"]}})
    return _dry_run(ctx, names=["`standrad`", "provenance.variants", "`standard`"], configfiles=[typo])


def _unknown_family_in_references(ctx):
    typo = _yaml(ctx, "typo.yaml", {"references": {"alpah": "alpha/a0.5"}})
    return _dry_run(ctx, names=["`alpah`", "references", "`alpha`"], configfiles=[typo])


def _unknown_ashem_variant(ctx):
    typo = _yaml(ctx, "typo.yaml", {"ashem": {"run": {"corrected": ["soft_frezee"]}}})
    return _dry_run(ctx, names=["`soft_frezee`", "ashem.run.corrected", "`soft_freeze`"], configfiles=[typo])


def _provenance_seed_among_word_seeds(ctx):
    return _dry_run(ctx, "word_seeds=[0,42]", names=["ashem.provenance_seed", "word_seeds"])


CASES = [
    pytest.param(_data_dir_missing, id="workflow-data-dir-missing"),
    pytest.param(_data_dir_altered, id="workflow-data-dir-altered-corpus"),
    pytest.param(_kept_run_of_other_settings, id="workflow-kept-run-of-other-settings"),
    pytest.param(_hub_unreachable, id="workflow-no-data-dir-hub-unreachable"),
    pytest.param(_offline_without_data_dir, id="workflow-offline-without-data-dir"),
    pytest.param(_bad_lash_key_in_a_variant, id="workflow-unknown-lash-key-in-a-variant"),
    pytest.param(_no_tex_for_the_paper, id="workflow-paper-without-tex"),
    pytest.param(_failed_job_shows_its_message, id="workflow-failed-job-shows-the-lash-message"),
    pytest.param(_seeds_not_integer, id="workflow-seeds-not-integer"),
    pytest.param(_unknown_top_level_key, id="workflow-unknown-key"),
    pytest.param(_unknown_nested_key, id="workflow-unknown-ashem-key"),
    pytest.param(_unknown_preset_in_a_family, id="workflow-unknown-preset-in-a-family"),
    pytest.param(_unknown_preset_in_provenance, id="workflow-unknown-preset-in-provenance"),
    pytest.param(_unknown_family_in_references, id="workflow-unknown-family-in-references"),
    pytest.param(_unknown_ashem_variant, id="workflow-unknown-ashem-variant"),
    pytest.param(_provenance_seed_among_word_seeds, id="workflow-provenance-seed-among-word-seeds"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_workflow_input_is_refused_before_any_job(make, tmp_path, request, capsys):
    assert_refused(make(Ctx(tmp_path, request)), tmp_path, capsys)
