"""The provenance block of every results JSON, and atomic JSON writing."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import torch

from . import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict:
    """Commit and dirtiness of the source tree (results/ and figures/ changes do not count as dirty)."""
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "lash", "workflow", "config",
                  "Snakefile", "pyproject.toml")
    return {"git_sha": sha, "git_dirty": bool(status) if status is not None else None}


def provenance(seed: int, data_digest: dict, device: str, threads: int, wall_seconds: float,
               argv: list[str] | None = None) -> dict:
    return {
        **git_state(),
        "lash_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "seed": seed,
        "data_digest": data_digest,
        "device": device,
        "threads": threads,
        "wall_seconds": round(wall_seconds, 3),
        "argv": list(sys.argv if argv is None else argv),
    }


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before any work if the output file cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create the output directory {path.parent}: {exc.strerror}. "
                              "Fix: choose an --out path in a writable directory") from exc
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"the output directory {path.parent} is not writable. "
                              "Fix: choose an --out path in a writable directory")
    if path.is_dir():
        raise PermissionError(f"--out {path} is a directory. Fix: give a file path such as {path}/run.json")
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
