import json
import subprocess
import sys

import pytest

from lash.cli import main
from lash.config import resolve_config
from lash.data import prepare_data
from lash.model import LashTransformer


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "lash.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("smoke")
    outs = [d / "a.json", d / "b.json"]
    for out in outs:
        assert main(["train", "--preset", "asymmetric", "--smoke", "--out", str(out), "-q"]) == 0
    return [json.loads(p.read_text()) for p in outs]


def test_smoke_cli_writes_a_complete_results_json(smoke_runs):
    run = smoke_runs[0]
    assert set(run) >= {"config", "metrics", "provenance", "data"}
    prov = run["provenance"]
    for key in ("git_sha", "git_dirty", "lash_version", "torch_version", "python_version", "seed",
                "data_digest", "device", "threads", "wall_seconds"):
        assert key in prov, key
    assert run["config"]["layer_weights"] == {"1": 0.7, "2": 0.0, "3": 0.3}
    assert run["config"]["data"]["corpus"] == "synthetic"
    m = run["metrics"]
    assert m["headline"]["split"] == "test"
    assert set(m["validation"]["exits"]) == {"1", "2", "3"}
    assert [e["epoch"] for e in m["history"]] == list(range(1, m["epochs_run"] + 1))
    assert len(m["validation"]["sweep"]) == 11
    assert "wall" not in json.dumps(m)  # timings live in provenance only


def test_two_runs_with_one_seed_are_identical(smoke_runs):
    a, b = smoke_runs
    assert a["metrics"] == b["metrics"]


def test_model_approaches_the_source_entropy_on_synthetic_data(smoke_runs):
    import math

    m = smoke_runs[0]["metrics"]
    optimum = math.exp(m["entropy_rate"])
    uniform = m["vocab_size"]
    # a few epochs get well below the uniform guess but never below the true optimum
    assert optimum * 0.95 < m["test"]["final"]["ppl"] < 0.7 * uniform


def test_another_seed_changes_the_metrics(tmp_path):
    out = tmp_path / "c.json"
    assert main(["train", "--preset", "asymmetric", "--smoke", "--seed", "7", "--out", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["provenance"]["seed"] == 7


@pytest.mark.parametrize("args,field", [
    (["--preset", "no-such-preset"], "preset"),
    (["--set", "routing_threshold=1.5"], "routing_threshold"),
    (["--set", "layer_weights={1: 0.7, 9: 0.3}"], "layer_weights"),
    (["--set", "layer_weights={1: -0.7, 2: 0, 3: 0.3}"], "layer_weights[1]"),
    (["--set", "layer_lr_scales={1: 0, 2: 1, 3: 1}"], "layer_lr_scales[1]"),
])
def test_bad_input_exits_non_zero_names_the_field_and_writes_nothing(tmp_path, args, field):
    out = tmp_path / "r.json"
    proc = run_cli("train", "--smoke", *args, "--out", str(out))
    assert proc.returncode == 2
    assert f"`{field}`" in proc.stderr and "Fix:" in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_data_directory_is_a_clear_error(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("train", "--set", f"data.data_dir={tmp_path / 'nope'}", "--set", "data.source=local",
                   "--out", str(out))
    assert proc.returncode == 2
    assert "data_dir" in proc.stderr and "LASH_DATA_DIR" in proc.stderr
    assert not out.exists()


def test_unwritable_output_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("train", "--smoke", "--out", str(blocker / "r.json"))
    assert proc.returncode == 2 and "--out" in proc.stderr


def test_ease_setup_on_the_fallback_text_has_vocab_30_and_200832_parameters():
    cfg = resolve_config(sets=["protocol=original"], preset="asymmetric")
    data = prepare_data(cfg.data, cfg.seed)
    assert len(data.vocab) == 30
    assert (len(data.train), len(data.validation)) == (48, 4)
    assert LashTransformer(cfg.model, len(data.vocab)).num_parameters() == 200_832


def test_config_command_prints_the_resolved_config(capsys):
    assert main(["config", "--preset", "asymmetric", "--set", "train.max_epochs=3"]) == 0
    text = capsys.readouterr().out
    assert "max_epochs: 3" in text and "routing_threshold: 0.95" in text


def test_the_library_never_imports_the_command_line():
    """lash.cli imports the library, never the reverse (function-level imports included)."""
    import ast
    from pathlib import Path

    import lash

    root = Path(lash.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if root / "cli" in path.parents:
            continue
        package = ".".join(("lash", *path.relative_to(root).parent.parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(filter(None, [base, node.module or ""]))
                names = [f"{module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [f"{path.relative_to(root)}: {n}" for n in names
                          if n == "lash.cli" or n.startswith("lash.cli.")]
    assert offenders == []


@pytest.mark.parametrize("args", [["presets"], ["config", "--preset", "no-such-preset"]])
def test_presets_and_config_errors_do_not_import_torch(args):
    code = f"import sys; from lash.cli import main; rc = main({args!r}); print(rc, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.splitlines()[-1] in ("0 False", "2 False"), proc.stdout[-500:] + proc.stderr[-500:]
