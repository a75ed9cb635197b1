"""tools/verify_run.py: a committed run rerun into a temporary tree and compared bit for bit."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "verify_run.py"
RUN = "results/alpha/corrected-a0.7/seed~0.json"


def _tool():
    spec = importlib.util.spec_from_file_location("verify_run", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verify(*args):
    return subprocess.run([sys.executable, str(TOOL), *args, "--configfile", "config/smoke.yaml"], cwd=REPO,
                          capture_output=True, text=True, check=False)


def test_first_difference_names_the_first_differing_leaf():
    first = _tool().first_difference
    a = {"headline": {"ppl": 7.1931535654870835, "acc": 0.3}, "epochs": [1, 2]}
    assert first(a, json.loads(json.dumps(a))) is None
    assert first(a, {**a, "headline": {"ppl": 7.19315012858727, "acc": 0.3}}) == (
        "headline.ppl: committed 7.1931535654870835, rerun 7.19315012858727")
    assert first(a, {**a, "epochs": [1]}) == "epochs (lengths 2 and 1)"
    assert first(a, {"headline": a["headline"]}) == "epochs (only in the committed run)"
    assert first({"x": 0.0}, {"x": -0.0}) == "x: committed 0.0, rerun -0.0"  # other bits


def test_a_rerun_equals_the_run_and_a_changed_metric_is_named(tmp_path):
    env = with_this_interpreter()  # the rules call `lash`
    made = subprocess.run([sys.executable, "-m", "snakemake", f"{tmp_path}/{RUN}", "--cores", "1",
                           "--configfile", "config/smoke.yaml", "--config", f"output_root={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, check=False, env=env)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    run = tmp_path / RUN
    same = verify(str(run))
    assert same.returncode == 0 and "equal: every metric" in same.stdout, same.stdout + same.stderr

    record = json.loads(run.read_text())
    ppl = record["metrics"]["headline"]["ppl"]
    record["metrics"]["headline"]["ppl"] = ppl + abs(ppl) * 1e-15  # the last bits only
    run.write_text(json.dumps(record))
    changed = verify(str(run))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "DIFFERENT: metrics.headline.ppl: committed" in changed.stdout and "settings: the same" in changed.stdout


@pytest.mark.parametrize("make", [lambda d: d / "notes.txt", lambda d: d / "results" / "missing" / "seed~0.json"])
def test_a_path_that_is_no_run_file_exits_2(tmp_path, make):
    path = make(tmp_path)
    if path.name == "notes.txt":
        path.write_text("{}")
    out = verify(str(path))
    assert out.returncode == 2 and "is not a run file" in out.stderr and "Fix:" in out.stderr
