"""Files: refuse an unwritable output before any work, and write outputs atomically."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import OutputError


def check_writable(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Fail before any work if the output file cannot be written; `flag` names the option in the message."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output directory {path.parent}: {exc.strerror}. "
                          f"Fix: choose a {flag} path in a writable directory") from exc
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"the output directory {path.parent} is not writable. "
                          f"Fix: choose a {flag} path in a writable directory")
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a directory. Fix: give a file path such as {path}/run.json")
    return path


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _is_own_temporary(candidate: str, path: Path) -> bool:
    """Whether a file name is one of write_atomic's temporaries for `path`: `.NAME.XXXXXXXX.tmp`
    (tempfile.mkstemp's eight random characters)."""
    return re.fullmatch(re.escape(_temp_prefix(path)) + r"[a-z0-9_]{8}\.tmp", candidate) is not None


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries a killed write_atomic of `path` left beside it (only files named like
    its own temporaries); returns what was removed."""
    path = Path(path)
    removed = []
    if path.parent.is_dir():
        for entry in path.parent.iterdir():
            if _is_own_temporary(entry.name, path) and entry.is_file():
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _file_mode() -> int:
    """What a plain open() would create: 0o666 less the process umask (mkstemp makes 0o600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """`write(fh)` into a temporary file in the same directory, fsync, then rename over `path`: a killed
    process leaves either the old file or the new one, never a half-written one. The file gets the
    mode a plain open() would give it (the umask applies)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
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


def first_non_finite(tree, path: str = "") -> tuple[str, float] | None:
    """(dotted path, value) of the first float in nested dicts/lists that is NaN or infinite, else None."""
    if isinstance(tree, float):
        return None if math.isfinite(tree) else (path, tree)
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else ()
    for key, value in items:
        found = first_non_finite(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def write_json_atomic(path: str | os.PathLike, payload: dict) -> None:
    """The results JSON (indented, trailing newline), written atomically. Strict JSON: a NaN or an
    infinity is refused (a number without a value is written as null by whoever computes it)."""
    bad = first_non_finite(payload)
    if bad is not None:
        raise OutputError(f"refusing to write {path}: {bad[0]} is {bad[1]}, which is not a number strict JSON "
                          "can hold. Fix: the model or its inputs produced it (a diverged or corrupt stage "
                          "file?); rerun the stages that made this run's inputs")
    text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))
