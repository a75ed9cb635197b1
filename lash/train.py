"""Training: the weighted multi-exit loss, per-layer LR groups, alpha schedules, and the one training
loop (`train_model`: early stopping, restore-best, history, checkpoint/resume, finite checks), which
trains any `TrainingTask`."""

from __future__ import annotations

import copy
import logging
import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .checkpoint import TrainingCheckpoint, rng_state, set_rng_state
from .config import AlphaScheduleConfig, RunConfig
from .distributed import DistContext, wrap_for_training
from .errors import LashError
from .evaluate import selection_metrics
from .fused import linear_cross_entropy, retain_freed_memory
from .io import first_non_finite

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


class DivergenceError(LashError):
    """Training produced a loss or a validation metric that is not finite: the run stops, no results."""

    label = "training diverged"


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    resumed_from: int | None = None  # the epoch a checkpoint resumed after, if any


class TrainingTask:
    """What `train_model` trains and how it validates; the loop itself (early stopping, restore-best,
    history, checkpoint/resume, finite checks) is the same for every task.

    A task sets `name` (for messages), `lr_setting` (the config field and value of its learning
    rate, named in a divergence Fix), `max_epochs`, `patience` and `restore_best`."""

    name = "training"
    lr_setting: tuple[str, float]
    max_epochs: int
    patience: int
    restore_best: bool

    def build_optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    def start(self) -> None:
        """Called once before the first epoch to run, after a checkpoint was loaded."""

    def begin_epoch(self, epoch: int) -> Sequence:
        """The batches of a 0-indexed epoch."""
        raise NotImplementedError

    def batch_loss(self, batch) -> tuple[torch.Tensor, Callable[[], float]]:
        """(the loss to backpropagate, a function giving the batch's loss for the history once the
        optimizer step is done)."""
        raise NotImplementedError

    def validate(self, epoch: int) -> dict:
        """The history entry's fields after "epoch" and "train_loss"; early stopping minimises
        entry["validation"]["ppl"]."""
        raise NotImplementedError


class LanguageModelTask(TrainingTask):
    """`lash train`'s task (also ASHEM's phase 1, its baselines and progressive training): the
    weighted multi-exit loss on the train split (alpha schedule, per-layer LR groups), one slice of
    every batch per process under torchrun, validation by lash.evaluate.selection_metrics."""

    def __init__(self, model, data, cfg: RunConfig, ctx: DistContext | None = None, name: str = "lash train",
                 lr_setting: str = "train.lr"):
        t = cfg.train
        self.model, self.data, self.cfg, self.ctx = model, data, cfg, ctx or DistContext()
        self.name, self.lr_setting = name, (lr_setting, t.lr)
        self.max_epochs, self.patience, self.restore_best = t.max_epochs, t.patience, t.restore_best
        self.device = torch.device(t.device)
        self._step_loss = None
        self._weights: dict[int, float] = {}

    def build_optimizer(self) -> torch.optim.Optimizer:
        t = self.cfg.train
        return build_optimizer(self.model, t.lr, self.cfg.layer_lr_scales, t.weight_decay,
                               fused=t.kernels == "fast")

    def start(self) -> None:
        t, cfg = self.cfg.train, self.cfg
        uses_every_layer = max(active_exits(cfg.layer_weights, self.model.n_layers)) == self.model.n_layers
        self._step_loss = wrap_for_training(
            self.model, lambda m, x, y, w: training_loss(m, x, y, w, t.normalize_weights, t.kernels),
            self.ctx, uses_every_parameter=uses_every_layer and t.alpha_schedule is None)

    def begin_epoch(self, epoch: int) -> Sequence:
        self._weights = weights_for_epoch(self.cfg, epoch)
        return self.data.train.epoch(epoch)

    def batch_loss(self, batch) -> tuple[torch.Tensor, Callable[[], float]]:
        x, y = batch
        ctx = self.ctx
        x_local, y_local, share = ctx.shard(x.to(self.device), y.to(self.device))
        loss = self._step_loss(x_local, y_local, self._weights)
        if not ctx.enabled:
            return loss, loss.item
        # The global batch's mean loss (a single process keeps the plain value, bit for bit).
        return loss * share, lambda: ctx.sum(loss.item() * y_local.numel()) / y.numel()

    def validate(self, epoch: int) -> dict:
        return {"weights": {str(k): v for k, v in self._weights.items()},
                "validation": selection_metrics(self.model, self.data.validation.epoch(0), self.cfg)}


def _progress(iterable, total: int, desc: str):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)
    return iterable


def _diverged(task: TrainingTask, cfg: RunConfig, what: str) -> DivergenceError:
    name, lr = task.lr_setting
    t = cfg.train
    return DivergenceError(f"{task.name}: {what}. Fix: lower {name} (now {lr:g}), e.g. by a factor of 10, "
                           f"and check train.grad_clip (now {t.grad_clip:g}) and train.weight_decay "
                           f"(now {t.weight_decay:g}); no results were written")


def _validate(task: TrainingTask, cfg: RunConfig, epoch: int) -> dict:
    """The task's validation fields of the epoch (1-indexed), refused unless every number is finite."""
    fields = task.validate(epoch - 1)  # an overflowing perplexity is inf (lash.evaluate.perplexity)
    bad = first_non_finite(fields)
    if bad is not None:
        raise _diverged(task, cfg, f"the validation metric {bad[0]} is {bad[1]} after epoch {epoch}")
    return fields


def _training_state(model, optimizer, result: TrainResult, best_metric: float, bad_epochs: int,
                    best_state: dict | None, finished: bool) -> dict:
    return {"epoch": result.epochs_run, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": rng_state(), "history": result.history, "best_epoch": result.best_epoch,
            "best_metric": best_metric, "bad_epochs": bad_epochs, "best_state": best_state,
            "stopped_early": result.stopped_early, "finished": finished}


def train_model(model, data, cfg: RunConfig, checkpoint: TrainingCheckpoint | None = None,
                ctx: DistContext | None = None, task: TrainingTask | None = None) -> TrainResult:
    """Train with early stopping on the validation PPL of `task` (default: the LanguageModelTask of
    cfg on data, which selects on `train.stop_metric`). With the task's restore_best the best epoch's
    weights are loaded back at the end; otherwise the last epoch's weights stay (the original).
    A training loss or validation metric that is not finite stops the run (DivergenceError).

    checkpoint: saved after every epoch and resumed from when it exists (`result.resumed_from` says
    after which epoch). ctx: the torchrun process group; each process trains on its slice of every
    batch (see lash.distributed)."""
    ctx = ctx or DistContext()
    task = task or LanguageModelTask(model, data, cfg, ctx)
    if cfg.train.kernels == "fast":
        retain_freed_memory()  # no page faults on re-allocated gradients each step
    optimizer = task.build_optimizer()
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
    task.start()
    # The total norm sums per-parameter norms in this order; the original's order with its arithmetic.
    clipped = model.original_parameter_order if cfg.train.kernels == "original" else model.parameters
    model.train()
    for epoch in range(result.epochs_run, 0 if finished else task.max_epochs):
        total_loss, n_batches = 0.0, 0
        batches = task.begin_epoch(epoch)
        for batch in _progress(batches, len(batches), f"epoch {epoch + 1}"):
            loss, loss_value = task.batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(clipped(), cfg.train.grad_clip)
            optimizer.step()
            value = loss_value()
            if not math.isfinite(value):
                raise _diverged(task, cfg, f"the training loss is {value} at epoch {epoch + 1}, "
                                f"batch {n_batches + 1} of {len(batches)}")
            total_loss += value
            n_batches += 1
        entry = {"epoch": epoch + 1, "train_loss": total_loss / max(1, n_batches),
                 **_validate(task, cfg, epoch + 1)}
        result.history.append(entry)
        result.epochs_run = epoch + 1
        val_ppl = entry["validation"]["ppl"]
        improved = val_ppl < best_metric
        if improved:
            best_metric, bad_epochs, result.best_epoch = val_ppl, 0, epoch + 1
            if task.restore_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        log.info("%s epoch %d train_loss %.4f val_ppl %.4f%s", task.name, epoch + 1, entry["train_loss"],
                 val_ppl, " (best)" if improved else "")
        result.stopped_early = bad_epochs >= task.patience
        finished = result.stopped_early or epoch + 1 == task.max_epochs
        if checkpoint is not None and ctx.is_main:
            checkpoint.save(_training_state(model, optimizer, result, best_metric, bad_epochs,
                                            best_state, finished))
        ctx.barrier()
        if result.stopped_early:
            break
    if task.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return result
