"""Versions against the lock, and the CPU record, in every results JSON."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

import lash
from lash import environment as env
from lash.cli import main

LOCK = """# header
numpy==1.0.0 \\
    --hash=sha256:00
    # via lash
torch==9.9.9+cpu \\
    --hash=sha256:11
Some_Pkg==2.0 ; python_version >= "3.10" \\
    --hash=sha256:22
"""


@pytest.fixture
def lock(tmp_path):
    path = tmp_path / "lock.txt"
    path.write_text(LOCK)
    env.locked_versions.cache_clear()
    yield path
    env.locked_versions.cache_clear()


def test_lock_pins_are_read_with_normalised_names(lock):
    assert env.locked_versions(lock) == {"numpy": "1.0.0", "torch": "9.9.9+cpu", "some-pkg": "2.0"}


def test_a_numeric_package_other_than_the_lock_stops_the_run_with_a_fix(lock, monkeypatch):
    monkeypatch.setattr(env, "REPO_ROOT", lock.parent)
    monkeypatch.delenv(env.ALLOW_UNLOCKED, raising=False)
    diffs = env.lock_differences(env.NUMERIC, lock)
    assert set(diffs) == {"numpy", "torch"} and diffs["numpy"]["locked"] == "1.0.0"
    with pytest.raises(env.EnvironmentMismatchError) as err:
        env.check_locked_environment(lock)
    assert "numpy" in str(err.value) and "torch" in str(err.value) and "Fix:" in str(err.value)
    monkeypatch.setenv(env.ALLOW_UNLOCKED, "1")
    env.check_locked_environment(lock)  # the documented override


def test_the_project_environment_matches_its_own_lock():
    """CI installs from requirements/lock.txt: torch and numpy must be the locked ones."""
    assert env.LOCK_FILE.is_file()
    assert env.lock_differences(env.NUMERIC) == {}


def test_results_record_versions_the_lock_digest_and_the_cpu(tmp_path):
    out = tmp_path / "r.json"
    assert main(["train", "--preset", "asymmetric", "--smoke", "-q", "--set", "train.max_epochs=1",
                 "--out", str(out)]) == 0
    prov = json.loads(out.read_text())["provenance"]
    record = prov["environment"]
    assert record["packages"]["numpy"] == env.installed_version("numpy")
    assert record["packages"]["torch"] == env.installed_version("torch")
    assert record["lock_sha256"] == hashlib.sha256(env.LOCK_FILE.read_bytes()).hexdigest()
    assert record["lock_file"] == "requirements/lock.txt"
    cpu = prov["cpu"]
    assert cpu["aten_capability"] and cpu["machine"] and cpu["logical_cores"] >= 1


def test_a_run_in_an_environment_other_than_the_lock_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(env, "installed_version", lambda p: "0.0.1" if p == "numpy" else "x")
    monkeypatch.delenv(env.ALLOW_UNLOCKED, raising=False)
    out = tmp_path / "r.json"
    assert main(["train", "--preset", "asymmetric", "--smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "numpy 0.0.1 installed" in err and "Fix:" in err and env.ALLOW_UNLOCKED in err
    assert not out.exists()
    assert main(["config", "--preset", "asymmetric"]) == 0  # printing a config trains nothing


def _python(code: str, tmp_path) -> subprocess.CompletedProcess:
    """`python -c code` without the pinning variables of this (pinned) test process."""
    clean = {k: v for k, v in os.environ.items() if k not in lash.PINNED_CODE_PATHS}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean, capture_output=True,
                          text=True, timeout=300, check=False)


def test_importing_lash_pins_the_cpu_code_paths(tmp_path):
    proc = _python("import lash, os, torch; print(torch.backends.cpu.get_cpu_capability(), "
                   "os.environ['MKL_CBWR'], os.environ['ONEDNN_MAX_CPU_ISA'])", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["AVX2", "AVX2,STRICT", "AVX2"]


def test_a_run_after_torch_chose_other_kernels_is_refused(tmp_path):
    out = tmp_path / "r.json"
    proc = _python("import sys, torch; torch.randn(8).exp().sum(); from lash.cli import main; "
                   f"sys.exit(main(['train', '--preset', 'asymmetric', '--smoke', '--out', {str(out)!r}]))",
                   tmp_path)
    if "AVX2" not in proc.stderr and proc.returncode == 0:
        pytest.skip("this CPU's default ATen kernels are the pinned ones")
    assert proc.returncode == 2, proc.stderr
    assert "ATEN_CPU_CAPABILITY" in proc.stderr and "Fix: import lash before torch" in proc.stderr
    assert not out.exists()
