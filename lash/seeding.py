"""Seeding and thread settings that make CPU runs reproducible bit for bit."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a Slurm allocation), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def warn_if_oversubscribed(threads: int, source: str) -> None:
    """More threads than cores gives the same numbers, many times slower: worth a warning, not an error."""
    cores = available_cores()
    if threads > cores:
        log.warning("%s=%d asks for more threads than the %d CPU core(s) available to this process; the run "
                    "will be much slower (the numbers are the same). Fix: use %d or fewer threads",
                    source, threads, cores, cores)


def configure_torch(threads: int | None, device: str = "cpu") -> int:
    """Deterministic kernels; threads from the config, else Snakemake's/OMP's setting, else torch's."""
    source, omp = "train.threads", os.environ.get("OMP_NUM_THREADS", "")
    if threads is None and omp.isdigit() and int(omp) > 0:
        threads, source = int(omp), "OMP_NUM_THREADS"
    if threads is not None:
        warn_if_oversubscribed(threads, source)
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=device != "cpu")
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.get_num_threads()
