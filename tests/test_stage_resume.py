"""ASHEM's training stages resume after a kill, as `lash train` does (tests/test_resume.py): a stage
killed with SIGKILL after its first checkpoint and started again with the same --checkpoint-dir writes
a results file whose `metrics` equal those of an uninterrupted run."""

import json
import subprocess

import pytest
import torch
from test_resume import kill_after_checkpoint, lash_command

from lash.cli import main

SMOKE = ["--preset", "ashem_corrected", "--smoke", "--seed", "0", "--set", "train.threads=1", "-q"]
# Six epochs without early stopping: long enough to be killed in the middle.
PHASE1 = ["ashem", "phase1", *SMOKE, "--set", "ashem.phase1_max_epochs=6", "--set", "ashem.phase1_patience=6"]
# Phase 2 grows a 2-epoch phase-1 model (the fixture) and trains six epochs.
CHAIN = [*SMOKE, "--set", "ashem.phase1_max_epochs=2", "--set", "ashem.phase2_max_epochs=6",
         "--set", "ashem.phase2_patience=6"]
PROGRESSIVE = ["progressive", "--preset", "progressive_original", "--smoke", "--seed", "0", "--set", "train.threads=1",
               "-q", "--set", "ashem.phase1_max_epochs=2", "--set", "ashem.phase2_max_epochs=5",
               "--set", "ashem.phase2_patience=5"]


def _payload(path):
    return json.loads(path.read_text())


def resume(args):
    proc = subprocess.run(lash_command(*args), check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def phase1_files(tmp_path_factory):
    """The phase-1 model and mined file that phase 2 grows from (CHAIN's config)."""
    d = tmp_path_factory.mktemp("chain")
    assert main(["ashem", "phase1", *CHAIN, "--checkpoint", str(d / "p1.pt"), "--out", str(d / "p1.json")]) == 0
    assert main(["ashem", "mine", *CHAIN, "--phase1", str(d / "p1.pt"), "--out", str(d / "m.pt"),
                 "--summary", str(d / "m.json")]) == 0
    return ["--phase1", str(d / "p1.pt"), "--mined", str(d / "m.pt")]


def test_phase1_killed_and_resumed_gives_the_uninterrupted_metrics(tmp_path):
    ref = tmp_path / "ref.json"
    assert main([*PHASE1, "--checkpoint", str(tmp_path / "ref.pt"), "--out", str(ref)]) == 0
    ckpt, out = tmp_path / "ckpt", tmp_path / "p1.json"
    args = [*PHASE1, "--checkpoint", str(tmp_path / "p1.pt"), "--out", str(out), "--checkpoint-dir", str(ckpt)]
    saved = kill_after_checkpoint(args, ckpt / "train.pt", out)
    assert saved["stage"] == "lash ashem phase1" and 1 <= saved["epoch"] < 6 and not saved["finished"]
    resume(args)
    payload = _payload(out)
    assert payload["provenance"]["resumed_from_epoch"] == saved["epoch"]
    assert payload["metrics"] == _payload(ref)["metrics"]  # bit for bit, the history included
    # the stage file a resumed run writes is the same model
    a = torch.load(tmp_path / "ref.pt", weights_only=True)
    b = torch.load(tmp_path / "p1.pt", weights_only=True)
    assert a["state_digest"] == b["state_digest"]
    assert not ckpt.exists()  # removed after success (no --keep-checkpoint)


def test_phase2_killed_and_resumed_gives_the_uninterrupted_metrics(tmp_path, phase1_files):
    ref = tmp_path / "ref.json"
    assert main(["ashem", "phase2", *CHAIN, *phase1_files, "--checkpoint", str(tmp_path / "ref.pt"),
                 "--out", str(ref)]) == 0
    ckpt, out = tmp_path / "ckpt", tmp_path / "p2.json"
    args = ["ashem", "phase2", *CHAIN, *phase1_files, "--checkpoint", str(tmp_path / "p2.pt"), "--out", str(out),
            "--checkpoint-dir", str(ckpt), "--keep-checkpoint"]
    saved = kill_after_checkpoint(args, ckpt / "train.pt", out)
    assert saved["stage"] == "lash ashem phase2" and 1 <= saved["epoch"] < 6 and not saved["finished"]
    resume(args)
    payload = _payload(out)
    assert payload["provenance"]["resumed_from_epoch"] == saved["epoch"]
    assert payload["metrics"] == _payload(ref)["metrics"]
    assert torch.load(ckpt / "train.pt", weights_only=True)["finished"]  # --keep-checkpoint


def test_progressive_killed_in_phase_2_resumes_there_without_retraining_phase_1(tmp_path):
    ref = tmp_path / "ref.json"
    assert main([*PROGRESSIVE, "--out", str(ref)]) == 0
    ckpt, out = tmp_path / "ckpt", tmp_path / "prog.json"
    args = [*PROGRESSIVE, "--out", str(out), "--checkpoint-dir", str(ckpt)]
    saved = kill_after_checkpoint(args, ckpt / "phase2.pt", out)
    assert saved["stage"] == "lash progressive (phase 2)" and not saved["finished"]
    phase1 = torch.load(ckpt / "phase1.pt", weights_only=True)
    assert phase1["finished"]
    resume(args)
    payload = _payload(out)
    # phase 1 was loaded after its last epoch (not retrained); phase 2 went on after the killed epoch
    assert payload["provenance"]["resumed_from_epoch"] == {"phase1": phase1["epoch"], "phase2": saved["epoch"]}
    assert payload["metrics"] == _payload(ref)["metrics"]
    assert not ckpt.exists()


def test_a_finished_baseline_checkpoint_is_not_trained_again(tmp_path, phase1_files):
    mined = phase1_files[phase1_files.index("--mined") + 1]
    args = ["ashem", "baseline", "--preset", "ashem_baseline_deep_corrected", "--smoke", "--seed", "0", "-q",
            "--set", "train.threads=1", "--mined", mined]
    ckpt = tmp_path / "ckpt"
    assert main([*args, "--out", str(tmp_path / "a.json"), "--checkpoint-dir", str(ckpt), "--keep-checkpoint"]) == 0
    state = torch.load(ckpt / "train.pt", weights_only=True)
    assert state["stage"] == "lash ashem baseline" and state["finished"]
    assert main([*args, "--out", str(tmp_path / "b.json"), "--checkpoint-dir", str(ckpt)]) == 0
    a, b = _payload(tmp_path / "a.json"), _payload(tmp_path / "b.json")
    assert b["provenance"]["resumed_from_epoch"] == state["epoch"]
    assert a["provenance"]["resumed_from_epoch"] is None
    assert a["metrics"] == b["metrics"]
    assert not ckpt.exists()


def test_one_stage_refuses_the_checkpoint_of_another(tmp_path, phase1_files, capsys):
    ckpt = tmp_path / "ckpt"
    assert main([*PHASE1[:2], *CHAIN, "--checkpoint", str(tmp_path / "p1.pt"), "--out", str(tmp_path / "p1.json"),
                 "--checkpoint-dir", str(ckpt), "--keep-checkpoint"]) == 0
    before = (ckpt / "train.pt").read_bytes()
    out = tmp_path / "p2.json"
    rc = main(["ashem", "phase2", *CHAIN, *phase1_files, "--checkpoint", str(tmp_path / "p2.pt"), "--out", str(out),
               "--checkpoint-dir", str(ckpt)])
    err = capsys.readouterr().err
    assert rc == 2 and "written by `lash ashem phase1`, not by `lash ashem phase2`" in err
    assert f"mv {ckpt / 'train.pt'} {ckpt / 'train.pt'}.old" in err and "Fix:" in err
    assert not out.exists() and (ckpt / "train.pt").read_bytes() == before
