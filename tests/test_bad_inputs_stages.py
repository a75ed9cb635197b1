"""Bad inputs of the training stages: diverged training (lash train, ASHEM phase 1 and 2, baselines,
progressive), corrupt, mistyped and foreign stage files, and foreign --checkpoint-dir contents. The
contract each must meet (and its machinery) is in tests/bad_inputs.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from bad_inputs import Ctx, Setup, assert_refused, clean_environment, train, trained_checkpoint

from lash.cli import main

FIXTURES = (clean_environment, trained_checkpoint)  # imported by name so pytest sees them

# One ASHEM chain of one epoch per phase (seconds); the stage cases below reuse its files.
STAGE = ["--preset", "ashem_original", "--smoke", "-q", "--set", "train.threads=1",
         "--set", "ashem.phase1_max_epochs=1", "--set", "ashem.phase2_max_epochs=1"]


@pytest.fixture(scope="module")
def stage_files(tmp_path_factory) -> dict[str, Path]:
    """p1.pt, m.pt, p2.pt of one chain, and `p1_ckpt`: the kept --checkpoint-dir of its phase 1."""
    d = tmp_path_factory.mktemp("stages")
    f = {k: d / f"{k}.pt" for k in ("p1", "m", "p2")}
    f["p1_ckpt"] = d / "p1_ckpt"
    assert main(["ashem", "phase1", *STAGE, "--checkpoint", str(f["p1"]), "--out", str(d / "p1.json"),
                 "--checkpoint-dir", str(f["p1_ckpt"]), "--keep-checkpoint"]) == 0
    assert main(["ashem", "mine", *STAGE, "--phase1", str(f["p1"]), "--out", str(f["m"]),
                 "--summary", str(d / "m.json")]) == 0
    assert main(["ashem", "phase2", *STAGE, "--phase1", str(f["p1"]), "--mined", str(f["m"]),
                 "--checkpoint", str(f["p2"]), "--out", str(d / "p2.json")]) == 0
    return f


class StageCtx(Ctx):
    def stages(self) -> dict[str, Path]:
        return self._request.getfixturevalue("stage_files")

    def copy(self, key: str) -> Path:
        """A fresh copy of one stage file (a case may damage it)."""
        dst = self.tmp / f"{key}-copy.pt"
        shutil.copyfile(self.stages()[key], dst)
        return dst


def phase1(ctx, *args, names, **kw) -> Setup:
    stage_out = ctx.tmp / "out" / "p1.pt"
    return Setup(["ashem", "phase1", *STAGE, *args, "--checkpoint", str(stage_out), "--out", str(ctx.out)],
                 ctx.out, names, absent=[stage_out], **kw)


def mine(ctx, phase1_file, *args, names, **kw) -> Setup:
    mined = ctx.tmp / "out" / "m.pt"
    return Setup(["ashem", "mine", *STAGE, *args, "--phase1", str(phase1_file), "--out", str(mined),
                  "--summary", str(ctx.out)], ctx.out, names, absent=[mined], **kw)


def phase2(ctx, *args, phase1_file=None, mined=None, names, **kw) -> Setup:
    s = ctx.stages()
    stage_out = ctx.tmp / "out" / "p2.pt"
    return Setup(["ashem", "phase2", *STAGE, *args, "--phase1", str(phase1_file or s["p1"]),
                  "--mined", str(mined or s["m"]), "--checkpoint", str(stage_out), "--out", str(ctx.out)],
                 ctx.out, names, absent=[stage_out], **kw)


def evaluate(ctx, phase2_file, names) -> Setup:
    return Setup(["ashem", "evaluate", *STAGE, "--phase2", str(phase2_file), "--mined", str(ctx.stages()["m"]),
                  "--out", str(ctx.out)], ctx.out, names)


def baseline(ctx, *args, names, **kw) -> Setup:
    return Setup(["ashem", "baseline", "--preset", "ashem_baseline_deep_original", "--smoke", "-q",
                  "--set", "train.threads=1", *args, "--mined", str(ctx.stages()["m"]), "--out", str(ctx.out)],
                 ctx.out, names, **kw)


def progressive(ctx, *args, names, **kw) -> Setup:
    return Setup(["progressive", "--preset", "progressive_original", "--smoke", "-q", "--set", "train.threads=1",
                  *args, "--out", str(ctx.out)], ctx.out, names, **kw)


# --------------------------------------------------------------------------- diverged training

def _train_lr_diverges(ctx):
    return train(ctx, "--smoke", "-q", "--set", "train.lr=1000",
                 names=["training diverged", "is nan at epoch 1", "lower train.lr"])


def _train_weight_decay_explodes(ctx):
    # AdamW's decoupled decay multiplies every weight by 1 - lr * wd = -999 per step
    return train(ctx, "--smoke", "-q", "--set", "train.weight_decay=1000000", names=["train.weight_decay"])


def _train_grad_clip_lets_a_huge_step_through(ctx):
    return train(ctx, "--smoke", "-q", "--set", "train.grad_clip=1000000000", "--set", "train.lr=10",
                 names=["training diverged", "train.grad_clip"])


def _phase1_lr_diverges(ctx):
    return phase1(ctx, "--set", "ashem.phase1_lr=1000", names=["training diverged", "ashem phase 1",
                                                             "lower ashem.phase1_lr"])


def _phase2_lr_diverges(ctx):
    return phase2(ctx, "--set", "ashem.phase2_lr=1000000", names=["training diverged", "ashem phase 2",
                                                                "lower ashem.phase2_lr"])


def _baseline_lr_diverges(ctx):
    return baseline(ctx, "--set", "train.lr=1000", names=["training diverged", "ashem baseline", "lower train.lr"])


def _progressive_phase1_lr_diverges(ctx):
    return progressive(ctx, "--set", "ashem.phase1_lr=1000", names=["training diverged", "progressive phase 1",
                                                                   "lower ashem.phase1_lr"])


def _mine_a_non_finite_phase1_model(ctx):
    """A phase-1 file whose weights are NaN (a diverged run from before the finite check, or damage):
    refused before phase 2 could blame ashem.hard_ratio."""
    path = ctx.copy("p1")
    ck = torch.load(path, weights_only=True)
    ck["state_dict"]["head.weight"].fill_(float("nan"))
    torch.save(ck, path)
    return mine(ctx, path, names=["confidence is not finite", "threshold nan", "ashem.phase1_lr"])


# --------------------------------------------------------------------------- corrupt or mistyped stage files

def _truncated_mined(ctx):
    path = ctx.copy("m")
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    return phase2(ctx, mined=path, names=[str(path), "truncated", "lash ashem mine"], unchanged=[path])


def _empty_mined(ctx):
    path = ctx.file("empty.pt", "")
    return phase2(ctx, mined=path, names=[str(path), "not a readable stage file"])


def _json_as_phase1(ctx):
    path = ctx.file("p1.json", '{"metrics": {"ppl": 3.0}}\n')
    return mine(ctx, path, names=[str(path), "not a readable stage file", "lash ashem phase1"])


def _directory_as_phase2(ctx):
    path = ctx.tmp / "p2-dir"
    path.mkdir()
    return evaluate(ctx, path, names=[str(path), "is a directory"])


def _phase2_file_as_phase1(ctx):
    path = ctx.copy("p2")
    return mine(ctx, path, names=[str(path), "the output of `lash ashem phase2`", "lash ashem phase1"],
                unchanged=[path])


def _mined_file_as_phase1(ctx):
    path = ctx.copy("m")
    return phase2(ctx, phase1_file=path, names=[str(path), "the output of `lash ashem mine`"])


def _train_checkpoint_as_phase1(ctx):
    path = ctx.checkpoint_copy() / "train.pt"
    return mine(ctx, path, names=[str(path), "not a lash ashem stage file"])


def _pickled_code_as_phase1(ctx):
    path = ctx.tmp / "code.pt"
    torch.save({"kind": "ashem_phase1", "hook": shutil.copyfile}, path)  # a function: refused by weights_only
    return mine(ctx, path, names=[str(path), "not a readable stage file"])


# --------------------------------------------------------------------------- foreign --checkpoint-dir contents

def _train_checkpoint_in_phase1_dir(ctx):
    ckpt = ctx.checkpoint_copy()
    return phase1(ctx, "--checkpoint-dir", str(ckpt),
                  names=["written by `lash train`, not by `lash ashem phase1`", "mv "], unchanged=[ckpt / "train.pt"])


def _phase1_checkpoint_in_phase2_dir(ctx):
    ckpt = ctx.tmp / "ckpt"
    shutil.copytree(ctx.stages()["p1_ckpt"], ckpt)
    return phase2(ctx, "--checkpoint-dir", str(ckpt), names=["written by `lash ashem phase1`", "--checkpoint-dir"],
                  unchanged=[ckpt / "train.pt"])


def _phase1_checkpoint_of_another_config(ctx):
    ckpt = ctx.tmp / "ckpt"
    shutil.copytree(ctx.stages()["p1_ckpt"], ckpt)
    return phase1(ctx, "--set", "ashem.phase1_lr=0.002", "--checkpoint-dir", str(ckpt),
                  names=["belongs to another run", "ashem.phase1_lr", f"mv {ckpt / 'train.pt'}"],
                  unchanged=[ckpt / "train.pt"])


def _foreign_file_in_baseline_dir(ctx):
    ckpt = ctx.tmp / "ckpt"
    ckpt.mkdir()
    torch.save({"a": 1}, ckpt / "train.pt")
    return baseline(ctx, "--checkpoint-dir", str(ckpt),
                    names=[str(ckpt / "train.pt"), "not a lash training checkpoint"],
                    unchanged=[ckpt / "train.pt"])


def _truncated_progressive_phase1_checkpoint(ctx):
    ckpt = ctx.tmp / "progressive-ckpt"
    ckpt.mkdir()
    src = ctx.checkpoint_copy() / "train.pt"
    data = src.read_bytes()
    (ckpt / "phase1.pt").write_bytes(data[:len(data) // 3])
    return progressive(ctx, "--checkpoint-dir", str(ckpt), names=[str(ckpt / "phase1.pt"), "truncated or corrupt"],
                       unchanged=[ckpt / "phase1.pt"])


CASES = [
    pytest.param(_train_lr_diverges, id="train-lr-1000-diverges"),
    pytest.param(_train_weight_decay_explodes, id="train-weight-decay-1e6-explodes"),
    pytest.param(_train_grad_clip_lets_a_huge_step_through, id="train-grad-clip-1e9-lr-10"),
    pytest.param(_phase1_lr_diverges, id="phase1-lr-1000-diverges"),
    pytest.param(_phase2_lr_diverges, id="phase2-lr-1e6-diverges"),
    pytest.param(_baseline_lr_diverges, id="baseline-lr-1000-diverges"),
    pytest.param(_progressive_phase1_lr_diverges, id="progressive-phase1-lr-1000-diverges"),
    pytest.param(_mine_a_non_finite_phase1_model, id="mine-nan-phase1-model"),
    pytest.param(_truncated_mined, id="truncated-mined"),
    pytest.param(_empty_mined, id="empty-mined"),
    pytest.param(_json_as_phase1, id="json-as-phase1"),
    pytest.param(_directory_as_phase2, id="directory-as-phase2"),
    pytest.param(_phase2_file_as_phase1, id="phase2-file-as-phase1"),
    pytest.param(_mined_file_as_phase1, id="mined-file-as-phase1"),
    pytest.param(_train_checkpoint_as_phase1, id="train-checkpoint-as-phase1"),
    pytest.param(_pickled_code_as_phase1, id="pickled-code-as-phase1"),
    pytest.param(_train_checkpoint_in_phase1_dir, id="train-checkpoint-in-phase1-checkpoint-dir"),
    pytest.param(_phase1_checkpoint_in_phase2_dir, id="phase1-checkpoint-in-phase2-checkpoint-dir"),
    pytest.param(_phase1_checkpoint_of_another_config, id="phase1-checkpoint-of-another-config"),
    pytest.param(_foreign_file_in_baseline_dir, id="foreign-file-in-baseline-checkpoint-dir"),
    pytest.param(_truncated_progressive_phase1_checkpoint, id="truncated-progressive-phase1-checkpoint"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_stage_input_is_refused_with_a_fix_and_no_partial_output(make, tmp_path, request, capsys):
    assert_refused(make(StageCtx(tmp_path, request)), tmp_path, capsys)


def test_the_table_is_at_least_15_distinct_cases():
    ids = [p.id for p in CASES]
    assert len(ids) >= 15 and len(set(ids)) == len(ids)


def test_a_diverged_phase1_writes_neither_its_model_nor_a_checkpoint(tmp_path, capsys):
    """Divergence is found before the epoch's checkpoint is saved: nothing to resume a NaN model from."""
    ckpt = tmp_path / "ckpt"
    rc = main(["ashem", "phase1", *STAGE, "--set", "ashem.phase1_lr=1000", "--checkpoint", str(tmp_path / "p1.pt"),
               "--out", str(tmp_path / "p1.json"), "--checkpoint-dir", str(ckpt)])
    assert rc == 2 and "training diverged" in capsys.readouterr().err
    assert not (tmp_path / "p1.pt").exists() and not (ckpt / "train.pt").exists()
