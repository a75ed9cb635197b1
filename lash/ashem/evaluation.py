"""Stage 4: two-stage routed evaluation on the report split, Hard PPL, threshold calibration and
skip-mode inference with its counted and measured speed-up (see lash.ashem)."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..data import PreparedData
from ..early_exit import (MEASURES, calibrate_threshold, collect_exit_stats, full_inference, inference_flops,
                          skip_inference)
from ..errors import CheckpointError
from ..evaluate import exit_mask, perplexity, routed_metrics
from .common import change, check_config, load_data, load_model, ppl, split_batches, split_rows
from .hard_inputs import HardInputs
from .phase1 import phase1_brief
from .phase2 import routed_eval
from .stage_files import check_data


def flat_index(hard: dict, seq_len: int) -> torch.Tensor:
    """Hard tokens' positions in per-token stats of their split (rows in .epoch(0) order)."""
    return hard["row"] * seq_len + hard["pos"]


def exited(stats, exit_layer: int, threshold: float) -> torch.Tensor:
    return exit_mask(stats.confidence[exit_layer], threshold)


def exit_summary(stats) -> dict:
    return {name: {"layer": layer, "ppl": ppl(stats.ce[name]),
                   "acc": stats.correct[name].float().mean().item()}
            for name, layer in (("shallow", stats.exit_layer), ("deep", stats.n_layers))}


def calibration_report(cfg: RunConfig, val_stats, report_stats, vocab: int, same_split: bool) -> dict:
    """Per confidence measure: the threshold calibrated on validation to the PPL budget, and the
    routed numbers at that threshold on the report split."""
    out = {"budget": cfg.ashem.calibration_budget, "calibrated_on": "validation",
           "reported_on": "validation (same tokens)" if same_split else cfg.ashem.report_split}
    for m in MEASURES:
        cal = calibrate_threshold(val_stats.confidence[m], val_stats.ce["shallow"], val_stats.ce["deep"],
                                  cfg.ashem.calibration_budget)
        r = routed_metrics(report_stats.token_stats(m), report_stats.exit_layer, cal["threshold"],
                           cfg.model, vocab, cfg.data.seq_len)
        deep_ppl = ppl(report_stats.ce["deep"])
        out[m] = {"validation": cal, "report": {**r, "ppl_full": deep_ppl,
                                                "ppl_loss": r["ppl"] / deep_ppl - 1}}
    return out


def timed_inference(model, batches, exit_layer: int, threshold: float, measure: str,
                    full_context: str, skip_context: str) -> tuple[dict, dict]:
    """Skip-mode inference over a split: its routed metrics (deterministic) and the wall time of
    full vs skip, timed batch by batch side by side (one warm-up batch first); scoring is untimed."""
    model.eval()
    device = next(model.parameters()).device
    ce, correct, n, n_exit = 0.0, 0, 0, 0
    full_s = skip_s = 0.0
    for i, (x, y) in enumerate([batches[0]] + list(batches)):
        x = x.to(device)
        t0 = time.perf_counter()
        full_inference(model, x, exit_layer, threshold, measure, full_context)
        t1 = time.perf_counter()
        out = skip_inference(model, x, exit_layer, threshold, measure, skip_context)
        t2 = time.perf_counter()
        if i == 0:  # warm-up
            continue
        full_s, skip_s = full_s + t1 - t0, skip_s + t2 - t1
        lg = out.logits.float().reshape(-1, out.logits.shape[-1])
        target = y.to(device).reshape(-1)
        ce += F.cross_entropy(lg, target, reduction="sum").double().item()
        correct += int((lg.argmax(-1) == target).sum())
        n += target.numel()
        n_exit += int(out.exited.sum())
    model.train()
    metrics = {"deep_context": skip_context, "ppl": perplexity(ce / n), "acc": correct / n,
               "exit_fraction": n_exit / n, "n_tokens": n, "n_exited": n_exit}
    return metrics, {"full_s": round(full_s, 4), "skip_s": round(skip_s, 4),
                     "speedup_measured": round(full_s / skip_s, 4)}


def _check_inputs(p2: dict, mined: dict, data: PreparedData) -> None:
    check_data(p2, data, "the phase-2 checkpoint")
    check_data(mined, data, "the mined file")
    if mined["phase1_digest"] != p2["phase1_digest"]:
        raise CheckpointError("the phase-2 model was not grown from the phase-1 model that mined these "
                              "hard tokens. Fix: pass the --mined file that `lash ashem phase2` used")


def hard_ppl_report(model, cfg: RunConfig, data: PreparedData, mined: dict, stats) -> dict:
    """Hard PPL: held-out hard tokens of the report split when there are any, else the mined ones;
    deep path in the phase-2 context, routed, and deep in the evaluation context."""
    a, seq, e = cfg.ashem, cfg.data.seq_len, cfg.ashem.phase1_layers
    needs_rows = a.phase2_context == "full" or a.freeze == "soft"
    mined_in = HardInputs(model, cfg, mined["hard"], split_rows(data, a.mine_split)[0] if needs_rows else None)
    hard_mined_ppl = mined_in.hard_ppl()
    heldout = mined["heldout"] is not None
    report_hard = mined["heldout"] if heldout else mined["hard"]
    if heldout:
        rep_in = HardInputs(model, cfg, report_hard, split_rows(data, a.report_split)[0] if needs_rows else None)
        hard_report_ppl = rep_in.hard_ppl()
    else:
        hard_report_ppl = hard_mined_ppl
    flat = flat_index(report_hard, seq)
    tok = stats.token_stats(cfg.eval.confidence)
    sh = exited(tok, e, mined["threshold"])
    hard_routed_ce = torch.where(sh, tok.ce[e], tok.ce[stats.n_layers])[flat]
    summary = mined["summary"]
    phase1_hard = summary["phase1_hard_ppl"]
    return {
        "tokens": "held-out hard tokens of the report split" if heldout
        else "the mined tokens (= phase-2 training tokens, as the original)",
        "n": int(flat.numel()),
        "ppl": hard_report_ppl,
        "ppl_context": a.phase2_context,
        "ppl_routed": ppl(hard_routed_ce),
        "ppl_deep_eval_context": ppl(stats.ce["deep"][flat]),
        "ppl_mined": hard_mined_ppl,
        "phase1_ppl": phase1_hard,
        "phase1_ppl_mined": summary["phase1_hard_ppl_mined"],
        "reduction": None if None in (hard_report_ppl, phase1_hard) else 1 - hard_report_ppl / phase1_hard,
    }


def skip_report(model, cfg: RunConfig, batches, vocab: int, threshold: float) -> tuple[dict, dict]:
    """Skip-mode inference: its metrics with the counted speed-up, and the measured timing."""
    a, m, e, seq = cfg.ashem, cfg.model, cfg.ashem.phase1_layers, cfg.data.seq_len
    skip_context = "propagate" if a.eval_context == "full" else "token"
    skip_metrics, timing = timed_inference(model, batches, e, threshold, cfg.eval.confidence,
                                           a.eval_context, skip_context)
    n_tok = skip_metrics["n_tokens"]
    f_full = inference_flops(m.dim, m.ffn_mult, a.phase2_layers, e, vocab, seq, n_tok, 0, "full", skip_context)
    f_skip = inference_flops(m.dim, m.ffn_mult, a.phase2_layers, e, vocab, seq, n_tok,
                             skip_metrics["n_exited"], "skip", skip_context)
    skip_metrics["speedup_ideal"] = f_full / f_skip
    timing["speedup_ideal"] = f_full / f_skip
    return skip_metrics, timing


def _training_compute(mined: dict, p2m: dict) -> dict:
    compute = {"phase1_flops": mined["phase1_metrics"]["training_flops"], "mining_flops": mined["mining_flops"],
               "phase2_flops": p2m["training_flops"]}
    compute["flops"] = sum(compute.values())
    return compute


def _protocol(a, split: str) -> dict:
    return {"ashem_protocol": "original" if a.mine_split == split == "validation" else "corrected",
            "mine_split": a.mine_split, "report_split": split, "select_split": "validation",
            "phase2_context": a.phase2_context, "eval_context": a.eval_context, "head": a.head, "freeze": a.freeze}


def run_evaluate(cfg: RunConfig, p2: dict, mined: dict) -> dict:
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    _check_inputs(p2, mined, data)
    a = cfg.ashem
    vocab, e, split = len(data.vocab), a.phase1_layers, a.report_split
    threshold = mined["threshold"]
    model = load_model(cfg, a.phase2_layers, vocab, p2["state_dict"])
    report_batches = split_batches(data, split).epoch(0)
    same_split = split == "validation"

    routed, stats = routed_eval(model, report_batches, cfg, threshold, vocab, a.eval_context, MEASURES)
    other = "token" if a.eval_context == "full" else "full"
    routed_other, _ = routed_eval(model, report_batches, cfg, threshold, vocab, other)
    val_stats = stats if same_split else collect_exit_stats(model, data.validation.epoch(0), e, MEASURES,
                                                            a.eval_context)
    hard = hard_ppl_report(model, cfg, data, mined, stats)
    skip_metrics, inference_timing = skip_report(model, cfg, report_batches, vocab, threshold)

    p1m, p2m = mined["phase1_metrics"], p2["metrics"]
    phase1_hard = hard["phase1_ppl"]
    headline = {"split": split, "source": f"phase 2 restored best epoch {p2m['best_epoch']}, "
                f"routed at the mined threshold", "ppl": routed["ppl"], "acc": routed["acc"],
                "shallow_fraction": routed["shallow_fraction"],
                "compute_fraction_layers": routed["compute_fraction_layers"],
                "compute_fraction_flops": routed["compute_fraction_flops"], "hard_ppl": hard["ppl"]}
    p1_report = p1m["validation"] if same_split else p1m["test"]
    metrics = {
        "headline": headline,
        "protocol": _protocol(a, split),
        "threshold": threshold, "confidence": cfg.eval.confidence, "n_hard": p2m["n_hard"],
        "mining": mined["summary"],
        "phase1": {**phase1_brief(p1m), "report": p1_report, "hard_ppl": phase1_hard,
                   "history": p1m["history"], "n_params": p1m["n_params"]},
        "phase2": {"best_epoch": p2m["best_epoch"], "epochs_run": p2m["epochs_run"],
                   "stopped_early": p2m["stopped_early"], "history": p2m["history"],
                   "n_params": p2m["n_params"], "n_trainable": p2m["n_trainable"]},
        "report": {"routed": routed, f"routed_{other}_context": routed_other, "exits": exit_summary(stats)},
        "hard_ppl": hard,
        "calibration": calibration_report(cfg, val_stats, stats, vocab, same_split),
        "skip": skip_metrics,
        "training_compute": _training_compute(mined, p2m),
        "vocab_size": vocab, "n_params": model.num_parameters(),
        "comparison": {  # against the shallow phase-1 model on the same split
            "ppl_change_vs_phase1": routed["ppl"] / p1_report["ppl"] - 1 if p1_report else None,
            "acc_change_vs_phase1": routed["acc"] - p1_report["acc"] if p1_report else None,
            "hard_ppl_change_vs_phase1": change(hard["ppl"], phase1_hard),
        },
    }
    timing = {"evaluate_s": round(time.perf_counter() - start, 3), "inference": inference_timing}
    return {"metrics": metrics, "data": data, "timing": timing, "threads": threads}
