"""`lash bench early-exit`: wall time of `full` against `skip` early-exit inference.

Teacher-forced rows (one forward over [batch, seq_len] tokens) at batch 1 and 32, and greedy
generation rows (tokens per second, KV cache). Timing does not depend on what the weights have
learned, only on which tokens exit, so the model is a freshly initialised one of the ASHEM shape
(word-level WikiText-2: dim 64, 4 heads, exit at layer 2 of 4, vocabulary 33,278) and the threshold
of each row is the quantile of its own shallow confidences that makes the target fraction exit.

speedup_ideal = FLOPs of full / FLOPs of skip, counting the work each path really does (both heads
for every token in full; the shallow head for every token, deep blocks and head for non-exited
tokens, and state-propagation key/value projections for exited ones in skip).
speedup_measured = median full time / median skip time, measured side by side in one process
(warm-up first, then alternating repeats).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time

import torch

from . import early_exit as ee
from .config import ModelConfig
from .model import LashTransformer

#: name -> (model shape, exit layer). "ashem": the ASHEM word-level model (head-dominated);
#: "deep_stack": one shallow block under seven deep ones (block-dominated; full run only).
MODELS = {
    "ashem": (dict(dim=64, n_heads=4, n_layers=4), 2, 33_278),
    "deep_stack": (dict(dim=256, n_heads=4, n_layers=8), 1, 8_192),
}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time_pair(run_full, run_skip, repeats: int, device: str, min_sample_s: float = 0.25
               ) -> tuple[float, float]:
    """Median wall time per call of two callables: warmed up, then timed alternately; a sample
    runs a callable k times (k chosen so a sample takes >= min_sample_s) to beat timer noise."""
    run_full(), run_skip()
    _sync(device)
    t0 = time.perf_counter()
    run_full()
    _sync(device)
    k = max(1, math.ceil(min_sample_s / max(time.perf_counter() - t0, 1e-6)))
    full, skip = [], []
    for _ in range(repeats):
        for fn, acc in ((run_full, full), (run_skip, skip)):
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            _sync(device)
            acc.append((time.perf_counter() - t0) / k)
    return statistics.median(full), statistics.median(skip)


def _model(name: str, device: str, seed: int = 0):
    shape, exit_layer, vocab = MODELS[name]
    torch.manual_seed(seed)
    cfg = ModelConfig(**shape)
    return LashTransformer(cfg, vocab).to(device).eval(), cfg, exit_layer, vocab


@torch.no_grad()
def teacher_forced_rows(name: str, device: str, batch: int, seq_len: int, exit_fraction: float,
                        repeats: int) -> list[dict]:
    model, cfg, e, vocab = _model(name, device)
    x = torch.randint(0, vocab, (batch, seq_len), generator=torch.Generator().manual_seed(1)).to(device)
    conf = ee.confidences(model.head(ee.exit_hidden(model, x, e)), ("max_prob",))["max_prob"]
    threshold = torch.quantile(conf.flatten().float().cpu(), 1 - exit_fraction).item()
    rows = []
    for skip_ctx, full_ctx in (("propagate", "full"), ("token", "token")):
        def full(full_ctx=full_ctx):  # bound now: the loop variable moves on
            return ee.full_inference(model, x, e, threshold, deep_context=full_ctx)

        def skip(skip_ctx=skip_ctx):
            return ee.skip_inference(model, x, e, threshold, deep_context=skip_ctx)

        t_full, t_skip = _time_pair(full, skip, repeats, device)
        n, n_exit = batch * seq_len, int(skip().exited.sum())
        args = (cfg.dim, cfg.ffn_mult, cfg.n_layers, e, vocab, seq_len, n)
        ideal = (ee.inference_flops(*args, 0, "full", skip_ctx)
                 / ee.inference_flops(*args, n_exit, "skip", skip_ctx))
        common = {"model": name, "device": device, "batch": batch, "seq_len": seq_len,
                  "threshold": threshold, "exit_fraction": n_exit / n, "deep_context": skip_ctx}
        rows.append({**common, "mode": "full", "speedup_ideal": 1.0, "speedup_measured": 1.0,
                     "time_s": t_full, "tokens_per_s": n / t_full})
        rows.append({**common, "mode": "skip", "speedup_ideal": ideal,
                     "speedup_measured": t_full / t_skip, "efficiency": t_full / t_skip / ideal,
                     "time_s": t_skip, "tokens_per_s": n / t_skip})
    return rows


@torch.no_grad()
def generation_rows(name: str, device: str, batch: int, prompt_len: int, new_tokens: int,
                    exit_fraction: float, repeats: int) -> list[dict]:
    model, cfg, e, vocab = _model(name, device)
    prompt = torch.randint(0, vocab, (batch, prompt_len),
                           generator=torch.Generator().manual_seed(2)).to(device)
    # threshold from the confidences of a run without exits (the trajectory shifts a little once
    # tokens exit, so the realised exit fraction is reported, not the target)
    ref = ee.generate(model, prompt, new_tokens, e, 1.0, mode="full")
    threshold = torch.quantile(ref.confidence.flatten().float().cpu(), 1 - exit_fraction).item()

    def full():
        return ee.generate(model, prompt, new_tokens, e, threshold, mode="full")

    def skip():
        return ee.generate(model, prompt, new_tokens, e, threshold, mode="skip")

    t_full, t_skip = _time_pair(full, skip, repeats, device)
    out = skip()
    args = (cfg.dim, cfg.ffn_mult, cfg.n_layers, e, vocab, prompt_len, new_tokens, batch, out.n_deep_rows)
    ideal = ee.generation_flops(*args, "full") / ee.generation_flops(*args, "skip")
    n = batch * new_tokens
    common = {"model": name, "device": device, "batch": batch, "prompt_len": prompt_len,
              "new_tokens": new_tokens, "threshold": threshold,
              "exit_fraction": out.exited.float().mean().item(), "deep_context": "propagate"}
    return [
        {**common, "mode": "generate_full", "speedup_ideal": 1.0, "speedup_measured": 1.0,
         "time_s": t_full, "tokens_per_s": n / t_full},
        {**common, "mode": "generate_skip", "speedup_ideal": ideal, "speedup_measured": t_full / t_skip,
         "efficiency": t_full / t_skip / ideal, "time_s": t_skip, "tokens_per_s": n / t_skip},
    ]


def machine_info(device: str, threads: int) -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "torch_threads": threads}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_bench(smoke: bool = False, threads: int = 1, device: str = "auto",
              repeats: int | None = None) -> dict:
    torch.set_num_threads(threads)
    retained = ee.retain_freed_memory()
    devices = ["cpu"]
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        devices = ["cuda"] if device == "cuda" else ["cpu", "cuda"]
    repeats = repeats or (5 if smoke else 7)
    models = ["ashem"] if smoke else list(MODELS)
    fractions = [0.5] if smoke else [0.25, 0.5, 0.75]
    new_tokens = 16 if smoke else 32
    start = time.perf_counter()
    rows = []
    for dev in devices:
        for name in models:
            for frac in fractions:
                for batch in (1, 32):
                    rows += teacher_forced_rows(name, dev, batch, 32, frac, repeats)
            for batch in (1, 32):
                rows += generation_rows(name, dev, batch, 16, new_tokens, 0.5, repeats)
    skip_rows = [r for r in rows if r["mode"] == "skip"]
    return {
        "benchmark": "early-exit",
        "smoke": smoke,
        "rows": rows,
        "summary": {"min_efficiency_skip": min(r["efficiency"] for r in skip_rows),
                    "target": "speedup_measured >= 0.8 x speedup_ideal for skip at batch 1 and 32",
                    "target_met": all(r["efficiency"] >= 0.8 for r in skip_rows if r["model"] == "ashem")},
        "machine": {d: machine_info(d, threads) for d in devices},
        "allocator": "freed memory retained" if retained else "default",
        "repeats": repeats,
        "wall_s": round(time.perf_counter() - start, 3),
    }
