"""The results JSON of every ASHEM stage."""

from __future__ import annotations

import time

from ..config import RunConfig
from ..provenance import provenance


def payload(cfg: RunConfig, result: dict, start: float, argv: list[str] | None) -> dict:
    """The results JSON: as `lash train` ({config, metrics, data, provenance}) plus `timing`; wall_seconds
    covers this process only (the resumed part of a resumed stage)."""
    data = result["data"]
    prov = provenance(cfg.seed, data.digests, cfg.train.device, result["threads"], time.perf_counter() - start, argv)
    if "resumed_from" in result:  # a training stage: the epoch a checkpoint resumed after (None: none)
        prov["resumed_from_epoch"] = result["resumed_from"]
    return {"config": cfg.to_dict(), "metrics": result["metrics"], "data": data.info, "provenance": prov,
            "timing": result["timing"]}
