"""Stage 2: the quantile threshold and the hard tokens of the phase-1 model (see lash.ashem)."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..early_exit import confidences, exit_hidden
from ..evaluate import flops_per_token
from ..train import DivergenceError
from .common import check_config, load_data, load_model, mining_batches, ppl, split_batches
from .phase1 import phase1_brief
from .stage_files import check_data, stage_header


def quantile_threshold(confidence: torch.Tensor, ratio: float) -> float:
    """torch.quantile with linear interpolation over every token (the original's rule)."""
    return torch.quantile(confidence.float(), ratio).item()


def hard_mask(confidence: torch.Tensor, threshold: float) -> torch.Tensor:
    """Hard = strictly below the threshold (a token at exactly the threshold is not hard)."""
    return confidence < threshold


@torch.no_grad()
def exit_states(model, batches, exit_layer: int, measure: str) -> dict[str, torch.Tensor]:
    """Per token of a split (rows in .epoch(0) order): exit state, target, confidence, CE, row, pos."""
    model.eval()
    device = next(model.parameters()).device
    out = {k: [] for k in ("h", "target", "conf", "ce", "row", "pos")}
    row0 = 0
    for x, y in batches:
        b, t = x.shape
        h = exit_hidden(model, x.to(device), exit_layer).reshape(b * t, -1)
        logits = model.head(h).float()
        target = y.to(device).reshape(-1)
        out["h"].append(h.cpu())
        out["target"].append(target.cpu())
        out["conf"].append(confidences(logits, (measure,))[measure].cpu())
        out["ce"].append(F.cross_entropy(logits, target, reduction="none").cpu())
        out["row"].append(torch.arange(row0, row0 + b).repeat_interleave(t))
        out["pos"].append(torch.arange(t).repeat(b))
        row0 += b
    model.train()
    return {k: torch.cat(v) for k, v in out.items()}


def check_confidences(conf: torch.Tensor, threshold: float, split: str) -> None:
    """Refuse a phase-1 model whose confidences are not finite: the quantile threshold would be NaN and
    no token (or every token) hard, which phase 2 would blame on ashem.hard_ratio."""
    bad = int((~torch.isfinite(conf)).sum())
    if bad or not math.isfinite(threshold):
        raise DivergenceError(f"ashem mine: the phase-1 model's confidence is not finite on {bad} of "
                              f"{conf.numel()} {split} tokens (threshold {threshold}). Fix: retrain phase 1 "
                              "(`lash ashem phase1`), e.g. with a lower ashem.phase1_lr: this phase-1 file "
                              "holds a diverged or corrupt model")


def _subset(states: dict, mask: torch.Tensor, split: str) -> dict:
    sub = {k: states[k][mask].clone() for k in ("h", "target", "conf", "row", "pos")}
    sub["split"] = split
    return sub


def run_mine(cfg: RunConfig, p1: dict) -> dict:
    """Threshold and hard tokens from the phase-1 model (see the package docstring)."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    check_data(p1, data, "the phase-1 checkpoint")
    a = cfg.ashem
    measure = cfg.eval.confidence
    model = load_model(cfg, a.phase1_layers, len(data.vocab), p1["state_dict"])
    states = exit_states(model, mining_batches(data, a), a.phase1_layers, measure)
    threshold = quantile_threshold(states["conf"], a.hard_ratio)
    check_confidences(states["conf"], threshold, a.mine_split)
    hard_sel = hard_mask(states["conf"], threshold)
    hard = _subset(states, hard_sel, a.mine_split)
    n_tokens = states["conf"].numel()
    summary = {
        "threshold": threshold, "confidence": measure, "mine_split": a.mine_split, "mine_tokens": a.mine_tokens,
        "n_tokens": n_tokens, "n_hard": int(hard_sel.sum()),
        "hard_fraction": int(hard_sel.sum()) / n_tokens,
        "mean_hard_confidence": hard["conf"].double().mean().item() if hard_sel.any() else None,
        "phase1_hard_ppl_mined": ppl(states["ce"][hard_sel]),
    }
    heldout = None
    if a.report_split != a.mine_split:
        rep = exit_states(model, split_batches(data, a.report_split).epoch(0), a.phase1_layers, measure)
        check_confidences(rep["conf"], threshold, a.report_split)
        sel = hard_mask(rep["conf"], threshold)
        heldout = _subset(rep, sel, a.report_split)
        n_rep = rep["conf"].numel()
        summary.update(report_split=a.report_split, n_heldout_tokens=n_rep,
                       n_heldout_hard=int(sel.sum()), heldout_hard_fraction=int(sel.sum()) / n_rep,
                       phase1_hard_ppl_heldout=ppl(rep["ce"][sel]))
    summary["phase1_hard_ppl"] = summary.get("phase1_hard_ppl_heldout", summary["phase1_hard_ppl_mined"])
    mining_flops = n_tokens * flops_per_token(cfg.model.dim, a.phase1_layers, len(data.vocab),
                                              cfg.data.seq_len, cfg.model.ffn_mult, 1)  # forward only
    ck = {**stage_header("ashem_mined", cfg, data), "threshold": threshold, "hard": hard,
          "heldout": heldout, "summary": summary, "phase1_digest": p1["state_digest"],
          "phase1_metrics": p1["metrics"], "mining_flops": mining_flops}
    timing = {"total_s": round(time.perf_counter() - start, 3)}
    return {"checkpoint": ck, "metrics": {**summary, "phase1": phase1_brief(p1["metrics"])},
            "data": data, "timing": timing, "threads": threads}
