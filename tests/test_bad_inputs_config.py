"""Bad configurations of `lash train`: values that would silently change, crash later or exhaust the
machine are refused before any work (the contract and its machinery: tests/bad_inputs.py)."""

from __future__ import annotations

import os

import pytest
import torch
from bad_inputs import Ctx, assert_refused, clean_environment, train

pytestmark = pytest.mark.usefixtures(clean_environment.__name__)  # no LASH_DATA_DIR from the caller


def _set(*sets: str, names: list[str], preset: str | None = None):
    """A case `lash train --smoke [--preset P] --set S ...` that must be refused naming `names`."""
    extra = ["--preset", preset] if preset else []

    def make(ctx):
        return train(ctx, "--smoke", *extra, *[a for s in sets for a in ("--set", s)], names=names)

    return make


def _file(text: str | bytes, names_of):
    """A case `lash train CONFIG --smoke` with CONFIG holding `text`; names_of(path) -> names."""
    def make(ctx):
        path = ctx.tmp / "run.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return train(ctx, str(path), "--smoke", names=names_of(path))

    return make


BOMB = "".join([
    'name: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *[f"l{i}: &l{i} [{','.join(['*a' if i == 1 else f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)],
])


def _config_is_a_fifo(ctx):
    path = ctx.tmp / "run.yaml"
    os.mkfifo(path)  # reading it would block until a writer comes
    return train(ctx, str(path), "--smoke", names=[str(path), "not a regular file"])


def _config_is_a_directory(ctx):
    path = ctx.tmp / "configs"
    path.mkdir()
    return train(ctx, str(path), "--smoke", names=[str(path), "not a regular file"])


def _seed(value: str, names: list[str]):
    return lambda ctx: train(ctx, "--smoke", f"--seed={value}", names=names)


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: cuda is a valid device")

CASES = [
    # integer keys and values that would silently change
    pytest.param(_set("layer_weights={1: 0.7, 1.5: 0.3, 3: 1}", names=["`layer_weights`", "1.5", "Fix"]),
                 id="layer-key-not-an-integer"),
    pytest.param(_set('layer_weights={"1": 0.7, 1: 0.3, 3: 1}', names=["`layer_weights`", "layer 1 is given twice"]),
                 id="layer-given-twice-as-1-and-string-1"),
    pytest.param(_set("layer_weights={1: 0.7, 1: 0.3, 3: 1}", names=["`layer_weights`", "the key 1 is given twice"]),
                 id="duplicate-key-in-set-value"),
    pytest.param(_set("layer_weights={1: .nan, 3: 1}", names=["`layer_weights[1]`", "nan"]),
                 id="layer-weight-nan"),
    pytest.param(_set("ashem.soft_lr_scales={1: .inf, 2: 1, 3: 1, 4: 1}", names=["`ashem.soft_lr_scales[1]`", "inf"]),
                 id="soft-lr-scale-inf"),
    pytest.param(_file("train:\n  lr: 0.01\nmodel:\n  dim: 32\ntrain:\n  max_epochs: 1\n",
                       lambda p: [str(p), "'train' is given twice", "line 5"]), id="yaml-section-given-twice"),
    pytest.param(_file(BOMB, lambda p: [str(p), "anchors and aliases"]), id="yaml-alias-bomb-under-name"),
    pytest.param(_set("name=[&a [x, x], *a]", names=["`name`", "anchors and aliases"]), id="alias-in-set-value"),
    pytest.param(_file(b"name: caf\xe9\n", lambda p: [str(p), "not UTF-8"]), id="config-file-not-utf8"),
    pytest.param(_config_is_a_fifo, id="config-file-is-a-fifo"),
    pytest.param(_config_is_a_directory, id="config-file-is-a-directory"),
    # floats that must be finite and in range
    pytest.param(_set("train.lr=.inf", names=["`train.lr`", "inf"]), id="lr-inf"),
    pytest.param(_set("train.grad_clip=.nan", names=["`train.grad_clip`", "nan"]), id="grad-clip-nan"),
    pytest.param(_set("train.weight_decay=.inf", names=["`train.weight_decay`", "inf"]), id="weight-decay-inf"),
    pytest.param(_set("model.rope_base=0", names=["`model.rope_base`", "got 0"]), id="rope-base-zero"),
    pytest.param(_set("model.rope_base=-10000", names=["`model.rope_base`", "-10000"]), id="rope-base-negative"),
    pytest.param(_set("routing_threshold=.nan", names=["`routing_threshold`", "nan"]), id="routing-threshold-nan"),
    # sizes with an upper bound
    pytest.param(_set("model.max_seq_len=100000000", names=["`model.max_seq_len`", "65536"]),
                 id="max-seq-len-huge"),
    pytest.param(_set("data.synthetic.vocab_size=1000000", names=["`data.synthetic.vocab_size`", "4096"]),
                 id="synthetic-vocab-huge"),
    pytest.param(_set("train.threads=100000", names=["`train.threads`", "100000"]), id="threads-huge"),
    pytest.param(_set("data.train_size=0", names=["`data.train_size`", "training data"]), id="empty-train-split"),
    pytest.param(_seed("-1", names=["`seed`", "-1", "2**63"]), id="seed-negative"),
    pytest.param(_seed(str(2**63), names=["`seed`", str(2**63)]), id="seed-beyond-torch"),
    # every field's type before use
    pytest.param(_set("protocol=[original]", names=["`protocol`", "expected a name"]), id="protocol-a-list"),
    pytest.param(_set("preset={asymmetric: 1}", names=["`preset`", "expected a name"]), id="preset-a-mapping"),
    pytest.param(_set("name=[1, 2]", names=["`name`", "expected a string"]), id="name-a-list"),
    pytest.param(_set("train.device=0", names=["`train.device`", "expected a string"]), id="device-a-number"),
    pytest.param(_set("data.data_dir=5", names=["`data.data_dir`", "expected a string"]), id="data-dir-a-number"),
    pytest.param(_set("train.alpha_schedule.steps=[1.5, 3]", names=["`train.alpha_schedule.steps`", "1.5"],
                      preset="dynamic_alpha_step"), id="alpha-steps-not-integers"),
    pytest.param(_set("data.synthetic.vocab_size=many", names=["`data.synthetic.vocab_size`", "'many'"]),
                 id="synthetic-vocab-size-a-word"),
    pytest.param(_set("data.synthetic=null", names=["`data.synthetic`", "mapping"]), id="synthetic-section-null"),
    # hardware
    pytest.param(_set("train.device=cuda", names=["`train.device`", "no CUDA device"]), id="cuda-without-a-gpu",
                 marks=no_cuda),
    # spelling
    pytest.param(_set("model.n_layer=2", names=["`model.n_layer`", "did you mean 'n_layers'?"]),
                 id="key-typo-did-you-mean"),
    pytest.param(lambda ctx: train(ctx, "--smoke", "--preset", "deep_supervison",
                                   names=["`preset`", "did you mean 'deep_supervision'?"]),
                 id="preset-typo-did-you-mean"),
    pytest.param(_set("protocol=orignal", names=["`protocol`", "did you mean 'original'?"]),
                 id="protocol-typo-did-you-mean"),
    pytest.param(_set("data.batching=chunk", names=["`data.batching`", "did you mean 'chunks'?"]),
                 id="choice-typo-did-you-mean"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_config_is_refused_with_a_fix_and_no_partial_output(make, tmp_path, request, capsys):
    assert_refused(make(Ctx(tmp_path, request)), tmp_path, capsys)


def test_the_cases_are_distinct():
    ids = [p.id for p in CASES]
    assert len(set(ids)) == len(ids) >= 30
