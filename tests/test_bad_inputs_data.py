"""Bad data of `lash train`: a corpus directory or split file that is not what a run needs, a copy of
WikiText-2 whose characters differ, splits too small, no hub to fall back on. Each is refused naming
the file or field and a Fix (the contract and its machinery: tests/bad_inputs.py)."""

from __future__ import annotations

import os
import shutil

import pytest
from bad_inputs import Ctx, Setup, assert_refused, clean_environment, train

pytestmark = pytest.mark.usefixtures(clean_environment.__name__)  # no LASH_DATA_DIR from the caller


def _data_dir(ctx, *args, names):
    """`lash train --set data.data_dir=DIR ARGS`: the default char-level WikiText-2 run."""
    return lambda data: train(ctx, "--set", f"data.data_dir={data}", *args, names=names)


def _data_dir_is_a_file(ctx):
    path = ctx.file("wikitext-2.zip", "PK not a directory\n")
    return _data_dir(ctx, names=[str(path), "is not a directory", "Fix"])(path)


def _data_dir_is_a_symlink_loop(ctx):
    loop = ctx.tmp / "wikitext-loop"
    loop.symlink_to(loop)
    return _data_dir(ctx, names=[str(loop), "symbolic links", "data.data_dir"])(loop)


def _data_dir_is_a_dangling_symlink(ctx):
    link = ctx.tmp / "wikitext-link"
    link.symlink_to(ctx.tmp / "unmounted")
    return _data_dir(ctx, names=[str(link), "symbolic link to", "does not exist"])(link)


def _splits(ctx, make_train) -> os.PathLike:
    """A data directory with placeholder validation/test files and train.txt made by make_train(path)."""
    data = ctx.tmp / "wikitext-odd"
    data.mkdir()
    for split in ("validation", "test"):
        (data / f"{split}.txt").write_text(" = placeholder = \n", encoding="utf-8")
    make_train(data / "train.txt")
    return data


def _train_txt_is_a_fifo(ctx):
    data = _splits(ctx, os.mkfifo)  # open() would wait for a writer forever
    return _data_dir(ctx, names=[str(data / "train.txt"), "not a regular file"])(data)


def _train_txt_is_a_directory(ctx):
    data = _splits(ctx, os.mkdir)
    return _data_dir(ctx, names=[str(data / "train.txt"), "not a regular file"])(data)


def _train_txt_not_utf8(ctx):
    data = _splits(ctx, lambda p: p.write_bytes(" = Valkyria = \n caf\xe9 \n".encode("latin-1")))
    return _data_dir(ctx, names=[str(data / "train.txt"), "not UTF-8", "0xe9"])(data)


def _same_tokens_other_characters(split: str, change):
    """A copy of WikiText-2 whose `split` has the same whitespace tokens but other characters."""
    def make(ctx):
        src, data = ctx.wikitext(), ctx.tmp / f"wikitext-{split}-changed"
        data.mkdir()
        for other in ("train", "validation", "test"):
            if other != split:
                shutil.copyfile(src / f"{other}.txt", data / f"{other}.txt")
        text = (src / f"{split}.txt").read_text(encoding="utf-8")
        (data / f"{split}.txt").write_text(change(text), encoding="utf-8")
        return _data_dir(ctx, names=[f"'{split}'", str(data), "exact characters"])(data)

    return make


def _strip_trailing_spaces(text: str) -> str:
    return "".join(line.rstrip(" \n") + "\n" for line in text.splitlines(keepends=True))


def _too_few_tokens(ctx):
    return train(ctx, "--smoke", "--set", "data.val_size=40", names=["'validation'", "too few for one batch"])


def _hub_unreachable(ctx):
    """No data_dir and a hub that refuses connections: given up at once, the message leads with data_dir
    (a subprocess, so a real connection is attempted; an empty HF_HOME holds no cached copy)."""
    setup = Setup(["train", "--set", "data.source=hub", "--set", "train.max_epochs=1", "--out", str(ctx.out)],
                  ctx.out, names=["no data.data_dir is set and the Hugging Face hub cannot be reached",
                                  "127.0.0.1:9", "LASH_DATA_DIR"],
                  runner="subprocess", env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(ctx.tmp / "hf")})
    setup.drop_env = tuple(k for k in os.environ
                           if k.startswith("HF_") or k in ("LASH_OFFLINE", "LASH_DATA_DIR"))
    return setup


CASES = [
    pytest.param(_data_dir_is_a_file, id="data-dir-is-a-file"),
    pytest.param(_data_dir_is_a_symlink_loop, id="data-dir-is-a-symlink-loop"),
    pytest.param(_data_dir_is_a_dangling_symlink, id="data-dir-is-a-dangling-symlink"),
    pytest.param(_train_txt_is_a_fifo, id="train-txt-is-a-fifo"),
    pytest.param(_train_txt_is_a_directory, id="train-txt-is-a-directory"),
    pytest.param(_train_txt_not_utf8, id="train-txt-not-utf8"),
    pytest.param(_same_tokens_other_characters("validation", lambda t: t.replace(" ", "\t")),
                 id="validation-spaces-turned-into-tabs"),
    pytest.param(_same_tokens_other_characters("test", _strip_trailing_spaces), id="test-trailing-spaces-stripped"),
    pytest.param(_too_few_tokens, id="split-too-small-for-one-batch"),
    pytest.param(_hub_unreachable, id="hub-unreachable-without-data-dir"),
]


@pytest.mark.parametrize("make", CASES)
def test_bad_data_is_refused_with_a_fix_and_no_partial_output(make, tmp_path, request, capsys):
    assert_refused(make(Ctx(tmp_path, request)), tmp_path, capsys)


def test_the_cases_are_distinct():
    ids = [p.id for p in CASES]
    assert len(set(ids)) == len(ids) >= 10
