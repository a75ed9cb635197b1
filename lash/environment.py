"""What a run ran on: package versions against the project's lock, and the CPU's numeric code paths.

The committed numbers are bit-for-bit reproducible only with the same numeric libraries on the same
kind of CPU, so every results JSON records both, and a run refuses to start when a package that changes
numbers (torch, numpy) differs from requirements/lock.txt -- unless LASH_ALLOW_UNLOCKED=1 says to go
on anyway (the difference is then recorded in provenance).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
from functools import lru_cache
from pathlib import Path

from .errors import LashError

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO_ROOT / "requirements" / "lock.txt"
ALLOW_UNLOCKED = "LASH_ALLOW_UNLOCKED"
#: Packages whose versions the provenance records (absent ones as null).
RECORDED = ("torch", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "snakemake", "pyyaml", "datasets")
#: Packages that change the numbers of a training run: a difference from the lock stops the run.
NUMERIC = ("torch", "numpy")
#: Instruction sets the numeric libraries dispatch on, recorded when the CPU has them.
INSTRUCTION_SETS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile")
#: Environment variables that pin the numeric code paths of the CPU libraries, recorded when set.
CODE_PATH_VARIABLES = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                       "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class EnvironmentMismatchError(LashError):
    """A package that changes numbers differs from the lock file."""

    label = "environment error"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=None)
def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """{normalised name: version} of the `name==version` lines of a pip requirements lock."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", lock.read_text(encoding="utf-8"), re.M)
    return {_normalise(name): version for name, version in pins}


def lock_digest(lock: Path = LOCK_FILE) -> str | None:
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None


def lock_differences(packages=NUMERIC, lock: Path = LOCK_FILE) -> dict[str, dict]:
    """{package: {"locked", "installed"}} for each package whose installed version is not the lock's."""
    if not lock.is_file():
        return {}
    locked = locked_versions(lock)
    out = {}
    for package in packages:
        want, have = locked.get(_normalise(package)), installed_version(package)
        if want is not None and want != have:
            out[package] = {"locked": want, "installed": have}
    return out


def check_locked_environment(lock: Path = LOCK_FILE) -> None:
    """Refuse to train when torch or numpy differ from the lock (numbers would differ silently)."""
    diffs = lock_differences(NUMERIC, lock)
    if not diffs or os.environ.get(ALLOW_UNLOCKED, "").strip().lower() in ("1", "true", "yes"):
        return
    shown = ", ".join(f"{p} {d['installed']} installed, {d['locked']} locked" for p, d in diffs.items())
    raise EnvironmentMismatchError(
        f"this environment differs from {lock.relative_to(REPO_ROOT)} in packages that change the numbers "
        f"({shown}). Fix: install the locked environment (README, \"Installing\"), or set "
        f"{ALLOW_UNLOCKED}=1 to run anyway (the difference is recorded in each results JSON)")


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor describes them all
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def check_code_paths() -> None:
    """Refuse to train when ATen does not run the kernels lash pinned (lash.PINNED_CODE_PATHS): torch
    was imported and used before lash could pin them, or the CPU lacks the pinned level."""
    import torch

    wanted = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().upper()
    actual = torch.backends.cpu.get_cpu_capability()
    if wanted and wanted != actual.upper():
        raise EnvironmentMismatchError(
            f"ATen runs {actual} kernels, but ATEN_CPU_CAPABILITY={wanted.lower()} asks for {wanted} (the "
            "numbers would differ from the pinned build). Fix: import lash before torch in your own code, "
            "or on a CPU without that instruction set set ATEN_CPU_CAPABILITY to what it has "
            f"(e.g. default) and expect other bits")


def cpu_info() -> dict:
    """The CPU model and the instruction-set level the numeric libraries dispatch on."""
    import torch

    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    return {
        "model": info.get("model name") or platform.processor() or None,
        "vendor": info.get("vendor_id"),
        "family_model_stepping": "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "instruction_sets": [f for f in INSTRUCTION_SETS if f in flags],
        "machine": platform.machine(),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "logical_cores": os.cpu_count(),
        "code_path_variables": {v: os.environ[v] for v in CODE_PATH_VARIABLES if v in os.environ},
    }


def package_record() -> dict:
    """Versions, the lock's digest and any difference from it (torch-free: the analysis records it too)."""
    return {
        "packages": {p: installed_version(p) for p in RECORDED},
        "lock_file": str(LOCK_FILE.relative_to(REPO_ROOT)) if LOCK_FILE.is_file() else None,
        "lock_sha256": lock_digest(),
        "lock_differences": lock_differences(RECORDED),
    }
