"""Versions against the lock, and the CPU record, in every results JSON."""

import hashlib
import json

import pytest

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
