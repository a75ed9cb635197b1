"""The results JSON of every ASHEM stage."""

from __future__ import annotations

import time

from ..config import RunConfig
from ..provenance import provenance


def payload(cfg: RunConfig, result: dict, start: float, argv: list[str] | None) -> dict:
    """The results JSON: as `lash train` ({config, metrics, data, provenance}) plus `timing`."""
    data = result["data"]
    return {
        "config": cfg.to_dict(),
        "metrics": result["metrics"],
        "data": data.info,
        "provenance": provenance(cfg.seed, data.digests, cfg.train.device, result["threads"],
                                 time.perf_counter() - start, argv),
        "timing": result["timing"],
    }
