"""The provenance block of every results JSON."""

from __future__ import annotations

import platform
import subprocess
import sys

import torch

from . import __version__
from .environment import REPO_ROOT, cpu_info, package_record


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
                  "Snakefile", "pyproject.toml", "requirements")
    return {"git_sha": sha, "git_dirty": bool(status) if status is not None else None}


def provenance(seed: int, data_digest: dict, device: str, threads: int, wall_seconds: float,
               argv: list[str] | None = None) -> dict:
    return {
        **git_state(),
        "lash_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_info(),  # metrics are bit-for-bit reproducible on the same kind of CPU
        "environment": package_record(),
        "seed": seed,
        "data_digest": data_digest,
        "device": device,
        "threads": threads,
        "wall_seconds": round(wall_seconds, 3),
        "argv": list(sys.argv if argv is None else argv),
    }
