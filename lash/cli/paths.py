"""The files a command reads and writes, checked before any work, and the outputs it leaves behind
removed when it fails. Each parser declares them once (lash.cli.args.register)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import OutputError
from ..io import check_writable


def flag(dest: str) -> str:
    """The command-line spelling of an argument destination: out -> --out, config -> CONFIG."""
    return "CONFIG" if dest == "config" else "--" + dest.replace("_", "-")


def _given(args: argparse.Namespace, dests: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(flag(d), str(getattr(args, d))) for d in dests if getattr(args, d, None)]


def declared(args: argparse.Namespace) -> dict[str, str]:
    """Every path the command was given, resolved -> its option ("--phase1", "CONFIG", ...)."""
    return {os.path.realpath(path): name
            for name, path in _given(args, args.inputs + args.outputs + args.output_dirs)}


def check_paths(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output that cannot be written, an output directory that cannot
    be one, an output that is also an input or another output, and a file output inside an output
    directory (e.g. `--out` inside `--checkpoint-dir`, which the run may delete)."""
    inputs, outputs = _given(args, args.inputs), _given(args, args.outputs)
    dirs = _given(args, args.output_dirs)
    real = {path: os.path.realpath(path) for _, path in inputs + outputs + dirs}
    for i, (out_flag, out) in enumerate(outputs + dirs):
        for in_flag, src in inputs:
            if real[out] == real[src]:
                raise OutputError(f"{out_flag} {out} is also the input {in_flag}: writing it would destroy "
                                  f"the input. Fix: give {out_flag} another path")
        for other_flag, other in (outputs + dirs)[:i]:
            if real[out] == real[other]:
                raise OutputError(f"{other_flag} and {out_flag} are the same path {out}: one would overwrite "
                                  "the other. Fix: give them different paths")
    for dir_flag, directory in dirs:
        for out_flag, out in outputs:
            if real[out].startswith(real[directory] + os.sep):
                raise OutputError(f"{out_flag} {out} is inside {dir_flag} {directory}, which holds only "
                                  f"resumable state and may be deleted. Fix: write {out_flag} outside {directory}")
    for flag, path in outputs:  # last: it creates a missing parent directory
        check_writable(path, flag)
    for name, path in dirs:
        check_directory(name, path)


def check_directory(name: str, path: str) -> Path:
    """Fail before any work if `path` cannot be (or become) a writable directory. Nothing is
    created: the run creates it when it first writes there."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{name} {p} is a file, not a directory. Fix: give {name} a directory path "
                          "(it is created when missing)")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{name} {p} cannot be created: {existing} is a file. Fix: give {name} a path "
                          "in a writable directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{name} {p} cannot be written: {existing} is not writable. Fix: give {name} a "
                          "path in a writable directory")
    return p


def snapshot(args: argparse.Namespace) -> dict[str, tuple[int, int, int] | None]:
    """Each declared output file's identity now (inode, mtime, size), or None where it is absent."""
    return {path: _identity(path) for _, path in _given(args, args.outputs)}


def remove_new_outputs(before: dict[str, tuple[int, int, int] | None]) -> list[str]:
    """After a failure: delete the declared outputs this invocation created or replaced, so that no
    half of a stage's output pair (e.g. a checkpoint without its JSON) survives. Returns them."""
    removed = []
    for path, old in before.items():
        now = _identity(path)
        if now is not None and now != old:
            try:
                os.unlink(path)
            except OSError:  # e.g. the file system went read-only: the error being reported says so
                continue
            removed.append(path)
    return removed


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
