"""Resumable training: a run killed with SIGKILL and started again ends with the metrics of an
uninterrupted run; checkpoints from elsewhere are refused; torchrun matches one process."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lash.checkpoint import FILENAME, KIND, TrainingCheckpoint
from lash.cli import main

# Six epochs without early stopping: long enough to be killed in the middle.
RUN = ["train", "--smoke", "--preset", "asymmetric", "--seed", "3", "--set", "train.max_epochs=6",
       "--set", "train.patience=6", "--set", "train.threads=1", "-q"]


def _lash(*args):
    return [sys.executable, "-m", "lash.cli", *args]


def _metrics(path):
    return json.loads(path.read_text())["metrics"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.json"
    assert main(RUN + ["--out", str(out)]) == 0
    return _metrics(out)


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(tmp_path, uninterrupted):
    ckpt_dir, out = tmp_path / "ckpt", tmp_path / "run.json"
    proc = subprocess.Popen(_lash(*RUN, "--checkpoint-dir", str(ckpt_dir), "--out", str(out)))
    deadline = time.monotonic() + 120
    while not (ckpt_dir / FILENAME).exists():  # the first epoch's checkpoint
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # a killed run leaves no results file
    saved = torch.load(ckpt_dir / FILENAME, weights_only=True)
    assert 1 <= saved["epoch"] < 6 and not saved["finished"]
    assert not [p for p in ckpt_dir.iterdir() if p.name != FILENAME]  # no half-written temp file

    resumed = subprocess.run(_lash(*RUN, "--checkpoint-dir", str(ckpt_dir), "--out", str(out)),
                             check=False, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    payload = json.loads(out.read_text())
    assert payload["provenance"]["resumed_from_epoch"] == saved["epoch"]
    assert payload["metrics"] == uninterrupted  # bit for bit, every epoch of the history included
    assert not ckpt_dir.exists()  # removed after success (no --keep-checkpoint)


def test_a_finished_checkpoint_is_not_trained_further(tmp_path, uninterrupted):
    ckpt_dir = tmp_path / "ckpt"
    assert main(RUN + ["--checkpoint-dir", str(ckpt_dir), "--keep-checkpoint", "--out", str(tmp_path / "a.json")]) == 0
    state = torch.load(ckpt_dir / FILENAME, weights_only=True)  # plain tensors and containers only
    assert state["kind"] == KIND and state["finished"] and state["epoch"] == 6
    assert main(RUN + ["--checkpoint-dir", str(ckpt_dir), "--out", str(tmp_path / "b.json")]) == 0
    assert _metrics(tmp_path / "b.json") == uninterrupted


def test_a_checkpoint_of_another_config_is_refused_naming_the_field(tmp_path, capsys):
    ckpt_dir = tmp_path / "ckpt"
    base = ["train", "--smoke", "--set", "train.max_epochs=1", "--checkpoint-dir", str(ckpt_dir),
            "--keep-checkpoint", "-q"]
    assert main(base + ["--out", str(tmp_path / "a.json")]) == 0
    rc = main(base + ["--set", "train.lr=0.002", "--out", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "train.lr" in err and "0.002" in err and "Fix:" in err
    assert not (tmp_path / "b.json").exists()


def test_config_differences_are_reported_field_by_field():
    ckpt = TrainingCheckpoint("unused", {"seed": 1, "train": {"lr": 0.1}}, {})
    from lash.checkpoint import config_differences

    assert config_differences({"seed": 1, "train": {"lr": 0.1}}, ckpt.config) == []
    assert config_differences({"seed": 2, "train": {"lr": 0.1}}, ckpt.config) == ["seed: 2 there, 1 here"]


def test_torchrun_two_processes_follow_the_single_process_trajectory(tmp_path):
    """Same global batch split over 2 gloo processes: the float sums are grouped differently, so the
    trajectories agree to a relative 1e-5 (measured: about 1e-8), not bit for bit."""
    args = ["train", "--smoke", "--preset", "asymmetric", "--set", "train.threads=1", "-q"]
    single, multi = tmp_path / "single.json", tmp_path / "ddp.json"
    assert main(args + ["--out", str(single)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "lash.cli", *args, "--out", str(multi)],
                          check=False, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = json.loads(single.read_text()), json.loads(multi.read_text())
    assert b["provenance"]["world_size"] == 2
    ha, hb = a["metrics"]["history"], b["metrics"]["history"]
    assert len(ha) == len(hb) >= 2
    for ea, eb in zip(ha, hb):
        assert eb["train_loss"] == pytest.approx(ea["train_loss"], rel=1e-5)
        assert eb["validation"]["ppl"] == pytest.approx(ea["validation"]["ppl"], rel=1e-5)
    assert b["metrics"]["headline"]["ppl"] == pytest.approx(a["metrics"]["headline"]["ppl"], rel=1e-5)


def test_uneven_shards_average_to_the_global_mean_loss():
    """What DDP computes from the shards (the mean over processes of share * local mean) equals the
    mean over the whole batch, also when the batch does not split evenly."""
    from lash.distributed import DistContext

    x = torch.arange(5 * 4).reshape(5, 4)
    values = torch.randn(5, 4, dtype=torch.float64)
    shards = [DistContext(rank=r, world_size=2).shard(x, values) for r in range(2)]
    assert [s[1].shape[0] for s in shards] == [3, 2]
    ddp_mean = sum(share * local.mean() for _, local, share in shards) / 2
    assert ddp_mean.item() == pytest.approx(values.mean().item(), rel=1e-12)
