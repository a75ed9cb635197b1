"""Files: refuse an unwritable output before any work, and write outputs atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import OutputError


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before any work if the output file cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output directory {path.parent}: {exc.strerror}. "
                          "Fix: choose an --out path in a writable directory") from exc
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"the output directory {path.parent} is not writable. "
                          "Fix: choose an --out path in a writable directory")
    if path.is_dir():
        raise OutputError(f"--out {path} is a directory. Fix: give a file path such as {path}/run.json")
    return path


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """`write(fh)` into a temporary file in the same directory, fsync, then rename over `path`: a killed
    process leaves either the old file or the new one, never a half-written one (or a stray temp file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, payload: dict) -> None:
    """The results JSON (indented, trailing newline), written atomically."""
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))
