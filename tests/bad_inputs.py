"""The bad-input contract's machinery, shared by tests/test_bad_inputs*.py.

A case is a function `make(ctx) -> Setup`: what to run, which output must not appear, which words the
message must name. `assert_refused` checks the contract: a non-zero exit (2 for lash), one message
on stderr that names the problem (a field, a file, a keyword) and says how to fix it ("Fix: ..."), and
no partial output (no --out file, no `.name.*.tmp` left beside it, no checkpoint rewritten).

A test module imports the fixtures it uses by name so pytest sees them, and uses the names (pyflakes):
`from bad_inputs import clean_environment` + `pytestmark = pytest.mark.usefixtures(clean_environment.__name__)`.
Cases run in-process (`lash.cli.main` + capsys) unless they need a process of their own: offline mode
patches the socket module of the process it runs in, and the workflow is a Snakemake process.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lash.cli import main
from lash.workflow_env import with_this_interpreter

REPO = Path(__file__).resolve().parents[1]
# The checkpoint cases and the run that makes their checkpoint share these (one epoch: seconds).
CKPT_RUN = ["--smoke", "-q", "--set", "train.max_epochs=1"]


class MissingFixHint(AssertionError):
    """The error message says what is wrong but not how to fix it."""


class PartialOutput(AssertionError):
    """A refused run left a file behind."""


# --------------------------------------------------------------------------- what a case is

@dataclass
class Setup:
    """What one case runs: `args` (after the program name), where --out points, what must not change."""

    args: list[str]
    out: Path | None  # the --out file that must not appear (None: the workflow, see `absent`)
    names: list[str]  # each must appear in the message: it names the problem
    runner: str = "inproc"  # inproc | subprocess | snakemake
    env: dict[str, str] = field(default_factory=dict)  # extra environment (subprocess runners)
    drop_env: tuple[str, ...] = ()  # environment variables removed (subprocess runners)
    unchanged: list[Path] = field(default_factory=list)  # files whose bytes must survive the refusal
    absent: list[Path] = field(default_factory=list)  # paths that must not exist afterwards


class Ctx:
    """Per-case helpers: a fresh directory, and the fixtures only some cases need."""

    def __init__(self, tmp: Path, request):
        self.tmp, self._request = tmp, request
        self.out = tmp / "out" / "result.json"

    def file(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def monkeypatch(self) -> pytest.MonkeyPatch:
        """The case's monkeypatch, for a fault that cannot be caused for real (undone after the case)."""
        return self._request.getfixturevalue("monkeypatch")

    def wikitext(self) -> Path:
        return self._request.getfixturevalue("wikitext_dir")  # skips when there is no local copy

    def checkpoint_copy(self) -> Path:
        """A fresh copy of a real `lash train --smoke` checkpoint directory: DIR/train.pt."""
        src = self._request.getfixturevalue("trained_checkpoint")
        dst = self.tmp / "ckpt"
        shutil.copytree(src, dst)
        return dst


def train(ctx: Ctx, *args: str, **kw) -> Setup:
    """`lash train ARGS --out ctx.out`."""
    names = kw.pop("names")
    return Setup(["train", *args, "--out", str(ctx.out)], ctx.out, names, **kw)


# --------------------------------------------------------------------------- running them

@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No data directory or offline switch from the caller's shell; and no socket patch may leak
    into (or out of) this test process."""
    monkeypatch.delenv("LASH_DATA_DIR", raising=False)
    monkeypatch.delenv("LASH_OFFLINE", raising=False)
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
    assert not getattr(socket, "_lash_offline", False), "offline mode leaked into the test process"
    yield
    assert socket.socket.connect is connect and socket.getaddrinfo is getaddrinfo, "socket patch leaked"


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory) -> Path:
    """DIR/train.pt of a real `lash train --smoke --checkpoint-dir DIR --keep-checkpoint` run."""
    d = tmp_path_factory.mktemp("checkpoint")
    out = d / "run.json"
    assert main(["train", *CKPT_RUN, "--checkpoint-dir", str(d / "ckpt"), "--keep-checkpoint",
                 "--out", str(out)]) == 0
    assert out.is_file() and (d / "ckpt" / "train.pt").is_file()
    return d / "ckpt"


def _child_env(setup: Setup) -> dict[str, str]:
    env = with_this_interpreter({k: v for k, v in os.environ.items() if k not in setup.drop_env})
    return {**env, **setup.env}


def _run(setup: Setup, capsys) -> tuple[int, str]:
    """(exit code, the message the user sees)."""
    if setup.runner == "inproc":
        try:
            rc = main(setup.args)
        except SystemExit as exc:  # argparse
            rc = exc.code
        return rc, capsys.readouterr().err
    if setup.runner == "subprocess":
        cmd = [sys.executable, "-m", "lash.cli", *setup.args]
    else:
        cmd = [sys.executable, "-m", "snakemake", *setup.args]
    proc = subprocess.run(cmd, cwd=REPO, env=_child_env(setup), capture_output=True, text=True, timeout=120,
                          check=False)
    # Snakemake reports a config error on stdout or stderr depending on the version: both count.
    return proc.returncode, proc.stderr if setup.runner == "subprocess" else proc.stdout + proc.stderr


def assert_refused(setup: Setup, tmp_path: Path, capsys) -> None:
    """Run one case and check the whole contract (see the module docstring)."""
    before = {p: p.read_bytes() for p in setup.unchanged}
    out_dir_was_dir = setup.out is not None and setup.out.is_dir()
    out_dir_entries = sorted(setup.out.iterdir()) if out_dir_was_dir else None

    rc, message = _run(setup, capsys)

    # (1) a non-zero exit, and no traceback: one clear message
    assert rc not in (0, None), f"exit {rc}: {message[-2000:]}"
    if setup.runner != "snakemake":
        assert rc == 2, message[-2000:]
        assert "Traceback" not in message, message[-2000:]
    # (2) the message names the problem ...
    for name in setup.names:
        assert name in message, f"{name!r} not in: {message[-2000:]}"
    # (3) ... and nothing is left behind
    leftovers = sorted(str(p) for p in tmp_path.rglob(".*.tmp"))
    if leftovers:
        raise PartialOutput(f"temporary files left: {leftovers}")
    if setup.out is not None:
        if setup.out.is_file():
            raise PartialOutput(f"--out {setup.out} was written")
        if out_dir_was_dir and sorted(setup.out.iterdir()) != out_dir_entries:
            raise PartialOutput(f"something was written into the directory {setup.out}")
    for path, data in before.items():
        if not path.is_file() or path.read_bytes() != data:
            raise PartialOutput(f"{path} was changed or removed by a refused run")
    for path in setup.absent:
        if path.exists():
            raise PartialOutput(f"{path} was created")
    # (2, continued) ... and says how to fix it: last, so a known gap hides nothing else
    if "Fix" not in message:
        raise MissingFixHint(f"no 'Fix' hint in: {message[-2000:]}")

