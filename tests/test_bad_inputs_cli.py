"""Bad inputs and faults met by the `lash` command line itself (lash.cli: the runner's checks of
inputs and outputs, and its error boundary); the contract and its machinery are in tests/bad_inputs.py.
Faults a test cannot cause for real here (a full disk, a read-only file system; the tests may run as
root, whom permissions do not stop) are injected by patching the one call that would meet them."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bad_inputs import Ctx, Setup, assert_refused, clean_environment, train

from lash.cli import main

pytestmark = pytest.mark.usefixtures(clean_environment.__name__)  # no LASH_DATA_DIR from the caller

# one short phase-1 run: seconds
PHASE1 = ["--preset", "ashem_corrected", "--smoke", "-q", "--set", "train.threads=1",
          "--set", "data.train_size=4096", "--set", "data.val_size=2048", "--set", "data.test_size=2048",
          "--set", "ashem.phase1_max_epochs=1"]
ONE_EPOCH = ["--smoke", "-q", "--set", "train.max_epochs=1", "--set", "train.threads=1"]


def fail_replacing(monkeypatch: pytest.MonkeyPatch, suffix: str, code: int) -> None:
    """Make the atomic rename onto any `*suffix` file fail with OSError(code), as a full disk or a
    read-only file system would (the temporary file is then removed by lash.io.write_atomic)."""
    replace = os.replace

    def failing(src, dst, *a, **kw):
        if str(dst).endswith(suffix):
            raise OSError(code, os.strerror(code), str(dst))
        return replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", failing)


def stage(ctx: Ctx, *args: str, names: list[str], **kw) -> Setup:
    """`lash ARGS` (an ASHEM stage: the outputs are in ARGS), whose result JSON is ctx.out."""
    return Setup(list(args), ctx.out, names, **kw)


def _stage_file(ctx: Ctx, name: str) -> Path:
    return ctx.file(name, f"the bytes of {name}, which no refused run may touch\n")


# --------------------------------------------------------------------------- faults while writing

def _disk_full_on_the_json_removes_the_checkpoint(ctx):
    ckpt = ctx.tmp / "p1.pt"
    fail_replacing(ctx.monkeypatch(), ".json", errno.ENOSPC)
    return stage(ctx, "ashem", "phase1", *PHASE1, "--checkpoint", str(ckpt), "--out", str(ctx.out),
                 names=["no space left", str(ctx.out)], absent=[ckpt])


def _read_only_file_system_on_the_json(ctx):
    fail_replacing(ctx.monkeypatch(), ".json", errno.EROFS)
    return train(ctx, *ONE_EPOCH, names=["read-only file system", str(ctx.out)])


def _read_only_out_directory(ctx):
    ro = ctx.tmp / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    access = os.access  # root ignores the mode bits: report the directory as a non-root user sees it
    ctx.monkeypatch().setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == ro
                              else access(p, mode, *a, **k))
    ctx.out = ro / "result.json"
    return train(ctx, *ONE_EPOCH, names=[str(ro), "not writable"])


# --------------------------------------------------------------------------- inputs that cannot be read

def _config_file_not_utf8(ctx):
    cfg = ctx.tmp / "latin1.yaml"
    cfg.write_bytes("name: caf\xe9\n".encode("latin-1"))
    return train(ctx, str(cfg), "--smoke", names=[str(cfg), "UTF-8"])


def _config_value_of_the_wrong_type(ctx):
    import lash.cli.runner

    def wrong_type(*a, **kw):  # what a check that the validation lacks would raise
        raise TypeError("'<' not supported between instances of 'str' and 'int'")

    ctx.monkeypatch().setattr(lash.cli.runner, "resolve_config", wrong_type)
    return train(ctx, "--smoke", "--set", "train.max_epochs='3'", names=["--set", "wrong type", "'<'"])


def _config_file_is_a_directory(ctx):
    cfg = ctx.tmp / "configs"
    cfg.mkdir()
    return train(ctx, str(cfg), "--smoke", names=[str(cfg), "directory"])


def _data_file_not_utf8(ctx):
    data = ctx.tmp / "wikitext-latin1"
    data.mkdir()
    for split in ("train", "validation", "test"):
        (data / f"{split}.txt").write_bytes(" = caf\xe9 = \n".encode("latin-1"))
    return train(ctx, "--set", f"data.data_dir={data}", "--set", "data.source=local",
                 names=[str(data), "UTF-8"])


def _stage_input_is_a_directory(ctx):
    p2, mined = ctx.tmp / "p2-dir", ctx.tmp / "mined-dir"
    p2.mkdir()
    mined.mkdir()
    return stage(ctx, "ashem", "evaluate", *PHASE1, "--phase2", str(p2), "--mined", str(mined),
                 "--out", str(ctx.out), names=[str(p2), "directory"])


# --------------------------------------------------------------------------- an output that is an input

def _mine_out_is_its_phase1_input(ctx):
    p1 = _stage_file(ctx, "p1.pt")
    return stage(ctx, "ashem", "mine", *PHASE1, "--phase1", str(p1), "--out", str(p1), "--summary",
                 str(ctx.out), names=["--out", "--phase1", str(p1)], unchanged=[p1])


def _phase2_checkpoint_is_its_mined_input(ctx):
    p1, mined = _stage_file(ctx, "p1.pt"), _stage_file(ctx, "m.pt")
    return stage(ctx, "ashem", "phase2", *PHASE1, "--phase1", str(p1), "--mined", str(mined),
                 "--checkpoint", str(mined), "--out", str(ctx.out), names=["--checkpoint", "--mined"],
                 unchanged=[p1, mined])


def _evaluate_out_is_its_phase2_input(ctx):
    p2, mined = _stage_file(ctx, "p2.pt"), _stage_file(ctx, "m.pt")
    return stage(ctx, "ashem", "evaluate", *PHASE1, "--phase2", str(p2), "--mined", str(mined),
                 "--out", str(p2), names=["--out", "--phase2"], unchanged=[p2, mined])


def _out_is_a_symlink_to_an_input(ctx):
    p1 = _stage_file(ctx, "p1.pt")
    link = ctx.tmp / "link.pt"
    link.symlink_to(p1)
    return stage(ctx, "ashem", "mine", *PHASE1, "--phase1", str(p1), "--out", str(link), "--summary",
                 str(ctx.out), names=["--out", "--phase1"], unchanged=[p1])


def _baseline_out_is_its_match_input(ctx):
    mined, match = _stage_file(ctx, "m.pt"), _stage_file(ctx, "ashem.json")
    return stage(ctx, "ashem", "baseline", *PHASE1, "--mined", str(mined), "--match", str(match),
                 "--out", str(match), names=["--out", "--match"], unchanged=[mined, match])


def _out_is_the_config_file(ctx):
    cfg = ctx.file("run.yaml", "train:\n  max_epochs: 1\n")
    return Setup(["train", str(cfg), "--smoke", "--out", str(cfg)], ctx.out, names=["--out", "CONFIG"],
                 unchanged=[cfg])


def _out_is_the_summary(ctx):
    p1 = _stage_file(ctx, "p1.pt")
    return stage(ctx, "ashem", "mine", *PHASE1, "--phase1", str(p1), "--out", str(ctx.out), "--summary",
                 str(ctx.out), names=["--summary", "--out", "same path"], unchanged=[p1])


def _bench_out_is_its_markdown(ctx):
    return stage(ctx, "bench", "train", "--no-llama", "--out", str(ctx.out), "--md", str(ctx.out),
                 names=["--md", "--out", "same path"])


# --------------------------------------------------------------------------- --checkpoint-dir

def _checkpoint_dir_is_a_file(ctx):
    blocker = _stage_file(ctx, "ckpt")
    return train(ctx, "--smoke", "--checkpoint-dir", str(blocker), names=["--checkpoint-dir", str(blocker),
                                                                         "not a directory"],
                 unchanged=[blocker])


def _checkpoint_dir_below_a_file(ctx):
    blocker = _stage_file(ctx, "ckpt")
    return train(ctx, "--smoke", "--checkpoint-dir", str(blocker / "sub"),
                 names=["--checkpoint-dir", str(blocker)], unchanged=[blocker])


def _out_inside_the_checkpoint_dir(ctx):
    ckpt = ctx.tmp / "ckpt"
    ctx.out = ckpt / "result.json"
    return train(ctx, "--smoke", "--checkpoint-dir", str(ckpt), names=["--out", "inside", "--checkpoint-dir"],
                 absent=[ckpt])


def _out_is_the_checkpoint_dir(ctx):
    ckpt = ctx.tmp / "ckpt"
    ckpt.mkdir()
    ctx.out = ckpt
    return train(ctx, "--smoke", "--checkpoint-dir", str(ckpt), names=["--out", str(ckpt)])


# --------------------------------------------------------------------------- the command line itself

def _unknown_subcommand(ctx):
    return Setup(["trian", "--smoke", "--out", str(ctx.out)], ctx.out, names=["'trian'", "train", "--help"])


def _unknown_ashem_stage(ctx):
    return Setup(["ashem", "phase3", "--out", str(ctx.out)], ctx.out, names=["'phase3'", "phase2"])


def _missing_required_output(ctx):
    return Setup(["ashem", "mine", "--smoke", "--phase1", "p1.pt", "--out", str(ctx.out)], ctx.out,
                 names=["--summary", "required"])


def _unknown_bench_workload(ctx):
    return Setup(["bench", "train", "--workload", "chars", "--out", str(ctx.out)], ctx.out,
                 names=["--workload", "'chars'", "char"])


def _bench_fast_path_zero_rounds(ctx):
    return Setup(["bench", "fast-path", "--rounds", "0", "--out", str(ctx.out)], ctx.out,
                 names=["--rounds", "is 0", "1 or more"])


def _bench_fast_path_vocab_of_one(ctx):
    return Setup(["bench", "fast-path", "--vocab", "1", "--out", str(ctx.out)], ctx.out,
                 names=["--vocab", "is 1", "2 or more"])


def _bench_fast_path_steps_not_a_number(ctx):
    return Setup(["bench", "fast-path", "--steps", "three", "--out", str(ctx.out)], ctx.out,
                 names=["--steps", "'three'"])


def _bench_fast_path_without_out(ctx):
    return Setup(["bench", "fast-path", "--rounds", "2"], ctx.out, names=["--out", "required"])


CASES = [
    pytest.param(_disk_full_on_the_json_removes_the_checkpoint, id="disk-full-on-json-removes-checkpoint"),
    pytest.param(_read_only_file_system_on_the_json, id="read-only-file-system-on-json"),
    pytest.param(_read_only_out_directory, id="read-only-out-directory"),
    pytest.param(_config_file_not_utf8, id="config-file-not-utf8"),
    pytest.param(_config_value_of_the_wrong_type, id="config-value-of-wrong-type"),
    pytest.param(_config_file_is_a_directory, id="config-file-is-a-directory"),
    pytest.param(_data_file_not_utf8, id="data-file-not-utf8"),
    pytest.param(_stage_input_is_a_directory, id="stage-input-is-a-directory"),
    pytest.param(_mine_out_is_its_phase1_input, id="mine-out-is-phase1"),
    pytest.param(_phase2_checkpoint_is_its_mined_input, id="phase2-checkpoint-is-mined"),
    pytest.param(_evaluate_out_is_its_phase2_input, id="evaluate-out-is-phase2"),
    pytest.param(_out_is_a_symlink_to_an_input, id="out-is-symlink-to-input"),
    pytest.param(_baseline_out_is_its_match_input, id="baseline-out-is-match"),
    pytest.param(_out_is_the_config_file, id="out-is-config-file"),
    pytest.param(_out_is_the_summary, id="out-is-summary"),
    pytest.param(_bench_out_is_its_markdown, id="bench-out-is-md"),
    pytest.param(_checkpoint_dir_is_a_file, id="checkpoint-dir-is-a-file"),
    pytest.param(_checkpoint_dir_below_a_file, id="checkpoint-dir-below-a-file"),
    pytest.param(_out_inside_the_checkpoint_dir, id="out-inside-checkpoint-dir"),
    pytest.param(_out_is_the_checkpoint_dir, id="out-is-checkpoint-dir"),
    pytest.param(_unknown_subcommand, id="unknown-subcommand"),
    pytest.param(_unknown_ashem_stage, id="unknown-ashem-stage"),
    pytest.param(_missing_required_output, id="missing-required-output"),
    pytest.param(_unknown_bench_workload, id="unknown-bench-workload"),
    pytest.param(_bench_fast_path_zero_rounds, id="bench-fast-path-zero-rounds"),
    pytest.param(_bench_fast_path_vocab_of_one, id="bench-fast-path-vocab-of-one"),
    pytest.param(_bench_fast_path_steps_not_a_number, id="bench-fast-path-steps-not-a-number"),
    pytest.param(_bench_fast_path_without_out, id="bench-fast-path-without-out"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_input_is_refused_with_a_fix_and_no_partial_output(make, tmp_path, request, capsys):
    assert_refused(make(Ctx(tmp_path, request)), tmp_path, capsys)


def test_the_table_is_at_least_15_distinct_cases():
    ids = [p.id for p in CASES]
    assert len(ids) >= 15 and len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- not exit 2: bugs, Ctrl-C

@pytest.fixture
def failing_training(monkeypatch):
    """Make `lash train`'s training raise the exception given to the returned function."""
    import lash.run

    def arm(exc: BaseException) -> None:
        def run_training(*a, **kw):
            raise exc
        monkeypatch.setattr(lash.run, "run_training", run_training)

    return arm


def test_a_bug_is_one_line_and_a_log_with_the_traceback(tmp_path, monkeypatch, capsys, failing_training):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    failing_training(RuntimeError("boom\nsecond line"))
    out = tmp_path / "r.json"
    assert main(["train", *ONE_EPOCH, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    [log] = (tmp_path / "logs").iterdir()
    assert err == f"lash: internal error: RuntimeError: boom; full traceback in {log}\n"
    text = log.read_text()
    assert "Traceback" in text and "in run_training" in text and "RuntimeError: boom" in text
    assert f"--out {out}" in text  # the command line, to reproduce it
    assert not out.exists()


def test_ctrl_c_exits_130_without_a_traceback_and_leaves_no_output(tmp_path, capsys, failing_training):
    failing_training(KeyboardInterrupt())
    out = tmp_path / "r.json"
    assert main(["train", *ONE_EPOCH, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.startswith("lash: interrupted") and "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_failed_run_keeps_an_output_it_did_not_write(tmp_path, capsys, failing_training):
    """Only outputs this invocation created or replaced are removed: an earlier result survives a run
    that fails before writing."""
    from lash.errors import DataError

    out = tmp_path / "r.json"
    out.write_text("an earlier result\n")
    failing_training(DataError("no data. Fix: give some"))
    assert main(["train", *ONE_EPOCH, "--out", str(out)]) == 2
    assert out.read_text() == "an earlier result\n"
    assert capsys.readouterr().err == "lash: data error: no data. Fix: give some\n"


def test_a_failed_stage_removes_the_checkpoint_it_replaced(tmp_path, monkeypatch, capsys):
    """phase 1 rewrites an existing checkpoint, then cannot write its JSON: the new checkpoint is
    removed (a checkpoint without its results JSON is never left behind)."""
    ckpt, out = tmp_path / "p1.pt", tmp_path / "p1.json"
    ckpt.write_text("an older phase-1 model\n")
    fail_replacing(monkeypatch, ".json", errno.ENOSPC)
    assert main(["ashem", "phase1", *PHASE1, "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    assert not ckpt.exists() and not out.exists()
    assert "no space left" in capsys.readouterr().err


def test_checks_come_before_any_work(tmp_path, monkeypatch, capsys, failing_training):
    failing_training(AssertionError("the run started although its outputs were refused"))
    p1 = tmp_path / "p1.pt"
    p1.write_text("phase 1\n")
    assert main(["train", "--smoke", "--checkpoint-dir", str(p1), "--out", str(tmp_path / "r.json")]) == 2
    assert "--checkpoint-dir" in capsys.readouterr().err


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`lash presets | head -1`: the reader leaves first; no traceback, no 'Exception ignored'."""
    proc = subprocess.Popen([sys.executable, "-m", "lash.cli", "presets"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the child has printed anything (it is still importing)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err == "", err


def test_help_exits_0_and_a_usage_error_2(capsys):
    assert main(["--help"]) == 0
    assert "usage: lash" in capsys.readouterr().out
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --out" in err and "Fix: see `lash train --help`" in err


def test_disk_full_inside_torch_save_is_still_a_full_disk(tmp_path, monkeypatch, capsys):
    """torch.save turns the OSError of a full disk into a RuntimeError ('enforce fail ...'); the
    boundary reports the OSError it came from, and the stage leaves no checkpoint behind."""
    import torch

    class FullDisk:
        def __init__(self, fh):
            self.fh, self.writes = fh, 0

        def write(self, data):
            self.writes += 1
            if self.writes > 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.fh.write(data)

        def flush(self):
            self.fh.flush()

    save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **kw: save(obj, FullDisk(f), *a, **kw))
    ckpt, out = tmp_path / "p1.pt", tmp_path / "p1.json"
    assert main(["ashem", "phase1", *PHASE1, "--checkpoint", str(ckpt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lash: no space left on the device. Fix:") and "Traceback" not in err, err
    assert sorted(tmp_path.iterdir()) == []
