"""ASHEM's fair baselines: a model trained on all tokens (lash.train), evaluated like ASHEM."""

from __future__ import annotations

import copy
import dataclasses
import math
import time

import torch

from ..config import RunConfig
from ..early_exit import MEASURES, collect_exit_stats
from ..evaluate import routed_metrics
from ..model import LashTransformer
from ..seeding import seed_everything
from ..train import LanguageModelTask, train_model
from .common import load_data, mining_batches, ppl, split_batches, train_flops
from .evaluation import calibration_report, exit_summary, exited, flat_index
from .mine import quantile_threshold
from .stage_files import check_data, training_checkpoint


class _Budgeted:
    """A train split cut after `max_batches` batches in total (the last epoch may be partial)."""

    def __init__(self, inner, max_batches: int):
        self.inner, self.max_batches = inner, max_batches
        self.n_tokens = inner.n_tokens

    def __len__(self) -> int:
        return len(self.inner)

    def epoch(self, epoch: int = 0):
        left = self.max_batches - epoch * len(self.inner)
        return self.inner.epoch(epoch)[:max(0, left)]


def run_baseline(cfg: RunConfig, mined: dict, match_flops: float | None = None,
                 checkpoint_dir: str | None = None) -> dict:
    """A model trained on all tokens (lash.train), evaluated like ASHEM: Hard PPL on the same hard
    tokens, compute fractions, and (with routing) the same quantile threshold rule on the mining
    split. With match_flops the training is cut at that many training FLOPs (matched compute)."""
    start = time.perf_counter()
    data, threads = load_data(cfg)
    check_data(mined, data, "the mined file")
    a, m = cfg.ashem, cfg.model
    vocab, seq, n = len(data.vocab), cfg.data.seq_len, cfg.model.n_layers
    e = cfg.eval.exit_layer
    exits = [k for k, w in sorted(cfg.layer_weights.items()) if w > 0] or [n]
    batch_tokens = cfg.data.batch_size * seq
    per_batch = train_flops(cfg, n, vocab, batch_tokens, len(exits))
    run_data = data
    budget = None
    if match_flops is not None:
        budget = max(1, int(match_flops // per_batch))
        run_data = dataclasses.replace(data, train=_Budgeted(data.train, budget))
        cfg = copy.deepcopy(cfg)
        cfg.train.max_epochs = math.ceil(budget / len(data.train))
    seed_everything(cfg.seed)
    model = LashTransformer.for_run(cfg, vocab).to(cfg.train.device)
    resume = training_checkpoint(checkpoint_dir, "lash ashem baseline", cfg, data, inputs={"budget_flops": match_flops})
    t0 = time.perf_counter()
    result = train_model(model, run_data, cfg, checkpoint=resume,
                         task=LanguageModelTask(model, run_data, cfg, name="ashem baseline"))
    train_s = time.perf_counter() - t0
    n_batches = sum(len(run_data.train.epoch(ep)) for ep in range(result.epochs_run))
    measure = cfg.eval.confidence
    routing = cfg.routing_threshold > 0 and e < n
    threshold = 1.0
    if routing:  # the ASHEM rule on this model: quantile of its exit confidence on the mining split
        mine_stats = collect_exit_stats(model, mining_batches(data, a), e, (measure,))
        threshold = quantile_threshold(mine_stats.confidence[measure], a.hard_ratio)
    report_batches = split_batches(data, a.report_split).epoch(0)
    stats = collect_exit_stats(model, report_batches, e, MEASURES)
    routed = routed_metrics(stats.token_stats(measure), e, threshold, m, vocab, seq)
    report_hard = mined["heldout"] if mined["heldout"] is not None else mined["hard"]
    flat = flat_index(report_hard, seq)
    sh = exited(stats.token_stats(measure), e, threshold)
    hard_ppl = ppl(stats.ce["deep"][flat])
    same_split = a.report_split == "validation"
    val_stats = stats if same_split else collect_exit_stats(model, data.validation.epoch(0), e, MEASURES)
    flops = n_batches * per_batch
    headline = {"split": a.report_split, "source": f"restored best epoch {result.best_epoch}",
                "ppl": routed["ppl"], "acc": routed["acc"],
                "shallow_fraction": routed["shallow_fraction"],
                "compute_fraction_layers": routed["compute_fraction_layers"],
                "compute_fraction_flops": routed["compute_fraction_flops"] if routing else 1.0,
                "hard_ppl": hard_ppl}
    metrics = {
        "headline": headline, "threshold": threshold if routing else None, "routing": routing,
        "layer_weights": {str(k): v for k, v in cfg.layer_weights.items()},
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "history": result.history,
        "report": {"routed": routed, "exits": exit_summary(stats)},
        "hard_ppl": {"tokens": "held-out hard tokens of the report split" if mined["heldout"] is not None
                     else "the ASHEM-mined tokens", "n": int(flat.numel()), "ppl": hard_ppl,
                     "ppl_routed": ppl(torch.where(sh, stats.ce["shallow"], stats.ce["deep"])[flat]),
                     "ppl_shallow_exit": ppl(stats.ce["shallow"][flat])},
        "calibration": calibration_report(cfg, val_stats, stats, vocab, same_split),
        "training_compute": {"flops": flops, "batches": n_batches, "budget_flops": match_flops,
                             "budget_batches": budget},
        "vocab_size": vocab, "n_params": model.num_parameters(),
    }
    timing = {"train_s": round(train_s, 3), "total_s": round(time.perf_counter() - start, 3)}
    return {"metrics": metrics, "data": data, "timing": timing, "threads": threads,
            "resumed_from": result.resumed_from, "training_checkpoints": [c for c in (resume,) if c]}
