"""Evaluation: per-exit perplexity/accuracy/calibration and confidence-routed evaluation.

One pass over a split collects per-token statistics at every exit; routing at any threshold,
the threshold sweep and calibration are then cheap vectorised functions of those statistics.
Routing follows the original (`_evaluate_routing`): a token takes the shallow exit when its
confidence >= threshold, else the deep exit; threshold 1.0 means no token exits (the sweep's
"1.0 = none", also when a float32 probability rounds to exactly 1.0); 0.0 means every token exits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def perplexity(mean_ce: float) -> float:
    """exp(mean cross-entropy); inf (not an OverflowError) for a model so bad that it overflows, so the
    callers' finiteness checks (training's divergence check, strict JSON) refuse it cleanly."""
    return math.exp(mean_ce) if mean_ce < 709.0 else math.inf


@dataclass
class TokenStats:
    """Per-token statistics of one split. Each dict is keyed by exit layer; tensors are [N]."""

    ce: dict[int, torch.Tensor]
    correct: dict[int, torch.Tensor]
    max_prob: dict[int, torch.Tensor]
    confidence: dict[int, torch.Tensor]
    batch_index: torch.Tensor
    n_layers: int


def confidence_from_logits(logits: torch.Tensor, measure: str = "max_prob",
                           probs: torch.Tensor | None = None) -> torch.Tensor:
    """Confidence in [0, 1]: max softmax probability (the original), top-2 margin, or 1 - normalised
    entropy. `probs`: the softmax of `logits` when the caller has it already (it is not recomputed)."""
    probs = logits.float().softmax(-1) if probs is None else probs
    if measure == "max_prob":
        return probs.max(-1).values
    if measure == "margin":
        top2 = probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    if measure == "entropy":
        logp = logits.float().log_softmax(-1)
        entropy = -(probs * logp).sum(-1)
        return 1.0 - entropy / math.log(logits.shape[-1])
    raise ValueError(f"unknown confidence measure {measure!r}")


@torch.no_grad()
def collect_token_stats(model, batches, exits=None, measure: str = "max_prob") -> TokenStats:
    model.eval()
    exits = sorted(set(exits or range(1, model.n_layers + 1)))
    acc = {name: {k: [] for k in exits} for name in ("ce", "correct", "max_prob", "confidence")}
    batch_index = []
    device = next(model.parameters()).device
    for b, (x, y) in enumerate(batches):
        x, y = x.to(device), y.to(device)
        logits = model.forward_exits(x, exits)
        for k in exits:
            lg = logits[k].float().reshape(-1, logits[k].shape[-1])
            target = y.reshape(-1)
            acc["ce"][k].append(F.cross_entropy(lg, target, reduction="none").cpu())
            probs = lg.softmax(-1)  # once per exit: max_prob and the confidence measure share it
            max_prob = probs.max(-1).values
            acc["max_prob"][k].append(max_prob.cpu())
            acc["correct"][k].append((lg.argmax(-1) == target).cpu())
            confidence = max_prob if measure == "max_prob" else confidence_from_logits(lg, measure, probs)
            acc["confidence"][k].append(confidence.cpu())
        batch_index.append(torch.full((y.numel(),), b, dtype=torch.long))
    model.train()
    cat = {name: {k: torch.cat(v) for k, v in d.items()} for name, d in acc.items()}
    return TokenStats(cat["ce"], cat["correct"], cat["max_prob"], cat["confidence"],
                      torch.cat(batch_index), model.n_layers)


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 15) -> float:
    """ECE with equal-width bins over (0, 1]: sum_b |acc_b - conf_b| * n_b / n."""
    edges = torch.linspace(0, 1, bins + 1)
    which = torch.bucketize(confidence, edges[1:-1], right=False)
    ece = 0.0
    n = confidence.numel()
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += abs(correct[sel].float().mean().item() - confidence[sel].double().mean().item()) * sel.sum().item() / n
    return ece


def reliability_table(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 15) -> list[dict]:
    edges = torch.linspace(0, 1, bins + 1)
    which = torch.bucketize(confidence, edges[1:-1], right=False)
    rows = []
    for b in range(bins):
        sel = which == b
        count = int(sel.sum())
        rows.append({
            "bin_low": round(edges[b].item(), 6), "bin_high": round(edges[b + 1].item(), 6), "count": count,
            "confidence": confidence[sel].double().mean().item() if count else None,
            "accuracy": correct[sel].float().mean().item() if count else None,
        })
    return rows


def exit_metrics(stats: TokenStats, layer: int, ece_bins: int = 15) -> dict:
    ce = stats.ce[layer].double()
    return {
        "loss": ce.mean().item(),
        "ppl": perplexity(ce.mean().item()),
        "acc": stats.correct[layer].float().mean().item(),
        "ece": expected_calibration_error(stats.max_prob[layer], stats.correct[layer], ece_bins),
        "mean_confidence": stats.max_prob[layer].double().mean().item(),
    }


def flops_per_token(dim: int, n_blocks: int, vocab_size: int, seq_len: int, ffn_mult: int = 4,
                    n_heads_applied: int = 1) -> float:
    """Forward FLOPs of one token: blocks (projections, causal attention at mean context, SwiGLU) + heads."""
    mean_context = (seq_len + 1) / 2
    per_block = 2 * 4 * dim * dim + 2 * 2 * dim * mean_context + 2 * 3 * dim * ffn_mult * dim
    return n_blocks * per_block + n_heads_applied * 2 * dim * vocab_size


def exit_mask(confidence: torch.Tensor, threshold: float) -> torch.Tensor:
    if threshold >= 1.0:
        return torch.zeros_like(confidence, dtype=torch.bool)
    return confidence >= threshold


def routed_metrics(stats: TokenStats, exit_layer: int, threshold: float, model_cfg=None,
                   vocab_size: int | None = None, seq_len: int | None = None) -> dict:
    """Routed PPL/accuracy, shallow fraction and compute fractions (layers, and FLOPs with heads)."""
    deep = stats.n_layers
    shallow = exit_mask(stats.confidence[exit_layer], threshold)
    ce = torch.where(shallow, stats.ce[exit_layer], stats.ce[deep]).double()
    correct = torch.where(shallow, stats.correct[exit_layer], stats.correct[deep])
    # The original averages the per-batch layer fraction over batches.
    n_batches = int(stats.batch_index.max().item()) + 1
    per_batch_tokens = torch.bincount(stats.batch_index, minlength=n_batches).double()
    per_batch_shallow = torch.bincount(stats.batch_index, weights=shallow.double(), minlength=n_batches)
    layer_cost = (per_batch_shallow * exit_layer + (per_batch_tokens - per_batch_shallow) * deep) / (
        per_batch_tokens * deep)
    out = {
        "threshold": threshold,
        "exit_layer": exit_layer,
        "ppl": perplexity(ce.mean().item()),
        "acc": correct.float().mean().item(),
        "shallow_fraction": shallow.double().mean().item(),
        "compute_fraction_layers": layer_cost.mean().item(),
    }
    if model_cfg is not None:
        full = flops_per_token(model_cfg.dim, deep, vocab_size, seq_len, model_cfg.ffn_mult, 1)
        f_sh = flops_per_token(model_cfg.dim, exit_layer, vocab_size, seq_len, model_cfg.ffn_mult, 1)
        # A token that does not exit has paid for the shallow head (its confidence) and the final head.
        f_deep = flops_per_token(model_cfg.dim, deep, vocab_size, seq_len, model_cfg.ffn_mult, 2)
        frac = shallow.double().mean().item()
        out["compute_fraction_flops"] = (frac * f_sh + (1 - frac) * f_deep) / full
    return out


def split_report(model, batches, cfg, vocab_size: int) -> dict:
    """Everything reported for one split: every exit, routing at the run's threshold, the sweep."""
    stats = collect_token_stats(model, batches, measure=cfg.eval.confidence)
    n = model.n_layers
    exits = {str(k): exit_metrics(stats, k, cfg.eval.ece_bins) for k in range(1, n + 1)}
    route = lambda thr: routed_metrics(stats, cfg.eval.exit_layer, thr, cfg.model, vocab_size,  # noqa: E731
                                       cfg.data.seq_len)
    report = {
        "n_tokens": int(stats.batch_index.numel()),
        "final": exits[str(n)],
        "exits": exits,
        "sweep": [route(float(t)) for t in cfg.eval.sweep_thresholds],
        "reliability": {str(k): reliability_table(stats.max_prob[k], stats.correct[k], cfg.eval.ece_bins)
                        for k in sorted({cfg.eval.exit_layer, n})},
    }
    report["routed"] = route(cfg.routing_threshold) if cfg.routing_threshold > 0 else None
    headline = report["routed"] or report["final"]
    report["ppl"], report["acc"] = headline["ppl"], headline["acc"]
    return report


def selection_metrics(model, batches, cfg) -> dict:
    """The per-epoch validation numbers: final-exit and (when routing is on) routed PPL/accuracy."""
    exits = sorted({cfg.eval.exit_layer, model.n_layers})
    stats = collect_token_stats(model, batches, exits=exits, measure=cfg.eval.confidence)
    final = exit_metrics(stats, model.n_layers, cfg.eval.ece_bins)
    out = {"final_ppl": final["ppl"], "final_acc": final["acc"]}
    if cfg.routing_threshold > 0:
        r = routed_metrics(stats, cfg.eval.exit_layer, cfg.routing_threshold)
        out.update(routed_ppl=r["ppl"], routed_acc=r["acc"], shallow_fraction=r["shallow_fraction"],
                   compute_fraction_layers=r["compute_fraction_layers"])
    use_routed = cfg.train.stop_metric == "routed" and cfg.routing_threshold > 0
    out["ppl"] = out["routed_ppl"] if use_routed else out["final_ppl"]
    out["acc"] = out["routed_acc"] if use_routed else out["final_acc"]
    return out
