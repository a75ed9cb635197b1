"""Training: the weighted multi-exit loss, per-layer LR groups, alpha schedules, early stopping."""

from __future__ import annotations

import copy
import logging
import math
import sys
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from .checkpoint import TrainingCheckpoint, rng_state, set_rng_state
from .config import AlphaScheduleConfig, RunConfig
from .distributed import DistContext, wrap_for_training
from .evaluate import selection_metrics
from .fused import linear_cross_entropy, retain_freed_memory

log = logging.getLogger("lash.train")


def active_exits(weights: dict[int, float], n_layers: int) -> list[int]:
    """Exits that carry a loss; if every weight is 0 the original falls back to the last layer."""
    exits = [k for k, w in sorted(weights.items()) if w > 0]
    return exits or [n_layers]


def exit_loss_scales(weights: dict[int, float], n_layers: int, normalize: bool = False) -> dict[int, float]:
    """{exit: factor of its CE} for the weighted loss (the all-zero fallback is {n_layers: 1})."""
    exits = active_exits(weights, n_layers)
    if exits == [n_layers] and weights.get(n_layers, 0) <= 0:
        return {n_layers: 1.0}
    total = sum(weights[k] for k in exits) if normalize else 1.0
    return {k: weights[k] / total for k in exits}


def weighted_exit_loss(logits: dict[int, torch.Tensor], targets: torch.Tensor,
                       weights: dict[int, float], normalize: bool = False) -> torch.Tensor:
    """sum_k w_k * CE(logits_k, targets) over exits with w_k > 0 (the original is unnormalised:
    the "+L2" variant has total weight 2.0). With normalize=True the weights are divided by their sum."""
    scaled = exit_loss_scales(weights, max(logits), normalize)
    flat_targets = targets.reshape(-1)
    loss = None
    for k, w in scaled.items():
        term = w * F.cross_entropy(logits[k].reshape(-1, logits[k].shape[-1]), flat_targets)
        loss = term if loss is None else loss + term
    return loss


def fused_exit_loss(model, x: torch.Tensor, targets: torch.Tensor, weights: dict[int, float],
                    normalize: bool = False, fast_blocks: bool = True) -> torch.Tensor:
    """The training loss of `weighted_exit_loss(model.forward_exits(x, exits), ...)`, computed
    without full-vocabulary logits: hidden states at the weighted exits go through the chunked
    head + cross-entropy of `lash.fused` (same math, float-rounding differences only)."""
    scaled = exit_loss_scales(weights, model.n_layers, normalize)
    hidden = model.exit_hidden(x, list(scaled), fast=fast_blocks)
    return linear_cross_entropy([hidden[k] for k in scaled], model.head.weight, targets,
                                list(scaled.values()))


def training_loss(model, x: torch.Tensor, targets: torch.Tensor, weights: dict[int, float],
                  normalize: bool = False, kernels: str = "fast") -> torch.Tensor:
    """The loss of one training batch: fast (fused) or reference (plain PyTorch) kernels."""
    if kernels == "fast":
        return fused_exit_loss(model, x, targets, weights, normalize)
    logits = model.forward_exits(x, active_exits(weights, model.n_layers))
    return weighted_exit_loss(logits, targets, weights, normalize)


def build_optimizer(model, base_lr: float, layer_lr_scales: dict[int, float] | None,
                    weight_decay: float = 0.01, fused: bool = True) -> torch.optim.AdamW:
    """AdamW with one parameter group per block (lr = base_lr * scale, missing layer -> 1.0) and one
    group for the embedding and the shared head at base_lr. fused=True: one kernel per parameter
    (same AdamW math as the multi-tensor foreach version used with fused=False)."""
    scales = layer_lr_scales or {}
    groups = [{"params": list(model.embed.parameters()) + list(model.head.parameters()),
               "lr": base_lr, "name": "embed+head"}]
    for i, block in enumerate(model.blocks, start=1):
        groups.append({"params": list(block.parameters()), "lr": base_lr * scales.get(i, 1.0),
                       "name": f"layer{i}"})
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=base_lr, weight_decay=weight_decay, fused=True)
        except RuntimeError:  # torch < 2.4 has no fused AdamW for CPU tensors
            pass
    return torch.optim.AdamW(groups, lr=base_lr, weight_decay=weight_decay, foreach=True)


def alpha_at(schedule: AlphaScheduleConfig, epoch: int, max_epochs: int) -> float:
    """PAPER_SPEC E8: epoch is 0-indexed, p = min(1, epoch / max(1, horizon - 1))."""
    horizon = schedule.epochs or max_epochs
    p = min(1.0, epoch / max(1, horizon - 1))
    start, end = schedule.start, schedule.end
    if schedule.type == "constant":
        return start
    if schedule.type == "linear":
        return start + (end - start) * p
    if schedule.type == "cosine":
        return end + (start - end) * (1 + math.cos(math.pi * p)) / 2
    if schedule.type == "step":
        k = sum(1 for s in schedule.steps if s <= epoch)
        return max(end, start - k * (start - end) / max(1, len(schedule.steps)))
    raise ValueError(schedule.type)


def weights_for_epoch(cfg: RunConfig, epoch: int) -> dict[int, float]:
    """Layer 1 <- alpha, the highest-indexed weighted layer <- 1 - alpha, others unchanged."""
    weights = dict(cfg.layer_weights)
    schedule = cfg.train.alpha_schedule
    if schedule is not None:
        alpha = alpha_at(schedule, epoch, cfg.train.max_epochs)
        weights[1] = alpha
        weights[max(weights)] = 1.0 - alpha
    return weights


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    resumed_from: int | None = None  # the epoch a checkpoint resumed after, if any


def _progress(iterable, total: int, desc: str):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)
    return iterable


def _training_state(model, optimizer, result: TrainResult, best_metric: float, bad_epochs: int,
                    best_state: dict | None, finished: bool) -> dict:
    return {"epoch": result.epochs_run, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": rng_state(), "history": result.history, "best_epoch": result.best_epoch,
            "best_metric": best_metric, "bad_epochs": bad_epochs, "best_state": best_state,
            "stopped_early": result.stopped_early, "finished": finished}


def train_model(model, data, cfg: RunConfig,
                on_epoch_end: Callable[[int, dict], None] | None = None,
                checkpoint: TrainingCheckpoint | None = None,
                ctx: DistContext | None = None) -> TrainResult:
    """Train with early stopping on validation (`train.stop_metric`). With restore_best the best
    epoch's weights are loaded back at the end; otherwise the last epoch's weights stay (the original).

    checkpoint: saved after every epoch and resumed from when it exists (`result.resumed_from` says
    after which epoch). ctx: the torchrun process group; each process trains on its slice of every
    batch (see lash.distributed)."""
    t = cfg.train
    ctx = ctx or DistContext()
    device = torch.device(t.device)
    if t.kernels == "fast":
        retain_freed_memory()  # no page faults on re-allocated gradients each step
    optimizer = build_optimizer(model, t.lr, cfg.layer_lr_scales, t.weight_decay, fused=t.kernels == "fast")
    result = TrainResult()
    best_metric, bad_epochs, best_state, finished = math.inf, 0, None, False
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        result.history, result.best_epoch = state["history"], state["best_epoch"]
        result.epochs_run = result.resumed_from = state["epoch"]
        result.stopped_early, finished = state["stopped_early"], state["finished"]
        best_metric, bad_epochs, best_state = state["best_metric"], state["bad_epochs"], state["best_state"]
        log.info("resumed from %s after epoch %d", checkpoint.path, state["epoch"])
    uses_every_layer = max(active_exits(cfg.layer_weights, model.n_layers)) == model.n_layers
    step_loss = wrap_for_training(
        model, lambda m, x, y, w: training_loss(m, x, y, w, t.normalize_weights, t.kernels),
        ctx, uses_every_parameter=uses_every_layer and cfg.train.alpha_schedule is None)
    model.train()
    for epoch in range(result.epochs_run, 0 if finished else t.max_epochs):
        weights = weights_for_epoch(cfg, epoch)
        total_loss, n_batches = 0.0, 0
        batches = data.train.epoch(epoch)
        for x, y in _progress(batches, len(batches), f"epoch {epoch + 1}"):
            x_local, y_local, share = ctx.shard(x.to(device), y.to(device))
            loss = step_loss(x_local, y_local, weights)
            optimizer.zero_grad(set_to_none=True)
            (loss * share if ctx.enabled else loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            optimizer.step()
            # The global batch's mean loss (a single process keeps the plain value, bit for bit).
            total_loss += ctx.sum(loss.item() * y_local.numel()) / y.numel() if ctx.enabled else loss.item()
            n_batches += 1
        val = selection_metrics(model, data.validation.epoch(0), cfg)
        entry = {"epoch": epoch + 1, "train_loss": total_loss / max(1, n_batches),
                 "weights": {str(k): v for k, v in weights.items()}, "validation": val}
        result.history.append(entry)
        result.epochs_run = epoch + 1
        improved = val["ppl"] < best_metric
        if improved:
            best_metric, bad_epochs, result.best_epoch = val["ppl"], 0, epoch + 1
            if t.restore_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        log.info("epoch %d train_loss %.4f val_ppl %.4f%s", epoch + 1, entry["train_loss"], val["ppl"],
                 " (best)" if improved else "")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, entry)
        result.stopped_early = bad_epochs >= t.patience
        finished = result.stopped_early or epoch + 1 == t.max_epochs
        if checkpoint is not None and ctx.is_main:
            checkpoint.save(_training_state(model, optimizer, result, best_metric, bad_epochs,
                                            best_state, finished))
        ctx.barrier()
        if result.stopped_early:
            break
    if t.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return result
