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

from lash.checkpoint import FILENAME, HARMLESS_FIELDS, KIND, TrainingCheckpoint
from lash.cli import main
from lash.errors import CheckpointError, OutputError
from lash.io import write_json_atomic

# Six epochs without early stopping: long enough to be killed in the middle.
RUN = ["train", "--smoke", "--preset", "asymmetric", "--seed", "3", "--set", "train.max_epochs=6",
       "--set", "train.patience=6", "--set", "train.threads=1", "-q"]


def lash_command(*args):
    return [sys.executable, "-m", "lash.cli", *args]


def _metrics(path):
    return json.loads(path.read_text())["metrics"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.json"
    assert main(RUN + ["--out", str(out)]) == 0
    return _metrics(out)


def kill_after_checkpoint(args, checkpoint_file, out) -> dict:
    """Start `lash ARGS` in a process of its own, SIGKILL it once `checkpoint_file` exists (the end of
    its first epoch), check that it left no results file and no temporary file, and return what that
    checkpoint holds. Also used by tests/test_stage_resume.py."""
    proc = subprocess.Popen(lash_command(*args))
    deadline = time.monotonic() + 300
    while not checkpoint_file.exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # a killed run leaves no results file
    assert not [p for p in checkpoint_file.parent.iterdir() if p.name.endswith(".tmp")]  # nor a half-written one
    return torch.load(checkpoint_file, weights_only=True)


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(tmp_path, uninterrupted):
    ckpt_dir, out = tmp_path / "ckpt", tmp_path / "run.json"
    saved = kill_after_checkpoint([*RUN, "--checkpoint-dir", str(ckpt_dir), "--out", str(out)],
                                  ckpt_dir / FILENAME, out)
    assert 1 <= saved["epoch"] < 6 and not saved["finished"]

    resumed = subprocess.run(lash_command(*RUN, "--checkpoint-dir", str(ckpt_dir), "--out", str(out)),
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
    for ea, eb in zip(ha, hb, strict=False):
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


# --------------------------------------------------------------------------- harmless changes, leftovers

THREADS_RUN = ["train", "--smoke", "--preset", "asymmetric", "--seed", "5", "--set", "train.max_epochs=2", "-q"]


def test_one_and_two_threads_give_identical_metrics_so_threads_do_not_block_a_resume(tmp_path):
    """The reason train.threads is in lash.checkpoint.HARMLESS_FIELDS: on this CPU the thread count
    changes no number. A checkpoint made with 1 thread is then resumed with 2."""
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    ckpt = tmp_path / "ckpt"
    assert main(THREADS_RUN + ["--set", "train.threads=2", "--out", str(two)]) == 0
    assert main(THREADS_RUN + ["--set", "train.threads=1", "--checkpoint-dir", str(ckpt), "--keep-checkpoint",
                               "--out", str(one)]) == 0
    assert _metrics(one) == _metrics(two)
    resumed = tmp_path / "resumed.json"
    assert main(THREADS_RUN + ["--set", "train.threads=2", "--checkpoint-dir", str(ckpt), "--out", str(resumed)]) == 0
    payload = json.loads(resumed.read_text())
    assert payload["provenance"]["resumed_from_epoch"] == 2 and payload["metrics"] == _metrics(one)
    assert "train.threads" in HARMLESS_FIELDS


def test_a_real_mismatch_offers_to_keep_the_checkpoint_aside(tmp_path):
    ckpt = TrainingCheckpoint(tmp_path, {"seed": 1, "train": {"lr": 0.1, "threads": 1}}, {"train": "abc"})
    ckpt.save({"epoch": 1})
    # another thread count (and another data directory) is no mismatch
    TrainingCheckpoint(tmp_path, {"seed": 1, "train": {"lr": 0.1, "threads": 4}}, {"train": "abc"}).load()
    with pytest.raises(CheckpointError) as err:
        TrainingCheckpoint(tmp_path, {"seed": 2, "train": {"lr": 0.1, "threads": 1}}, {"train": "abc"}).load()
    message = str(err.value)
    path = tmp_path / FILENAME
    assert "seed: 1 there, 2 here" in message
    assert f"move {path} aside" in message and f"mv {path} {path}.old" in message and "--checkpoint-dir" in message
    with pytest.raises(CheckpointError, match="other inputs"):
        TrainingCheckpoint(tmp_path, ckpt.config, ckpt.digests, inputs={"phase1_state": "x"}).load()
    with pytest.raises(CheckpointError, match="written by `lash train`, not by `lash ashem phase1`"):
        TrainingCheckpoint(tmp_path, ckpt.config, ckpt.digests, stage="lash ashem phase1").load()


def test_a_run_removes_only_its_own_checkpoints_stale_temporaries(tmp_path):
    """A SIGKILL inside a save leaves `.train.pt.XXXXXXXX.tmp` (tempfile.mkstemp's name): the next run's
    load removes it, and nothing else."""
    stale = tmp_path / ".train.pt.k3x_9a2b.tmp"
    others = [tmp_path / ".train.pt.old.tmp", tmp_path / ".phase1.pt.k3x_9a2b.tmp", tmp_path / "train.pt.tmp",
              tmp_path / "notes.txt"]
    for p in [stale, *others]:
        p.write_bytes(b"half a checkpoint")
    assert TrainingCheckpoint(tmp_path, {}, {}).load() is None
    assert not stale.exists() and all(p.exists() for p in others)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "run.json", {"a": 1})
        TrainingCheckpoint(tmp_path / "ckpt", {}, {}).save({"epoch": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "ckpt" / FILENAME).stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_results_json_is_strict_json(tmp_path, bad):
    path = tmp_path / "run.json"
    with pytest.raises(OutputError) as err:
        write_json_atomic(path, {"metrics": {"history": [{"validation": {"ppl": 3.0}}, {"validation": {"ppl": bad}}]}})
    assert "metrics.history.1.validation.ppl" in str(err.value) and "Fix:" in str(err.value)
    assert not path.exists() and not list(tmp_path.iterdir())
    write_json_atomic(path, {"metrics": {"hard_ppl": None}})  # no value: null, never NaN
    assert json.loads(path.read_text(), parse_constant=_refuse_constant) == {"metrics": {"hard_ppl": None}}


def _refuse_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")
