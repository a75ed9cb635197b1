"""The figures: each is rebuilt byte for byte from the same CSV (PDF and PNG), and editing one figure's
plotting code makes Snakemake plan that figure and the PDF, nothing else."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fake_results import expected_settings, make_fake_results

REPO = Path(__file__).resolve().parents[1]
CLAIMS = str(REPO / "config" / "claims.yaml")
FIGURES = ["fig_alpha", "fig_l2", "fig_lr", "fig_seeds", "fig_sweep", "fig_reliability", "fig_ashem"]


def script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "workflow" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def aggregates(tmp_path_factory):
    """results/*.csv of a fake tree, as check_runs and aggregate write them."""
    root = tmp_path_factory.mktemp("figures")
    paths = [str(p) for p in make_fake_results(root)]
    res = root / "results"
    outs = {k: str(res / f"{k}.csv") for k in ("runs", "summary", "paired", "claims", "sweep", "reliability")}
    outs |= {"summary_json": str(res / "summary.json"), "claims_json": str(res / "claims.json")}
    script("check_runs").main({"runs": paths}, {"manifest": str(res / "checked.json")},
                              {"expected": expected_settings(paths)})
    script("aggregate").main({"checked": str(res / "checked.json"), "claims": CLAIMS}, outs, {})
    return {"runs": outs["runs"], "sweep": outs["sweep"], "reliability": outs["reliability"],
            "claims_config": CLAIMS}


@pytest.mark.parametrize("name", FIGURES)
def test_a_rebuilt_figure_is_byte_identical(name, aggregates, tmp_path):
    fig = script(name)
    builds = []
    for i, rng_seed in enumerate((1, 2)):
        np.random.seed(rng_seed)  # whatever state numpy's global generator is in: the same figure
        out = {"pdf": str(tmp_path / str(i) / f"{name}.pdf"), "png": str(tmp_path / str(i) / f"{name}.png")}
        fig.main(aggregates, out, {})
        builds.append({k: Path(v).read_bytes() for k, v in out.items()})
    first, second = builds
    assert first["pdf"].startswith(b"%PDF") and first["png"].startswith(b"\x89PNG")
    assert first["pdf"] == second["pdf"] and first["png"] == second["png"]
    assert b"CreationDate" not in first["pdf"] and b"tIME" not in first["png"]  # no timestamps
    assert len(first["png"]) > 1000


def test_seeded_jitter_leaves_the_callers_random_state_alone():
    from lash.analysis.figstyle import seeded_jitter

    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    with seeded_jitter():
        jitter = np.random.random(2)
    assert np.array_equal(np.random.random(3), expected)
    with seeded_jitter():
        assert np.array_equal(np.random.random(2), jitter)


def _snakemake(*args, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _planned(text: str) -> dict[str, int]:
    """{rule: count} of the 'Job stats' table of a dry run."""
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_editing_one_figure_plans_that_figure_and_the_paper(tmp_path):
    """An up-to-date smoke build (every output present, marked current with --touch) in a copy of the
    workflow: a comment appended to fig_alpha's plotting code plans fig_alpha, paper and all."""
    for name in ("Snakefile", "workflow", "config", "paper", "lash"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    shutil.rmtree(tmp_path / "paper" / "build", ignore_errors=True)
    smoke = ["--configfile", "config/smoke.yaml"]
    summary = _snakemake("--summary", *smoke, cwd=tmp_path)
    outputs = [line.split("\t")[0] for line in summary.splitlines() if "\tmissing\t" in line]
    assert len(outputs) > 50 and "smoke_out/figures/fig_alpha.pdf" in outputs
    for path in outputs:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    _snakemake("--cores", "1", "--touch", *smoke, cwd=tmp_path)
    assert "Nothing to be done" in _snakemake("-n", "--cores", "1", *smoke, cwd=tmp_path)

    with open(tmp_path / "workflow" / "scripts" / "fig_alpha.py", "a") as fh:
        fh.write("# an edit of this figure's plotting code\n")
    plan = _snakemake("-n", "--cores", "1", *smoke, cwd=tmp_path)
    assert _planned(plan) == {"fig_alpha": 1, "paper": 1, "all": 1}
    inputs = re.search(r"rule fig_alpha:\n\s+input: (.*)", plan)[1]
    assert "lash/analysis/figstyle.py" in inputs and "lash/analysis/stats.py" not in inputs
