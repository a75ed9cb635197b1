"""`lash bench train`: tokens/s of a full training step, lash (fast and reference kernels) side by
side with transformers.LlamaForCausalLM of the same size, and the fp32 matrix-product peak.

A step is forward, backward, clip_grad_norm_(1.0) and AdamW (lr 1e-3, weight decay 0.01), exactly
as in `lash.train.train_model`. All contenders run in one process on identical inputs, interleaved
round by round, so a shared or throttled machine slows them alike; ratios are taken per round.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F

from .config import ModelConfig
from .evaluate import flops_per_token
from .fused import retain_freed_memory
from .model import LashTransformer
from .train import active_exits, build_optimizer, training_loss

WORKLOADS: dict[str, dict] = {
    # char-level (D1): exits 1 and 3 carry a loss (asymmetric_best)
    "char": {"V": 96, "dim": 64, "layers": 3, "heads": 4, "seq": 64, "batch": 32,
             "weights": {1: 0.7, 2: 0.0, 3: 0.3}},
    # word-level WikiText-2 (D2): loss at the last layer only
    "word": {"V": 33_278, "dim": 64, "layers": 2, "heads": 4, "seq": 32, "batch": 64,
             "weights": {1: 0.0, 2: 1.0}},
}


def make_step(workload: dict, kernels: str = "fast", seed: int = 0, retain_memory: bool = True):
    """(model, loss_fn): loss_fn(x, y) is the training loss of the workload (weights {layer: w},
    unnormalised weighted sum of exit cross-entropies) with lash's `kernels` (default: fastest).
    With retain_memory the process-wide allocator setting of `lash.fused.retain_freed_memory` is
    applied (as `lash train` does); it helps any PyTorch model in the process alike."""
    if retain_memory:
        retain_freed_memory()
    torch.manual_seed(seed)
    model = LashTransformer(ModelConfig(dim=workload["dim"], n_layers=workload["layers"],
                                        n_heads=workload["heads"]), workload["V"])
    weights = {int(k): float(v) for k, v in workload["weights"].items()}

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return training_loss(model, x, y, weights, False, kernels)

    return model, loss_fn


def make_llama_step(workload: dict, seed: int = 0):
    """LlamaForCausalLM of the same size (hidden dim, 4*dim SwiGLU, heads, layers, vocab, untied,
    no dropout, RoPE base 10000, SDPA attention, fp32); loss = CE of the last layer only."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=workload["V"], hidden_size=workload["dim"],
                      intermediate_size=4 * workload["dim"], num_hidden_layers=workload["layers"],
                      num_attention_heads=workload["heads"], num_key_value_heads=workload["heads"],
                      max_position_embeddings=1024, rms_norm_eps=1e-6, rope_theta=10000.0,
                      tie_word_embeddings=False, attention_dropout=0.0, use_cache=False)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).float()
    model.train()

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=x, use_cache=False).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    return model, loss_fn


def _step_fn(model, loss_fn, optimizer, x, y) -> Callable[[], float]:
    def step() -> float:
        loss = loss_fn(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    return step


def step_flops(workload: dict) -> float:
    """Matrix-product FLOPs of one training step (3 x forward) of the lash workload: blocks up to
    the deepest weighted exit, the head at every weighted exit; embedding lookups not counted."""
    exits = active_exits(workload["weights"], workload["layers"])
    fwd = flops_per_token(workload["dim"], max(exits), workload["V"], workload["seq"], 4, len(exits))
    return 3 * fwd * workload["batch"] * workload["seq"]


def matmul_peak(seconds: float = 1.0, n: int = 1024) -> dict:
    """fp32 GFLOP/s of an n x n x n matrix product: median (sustained) and best over repeated timings."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    flop = 2 * n ** 3 / 1e9
    return {"median": flop / statistics.median(times), "best": flop / min(times)}


def bench_workload(name: str, workload: dict, rounds: int, steps: int, with_llama: bool,
                   log=print, retain_memory: bool = True) -> dict:
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, workload["V"], (workload["batch"], workload["seq"]), generator=g)
    y = torch.randint(0, workload["V"], (workload["batch"], workload["seq"]), generator=g)
    contenders = {}
    for kernels in ("fast", "reference"):
        model, loss_fn = make_step(workload, kernels, retain_memory=retain_memory)
        opt = build_optimizer(model, 1e-3, None, 0.01, fused=kernels == "fast")
        contenders[f"lash_{kernels}"] = _step_fn(model, loss_fn, opt, x, y)
    llama_note = None
    if with_llama:
        try:
            model, loss_fn = make_llama_step(workload)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, foreach=True)
            contenders["llama"] = _step_fn(model, loss_fn, opt, x, y)
        except ImportError:
            llama_note = "transformers is not installed (pip install 'lash[bench]'): Llama skipped"
            log(llama_note)
    tokens = workload["batch"] * workload["seq"]
    for step in contenders.values():  # warm-up
        step()
        step()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    peaks = []
    for r in range(rounds):
        peaks.append(matmul_peak(0.5)["median"])
        for key, step in contenders.items():
            t = time.perf_counter()
            for _ in range(steps):
                step()
            times[key].append((time.perf_counter() - t) / steps)
        log(f"{name} round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {tokens / v[-1]:,.0f} tok/s" for k, v in times.items()) + f", matmul {peaks[-1]:.0f} GFLOP/s")
    flops = step_flops(workload)
    out = {"workload": {**workload, "weights": {str(k): v for k, v in workload["weights"].items()}},
           "tokens_per_step": tokens, "step_gflop": flops / 1e9,
           # the sustained (median) 1024^3 sgemm rate, median over the rounds of this run
           "matmul_peak_gflops": statistics.median(peaks), "matmul_gflops_per_round": peaks,
           "contenders": {}}
    for key, ts in times.items():
        med = statistics.median(ts)
        out["contenders"][key] = {"step_ms": med * 1e3, "tokens_per_s": tokens / med,
                                  "step_ms_all": [t * 1e3 for t in ts]}
    fast = times["lash_fast"]
    out["lash_fast_gflops"] = flops / statistics.median(fast) / 1e9
    out["lash_fast_fraction_of_peak"] = out["lash_fast_gflops"] / out["matmul_peak_gflops"]
    ratios = {"fast_vs_reference": statistics.median(
        [r / f for f, r in zip(fast, times["lash_reference"])])}
    if "llama" in times:
        ratios["fast_vs_llama"] = statistics.median([ll / f for f, ll in zip(fast, times["llama"])])
        ratios["reference_vs_llama"] = statistics.median(
            [ll / r for r, ll in zip(times["lash_reference"], times["llama"])])
    out["speedup"] = ratios
    if llama_note:
        out["note"] = llama_note
    return out


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform()}
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def to_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['torch_threads']} torch thread(s), torch {m['torch']}"
             + (f", transformers {m['transformers']}" if "transformers" in m else "")
             + f", Python {m['python']}; {report['rounds']} interleaved rounds x {report['steps_per_round']} steps, "
             "medians.", "",
             "| workload | contender | step ms | tokens/s | vs Llama | GFLOP/s (lash step FLOPs) | matmul peak GFLOP/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, r in report["workloads"].items():
        llama = r["contenders"].get("llama")
        for key, c in r["contenders"].items():
            vs = f"{c['tokens_per_s'] / llama['tokens_per_s']:.2f}x" if llama else "n/a"
            gf = f"{r['step_gflop'] * 1e3 / c['step_ms']:.0f}" if key.startswith("lash") else "-"
            lines.append(f"| {name} | {key} | {c['step_ms']:.1f} | {c['tokens_per_s']:,.0f} | {vs} | {gf} | "
                         f"{r['matmul_peak_gflops']:.0f} |")
    lines.append("")
    for name, r in report["workloads"].items():
        lines.append(f"- {name}: fast/reference {r['speedup']['fast_vs_reference']:.2f}x"
                     + (f", fast/Llama {r['speedup']['fast_vs_llama']:.2f}x" if "fast_vs_llama" in r["speedup"] else "")
                     + f" (medians of per-round ratios); fast = {r['lash_fast_fraction_of_peak']:.2f} of the matmul peak"
                     + (f"; {r['note']}" if "note" in r else ""))
    return "\n".join(lines) + "\n"


def run_train_bench(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    if not args.no_retain_memory:
        retain_freed_memory()  # applies to every contender in this process alike
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    report = {"machine": machine(), "rounds": args.rounds, "steps_per_round": args.steps,
              "retain_freed_memory": not args.no_retain_memory, "workloads": {}}
    for name in names:
        report["workloads"][name] = bench_workload(name, WORKLOADS[name], args.rounds, args.steps,
                                                   not args.no_llama, log, not args.no_retain_memory)
    for name, r in report["workloads"].items():
        c = r["contenders"]
        line = f"{name}: " + ", ".join(f"{k} {v['tokens_per_s']:,.0f} tok/s" for k, v in c.items())
        line += (f"; fast {r['lash_fast_gflops']:.0f} GFLOP/s = {r['lash_fast_fraction_of_peak']:.2f} "
                 f"of matmul peak {r['matmul_peak_gflops']:.0f}; "
                 + ", ".join(f"{k} {v:.2f}x" for k, v in r["speedup"].items()))
        print(line)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(to_markdown(report))
    return 0


def add_parsers(bench_subparsers) -> None:
    """Register `train` under the `lash bench` sub-command parsers."""
    p = bench_subparsers.add_parser("train", help="tokens/s of a training step: lash vs LlamaForCausalLM")
    p.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--steps", type=int, default=5, help="steps per contender per round")
    p.add_argument("--no-llama", action="store_true", help="skip LlamaForCausalLM")
    p.add_argument("--no-retain-memory", action="store_true",
                   help="leave glibc's allocator at its defaults (see lash.fused.retain_freed_memory)")
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--md", help="write a Markdown table of the results here")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run_train_bench)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lash bench")
    add_parsers(parser.add_subparsers(dest="bench", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
