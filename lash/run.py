"""One training run end to end: data -> model -> training -> evaluation -> results payload."""

from __future__ import annotations

import logging
import time

from .config import RunConfig
from .checkpoint import TrainingCheckpoint
from .data import prepare_data
from .distributed import DistContext
from .evaluate import split_report
from .model import LashTransformer
from .provenance import provenance
from .seeding import configure_torch, seed_everything
from .train import train_model

log = logging.getLogger("lash.run")


def headline(cfg: RunConfig, result, validation: dict, test: dict | None) -> dict:
    """The numbers a table cites. Restored weights: test if there is one, else validation.
    The original (weights not restored): the best epoch's validation numbers recorded during
    training, which is what its scripts printed."""
    if not cfg.train.restore_best:
        best = result.history[result.best_epoch - 1]["validation"]
        return {"split": "validation", "source": f"best epoch {result.best_epoch} (weights not restored)",
                "ppl": best["ppl"], "acc": best["acc"],
                "shallow_fraction": best.get("shallow_fraction", 0.0),
                "compute_fraction_layers": best.get("compute_fraction_layers", 1.0)}
    split, rep = ("test", test) if test is not None else ("validation", validation)
    routed = rep["routed"]
    return {"split": split, "source": f"restored best epoch {result.best_epoch}",
            "ppl": rep["ppl"], "acc": rep["acc"],
            "shallow_fraction": routed["shallow_fraction"] if routed else 0.0,
            "compute_fraction_layers": routed["compute_fraction_layers"] if routed else 1.0}


def run_training(cfg: RunConfig, argv: list[str] | None = None, checkpoint_dir: str | None = None,
                 ctx: DistContext | None = None) -> dict:
    """checkpoint_dir: resume from / save to `DIR/train.pt` (see lash.checkpoint). ctx: the torchrun
    process group (lash.distributed), or None for a single process."""
    start = time.perf_counter()
    ctx = ctx or DistContext()
    threads = configure_torch(cfg.train.threads, cfg.train.device)
    seed_everything(cfg.seed)
    data = prepare_data(cfg.data, cfg.seed)
    vocab_size = len(data.vocab)
    log.info("data: %s, vocab %d, %d train / %d val batches", data.info.get("source"), vocab_size,
             len(data.train), len(data.validation))
    seed_everything(cfg.seed)  # the model's initialisation depends on the seed alone, not on data loading
    model = LashTransformer.for_run(cfg, vocab_size).to(cfg.train.device)
    checkpoint = TrainingCheckpoint(checkpoint_dir, cfg.to_dict(), data.digests) if checkpoint_dir else None
    result = train_model(model, data, cfg, checkpoint=checkpoint, ctx=ctx)
    validation = split_report(model, data.validation.epoch(0), cfg, vocab_size)
    test = split_report(model, data.test.epoch(0), cfg, vocab_size) if data.test is not None else None
    metrics = {
        "headline": headline(cfg, result, validation, test),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "n_params": model.num_parameters(),
        "vocab_size": vocab_size,
        "entropy_rate": data.entropy_rate,
        "validation": validation,
        "test": test,
        "history": result.history,
    }
    prov = provenance(cfg.seed, data.digests, cfg.train.device, threads, time.perf_counter() - start, argv)
    prov["world_size"] = ctx.world_size
    prov["resumed_from_epoch"] = result.resumed_from  # wall_seconds then covers the resumed part only
    return {"config": cfg.to_dict(), "metrics": metrics, "data": data.info, "provenance": prov}
