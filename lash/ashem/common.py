"""What every ASHEM stage shares: config checks, the RunConfig of one training phase, data and split
helpers, last-layer LM metrics, training FLOPs, and loading a stage's model."""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..data import PreparedData, prepare_data
from ..early_exit import retain_freed_memory
from ..errors import ConfigError
from ..evaluate import flops_per_token, perplexity
from ..model import LashTransformer
from ..seeding import configure_torch, seed_everything

log = logging.getLogger("lash.ashem")


def check_config(cfg: RunConfig) -> None:
    a = cfg.ashem
    if cfg.model.n_layers != a.phase2_layers:
        raise ConfigError("model.n_layers", f"{cfg.model.n_layers} differs from ashem.phase2_layers "
                          f"{a.phase2_layers} (the grown model)",
                          f"set both to the same depth, e.g. --set model.n_layers={a.phase2_layers}")
    if a.mine_split == "train" and a.report_split == "validation":
        log.warning("hard tokens mined on train but reported on validation, which also selects the "
                    "phase-2 epoch; use ashem.report_split=test for a clean report")
    if a.report_split == "test" and cfg.data.test_size == 0:
        raise ConfigError("ashem.report_split", "is test but data.test_size is 0",
                          "set data.test_size (e.g. 66000) or ashem.report_split=validation")


def phase_config(cfg: RunConfig, n_layers: int, lr: float, patience: int, max_epochs: int,
                 layer_weights: dict[int, float]) -> RunConfig:
    """The RunConfig that lash.train.train_model runs for one phase: early stopping on the last
    exit's validation PPL with the best state restored (the original train_with_early_stopping)."""
    c = copy.deepcopy(cfg)
    c.model.n_layers = n_layers
    c.layer_weights = dict(layer_weights)
    c.layer_lr_scales = None
    c.routing_threshold = 0.0
    c.train.lr, c.train.patience, c.train.max_epochs = lr, patience, max_epochs
    c.train.restore_best, c.train.stop_metric = True, "final"
    c.train.alpha_schedule, c.train.normalize_weights = None, False
    c.eval.exit_layer = min(c.eval.exit_layer, n_layers)
    return c


def load_data(cfg: RunConfig) -> tuple[PreparedData, int]:
    threads = configure_torch(cfg.train.threads, cfg.train.device)
    retain_freed_memory()  # every stage frees and re-allocates multi-megabyte logits
    seed_everything(cfg.seed)
    return prepare_data(cfg.data, cfg.seed), threads


def split_batches(data: PreparedData, split: str):
    batches = {"train": data.train, "validation": data.validation, "test": data.test}[split]
    if batches is None:
        raise ConfigError("data.test_size", f"the {split} split is absent",
                          "set data.test_size > 0 or choose another ashem split")
    return batches


def mining_batches(data: PreparedData, a) -> list:
    """The batches hard tokens are mined from: mine_split, cut after `mine_tokens` tokens (whole
    batches, at least one). A prefix, so row r stays row r of split_rows(data, mine_split)."""
    batches = split_batches(data, a.mine_split).epoch(0)
    if a.mine_tokens is None:
        return batches
    kept, n = [], 0
    for x, y in batches:
        if kept and n + y.numel() > a.mine_tokens:
            break
        kept.append((x, y))
        n += y.numel()
    return kept


def split_rows(data: PreparedData, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All rows of a split in the order of .epoch(0): row r of the result is row r of the mining pass."""
    batches = split_batches(data, split).epoch(0)
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


@torch.no_grad()
def lm_metrics(model, batches) -> dict:
    """PPL and accuracy of the last layer."""
    model.eval()
    device = next(model.parameters()).device
    ce, correct, n = 0.0, 0, 0
    for x, y in batches:
        logits = model(x.to(device)).float().reshape(-1, model.vocab_size)
        target = y.to(device).reshape(-1)
        ce += F.cross_entropy(logits, target, reduction="sum").double().item()
        correct += int((logits.argmax(-1) == target).sum())
        n += target.numel()
    model.train()
    return {"ppl": perplexity(ce / n), "acc": correct / n, "loss": ce / n, "n_tokens": n}


def ppl(ce: torch.Tensor) -> float | None:
    """exp(mean CE) of per-token cross-entropies; None (JSON null) over zero tokens."""
    return perplexity(ce.double().mean().item()) if ce.numel() else None


def change(new: float | None, old: float | None) -> float | None:
    """new / old - 1, or None when either has no value."""
    return None if new is None or old is None else new / old - 1


def train_flops(cfg: RunConfig, n_layers: int, vocab: int, tokens: int, n_heads: int = 1) -> float:
    m = cfg.model
    return 3 * tokens * flops_per_token(m.dim, n_layers, vocab, cfg.data.seq_len, m.ffn_mult, n_heads)


def load_model(cfg: RunConfig, n_layers: int, vocab: int, state: dict) -> LashTransformer:
    model = LashTransformer.for_run(cfg, vocab, n_layers)
    model.load_state_dict(state)
    return model.to(cfg.train.device)
