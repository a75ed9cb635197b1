"""benchmarks/time_dag.py: the report of alternating fast/reference builds (builds faked here)."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_dag.py"


@pytest.fixture
def time_dag():
    spec = importlib.util.spec_from_file_location("time_dag", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_setting_is_the_mean_of_its_passes(time_dag, monkeypatch, tmp_path):
    walls = iter([60.0, 180.0, 120.0])  # fast, reference, fast
    monkeypatch.setattr(time_dag, "build", lambda what, kernels, cores, data_dir, root: {
        "kernels": kernels, "wall_s": next(walls), "jobs": 5, "command": "x",
        "job_seconds": {"alpha": 10.0 if kernels == "fast" else 12.0}})
    out = tmp_path / "dag.json"
    assert time_dag.main(["smoke", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mean_wall_s"] == {"fast": 90.0, "reference": 180.0} and report["speedup"] == 2.0
    md = out.with_suffix(".md").read_text()
    assert "reference / fast = 2.00" in md and "| alpha | 10 s | 12 s | 1.20 |" in md


@pytest.mark.parametrize("argv, message", [
    (["smoke", "--order", "fast"], "each at least once"),
    (["paper-slice"], "needs --data-dir"),
])
def test_bad_arguments_are_refused_before_any_build(time_dag, monkeypatch, tmp_path, capsys, argv, message):
    monkeypatch.setattr(time_dag, "build", lambda *a: pytest.fail("a build ran"))
    with pytest.raises(SystemExit) as exc:
        time_dag.main([*argv, "--out", str(tmp_path / "dag.json")])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_directory_as_out_is_refused_before_any_build(time_dag, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(time_dag, "build", lambda *a: pytest.fail("a build ran"))
    with pytest.raises(SystemExit):
        time_dag.main(["smoke", "--out", str(tmp_path)])
    assert "is a directory" in capsys.readouterr().err
