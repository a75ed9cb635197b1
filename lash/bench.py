"""`lash bench train`: tokens/s of a full training step, lash (fast and reference kernels) side by
side with transformers.LlamaForCausalLM of the same size, the head's three sgemms alone (the floor
of any faithful step) and the fp32 matrix-product peak.

A step is forward, backward, clip_grad_norm_(1.0) and AdamW (lr 1e-3, weight decay 0.01), exactly
as in `lash.train.train_model`. All contenders run in one process on identical inputs, interleaved
round by round in an order shuffled each round, so a shared or throttled machine slows them alike;
ratios are taken per round and reported with their quartiles.

`lash bench fast-path` (run_fast_path_bench): the published final-layer-only fast path (PAPER_SPEC
5.2) as the same kind of side-by-side timing: one training step of the Standard 3-layer word-level
model with its loss at the last exit, with the head at the last exit only against the head after
every block, each round's times recorded for the claim's interval over rounds.
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from .config import ModelConfig
from .environment import cpu_info
from .evaluate import flops_per_token
from .fused import retain_freed_memory
from .model import LashTransformer
from .provenance import provenance
from .train import active_exits, build_optimizer, training_loss, weighted_exit_loss

WORKLOADS: dict[str, dict] = {
    # char-level (D1): exits 1 and 3 carry a loss (asymmetric_best)
    "char": {"V": 96, "dim": 64, "layers": 3, "heads": 4, "seq": 64, "batch": 32,
             "weights": {1: 0.7, 2: 0.0, 3: 0.3}},
    # word-level WikiText-2 (D2): loss at the last layer only
    "word": {"V": 33_278, "dim": 64, "layers": 2, "heads": 4, "seq": 32, "batch": 64,
             "weights": {1: 0.0, 2: 1.0}},
}


def make_step(workload: dict, kernels: str = "fast", seed: int = 0, retain_memory: bool = True,
              compile_blocks: bool = False):
    """(model, loss_fn): loss_fn(x, y) is the training loss of the workload (weights {layer: w},
    unnormalised weighted sum of exit cross-entropies) with lash's `kernels` (default: fastest).
    With retain_memory the process-wide allocator setting of `lash.fused.retain_freed_memory` is
    applied (as `lash train` does); it helps any PyTorch model in the process alike.
    compile_blocks: torch.compile each block's fast forward (not used by `lash train`: the compile
    time exceeds what it saves in the paper's runs; see benchmarks/README.md)."""
    if retain_memory:
        retain_freed_memory()
    torch.manual_seed(seed)
    model = LashTransformer(ModelConfig(dim=workload["dim"], n_layers=workload["layers"],
                                        n_heads=workload["heads"]), workload["V"])
    weights = {int(k): float(v) for k, v in workload["weights"].items()}
    if compile_blocks:
        for block in model.blocks:
            block.forward_fast = torch.compile(block.forward_fast)

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


def random_batch(workload: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The benchmarks' one batch: uniform random token ids (inputs, targets), generator seed 1."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, workload["V"], (workload["batch"], workload["seq"]), generator=g)
    y = torch.randint(0, workload["V"], (workload["batch"], workload["seq"]), generator=g)
    return x, y


def workload_record(workload: dict) -> dict:
    """A workload as JSON writes it (the exit weights keyed by strings)."""
    return {**workload, "weights": {str(k): v for k, v in workload["weights"].items()}}


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


def head_products(workload: dict) -> Callable[[], None]:
    """The three fp32 products of the output head that any faithful training step performs, each as
    one full-size sgemm: logits Z = H W^T, dH = G W and dW = G^T H, with H [N, D] the rows of every
    weighted exit and G [N, V] the logits' gradient. Nothing else (no softmax, no body)."""
    exits = active_exits(workload["weights"], workload["layers"])
    n, d, v = workload["batch"] * workload["seq"] * len(exits), workload["dim"], workload["V"]
    h, w_t, w = torch.randn(n, d), torch.randn(d, v), torch.randn(v, d)
    z, dh, dw = torch.empty(n, v), torch.empty(n, d), torch.empty(v, d)

    def run() -> None:
        torch.mm(h, w_t, out=z)
        torch.mm(z, w, out=dh)
        torch.mm(z.t(), h, out=dw)

    return run


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


def _ratio_stats(numerators: list[float], denominators: list[float]) -> dict:
    """Median and quartiles of per-round ratios (times taken in the same round, so a machine that
    is slower for a while slows both sides of a ratio alike)."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    return {"median": statistics.median(ratios), "q1": q1, "q3": q3}


def timed_rounds(contenders: dict[str, Callable], rounds: int, steps: int, *, order_seed: int = 0,
                 warmup: int = 2, before_round: Callable[[], str] | None = None, log=print,
                 name: str = "") -> dict[str, list[float]]:
    """{contender: seconds per call in each round}: `warmup` untimed calls of each contender, then
    `rounds` rounds in which each contender is called `steps` times in a row, the contenders in an
    order shuffled each round (seeded by order_seed). before_round() runs at the start of each round;
    the text it returns ends that round's log line."""
    for step in contenders.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    order = random.Random(order_seed)
    for r in range(rounds):
        extra = before_round() if before_round is not None else ""
        keys = list(contenders)
        order.shuffle(keys)  # no contender always runs right after another's cache-evicting step
        for key in keys:
            t = time.perf_counter()
            for _ in range(steps):
                contenders[key]()
            times[key].append((time.perf_counter() - t) / steps)
        log(f"{name} round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {1e3 * v[-1]:.1f} ms" for k, v in times.items()) + extra)
    return times


def bench_workload(name: str, workload: dict, rounds: int, steps: int, with_llama: bool,
                   log=print, retain_memory: bool = True, compile_blocks: bool = False,
                   order_seed: int = 0) -> dict:
    x, y = random_batch(workload)
    contenders: dict[str, Callable] = {}
    variants = [("lash_fast", "fast", False), ("lash_reference", "reference", False)]
    if compile_blocks:
        variants.append(("lash_compiled", "fast", True))
    compile_s = None
    for key, kernels, compiled in variants:
        model, loss_fn = make_step(workload, kernels, retain_memory=retain_memory, compile_blocks=compiled)
        opt = build_optimizer(model, 1e-3, None, 0.01, fused=kernels == "fast")
        contenders[key] = _step_fn(model, loss_fn, opt, x, y)
        if compiled:
            t = time.perf_counter()
            contenders[key]()  # the first step compiles
            compile_s = time.perf_counter() - t
    llama_note = None
    if with_llama:
        try:
            model, loss_fn = make_llama_step(workload)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, foreach=True)
            contenders["llama"] = _step_fn(model, loss_fn, opt, x, y)
        except ImportError:
            llama_note = "transformers is not installed (pip install 'lash[bench]'): Llama skipped"
            log(llama_note)
    # not a training step: the head's three sgemms alone, the part of any faithful step that is BLAS
    contenders["head_products"] = head_products(workload)
    tokens = workload["batch"] * workload["seq"]
    peaks = []

    def matmul_rate() -> str:  # each round's fp32 matmul rate, measured before its contenders
        peaks.append(matmul_peak(0.5)["median"])
        return f", matmul {peaks[-1]:.0f} GFLOP/s"

    times = timed_rounds(contenders, rounds, steps, order_seed=order_seed, before_round=matmul_rate, log=log,
                         name=name)
    flops = step_flops(workload)
    out = {"workload": workload_record(workload),
           "tokens_per_step": tokens, "step_gflop": flops / 1e9,
           # the sustained (median) 1024^3 sgemm rate, median over the rounds of this run
           "matmul_peak_gflops": statistics.median(peaks), "matmul_gflops_per_round": peaks,
           "contenders": {}}
    for key, ts in times.items():
        med = statistics.median(ts)
        entry = {"step_ms": med * 1e3, "step_ms_all": [t * 1e3 for t in ts]}
        if key != "head_products":
            entry["tokens_per_s"] = tokens / med
        out["contenders"][key] = entry
    if compile_s is not None:
        out["contenders"]["lash_compiled"]["first_step_s"] = compile_s
    fast = times["lash_fast"]
    out["lash_fast_gflops"] = flops / statistics.median(fast) / 1e9
    out["lash_fast_fraction_of_peak"] = out["lash_fast_gflops"] / out["matmul_peak_gflops"]
    out["lash_fast_fraction_of_peak_per_round"] = _ratio_stats([flops / 1e9 / t for t in fast], peaks)
    # "a_vs_b": how many times faster a is than b, per round (b's time / a's time)
    ratios = {"fast_vs_reference": _ratio_stats(times["lash_reference"], fast),
              "fast_vs_head_products": _ratio_stats(times["head_products"], fast)}
    if compile_blocks:
        ratios["compiled_vs_fast"] = _ratio_stats(fast, times["lash_compiled"])
    if "llama" in times:
        ratios["fast_vs_llama"] = _ratio_stats(times["llama"], fast)
        ratios["reference_vs_llama"] = _ratio_stats(times["llama"], times["lash_reference"])
        # a step that did nothing but the head's products would be this much faster than Llama
        ratios["head_products_vs_llama"] = _ratio_stats(times["llama"], times["head_products"])
        if compile_blocks:
            ratios["compiled_vs_llama"] = _ratio_stats(times["llama"], times["lash_compiled"])
    out["speedup"] = ratios
    if llama_note:
        out["note"] = llama_note
    return out


def machine() -> dict:
    cpu = cpu_info()["model"] or platform.machine()  # the CPU model every run's provenance records
    info = {"cpu": cpu, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform()}
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def _fmt_ratio(r: dict) -> str:
    return f"{r['median']:.2f}x ({r['q1']:.2f}-{r['q3']:.2f})"


LABELS = {"lash_fast": "lash (fast kernels)", "lash_reference": "lash (reference kernels)",
          "lash_compiled": "lash (fast + torch.compile blocks)", "llama": "LlamaForCausalLM",
          "head_products": "head products only (3 sgemms)"}


def to_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['torch_threads']} torch thread(s), torch {m['torch']}"
             + (f", transformers {m['transformers']}" if "transformers" in m else "")
             + f", Python {m['python']}; {report['rounds']} rounds x {report['steps_per_round']} steps, "
             "contenders in a shuffled order each round; medians, per-round ratios with their quartiles.", "",
             ("| workload | contender | step ms | tokens/s | Llama's time / this time (quartiles) | "
              "GFLOP/s (lash step FLOPs) | matmul peak GFLOP/s |"),
             "|---|---|---:|---:|---:|---:|---:|"]
    vs_llama = {"lash_fast": "fast_vs_llama", "lash_reference": "reference_vs_llama",
                "lash_compiled": "compiled_vs_llama", "head_products": "head_products_vs_llama"}
    for name, r in report["workloads"].items():
        sp = r["speedup"]
        for key, c in r["contenders"].items():
            vs = "1.00x" if key == "llama" else (_fmt_ratio(sp[vs_llama[key]]) if vs_llama[key] in sp else "n/a")
            tps = f"{c['tokens_per_s']:,.0f}" if "tokens_per_s" in c else "-"
            gf = f"{r['step_gflop'] * 1e3 / c['step_ms']:.0f}" if key.startswith("lash") else "-"
            label = LABELS.get(key, key) + (f" (first step {c['first_step_s']:.0f} s)" if "first_step_s" in c else "")
            lines.append(f"| {name} | {label} | {c['step_ms']:.1f} | {tps} | {vs} | {gf} | "
                         f"{r['matmul_peak_gflops']:.0f} |")
    lines.append("")
    for name, r in report["workloads"].items():
        sp = r["speedup"]
        frac = r["lash_fast_fraction_of_peak_per_round"]
        text = (f"- {name}: fast/reference {_fmt_ratio(sp['fast_vs_reference'])}"
                + (f", fast/Llama {_fmt_ratio(sp['fast_vs_llama'])}" if "fast_vs_llama" in sp else "")
                + (f", compiled/fast {_fmt_ratio(sp['compiled_vs_fast'])}" if "compiled_vs_fast" in sp else "")
                + f"; fast = {frac['median']:.2f} ({frac['q1']:.2f}-{frac['q3']:.2f}) of the matmul peak; "
                f"the fast step takes {1 / sp['fast_vs_head_products']['median']:.2f}x the time of the head "
                "products alone")
        if "head_products_vs_llama" in sp:
            text += (f", which alone would be {sp['head_products_vs_llama']['median']:.2f}x faster than Llama's step")
        lines.append(text + (f"; {r['note']}" if "note" in r else ""))
    return "\n".join(lines) + "\n"


def run_train_bench(names: list[str], rounds: int, steps: int, threads: int | None = None,
                    with_llama: bool = True, retain_memory: bool = True, compile_blocks: bool = False,
                    log=print) -> dict:
    """The report of `lash bench train`: every workload of `names` (keys of WORKLOADS) timed."""
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    if retain_memory:
        retain_freed_memory()  # applies to every contender in this process alike
    report = {"machine": machine(), "rounds": rounds, "steps_per_round": steps,
              "retain_freed_memory": retain_memory, "workloads": {}}
    for name in names:
        report["workloads"][name] = bench_workload(name, WORKLOADS[name], rounds, steps, with_llama, log,
                                                   retain_memory, compile_blocks)
    return report


def summary_line(name: str, r: dict) -> str:
    """One workload's result in one line: tokens/s, GFLOP/s and the speed-ups."""
    c = r["contenders"]
    line = f"{name}: " + ", ".join(f"{k} {v['tokens_per_s']:,.0f} tok/s" for k, v in c.items()
                                   if "tokens_per_s" in v)
    return line + (f"; fast {r['lash_fast_gflops']:.0f} GFLOP/s = {r['lash_fast_fraction_of_peak']:.2f} "
                   f"of matmul peak {r['matmul_peak_gflops']:.0f}; "
                   + ", ".join(f"{k} {v['median']:.2f}x" for k, v in r["speedup"].items()))


# --------------------------------------------------------------------------- the fast path (PAPER_SPEC 5.2)

#: The published fast path's model: the Standard 3-layer word-level model of colab.py/colab1.py (width,
#: heads, sequence and batch of the word workload, whose vocabulary is WikiText-2's usual 33,278 words), its loss
#: at the last exit only.
FAST_PATH_WORKLOAD = {**WORKLOADS["word"], "layers": 3, "weights": {1: 0.0, 2: 0.0, 3: 1.0}}
FAST_PATH_CONTENDERS = {
    "last_exit_only": "the head at the last exit only: lash's training_loss with the reference kernels "
                      "(model.forward_exits(x, [3])), the original's fast path model(x)",
    "every_exit": "the head after every block (the original's forward_all_layers before its fast path), "
                  "the loss at the exits with a weight > 0 only: the zero-weighted exits' logits are "
                  "computed and left out of the loss, as the original's `if weight > 0` did",
}


def make_every_exit_step(workload: dict, seed: int = 0):
    """(model, loss_fn) of the original's path before its fast path: logits at every exit, the loss of
    `weighted_exit_loss` (exits with weight > 0 only). Same model and initialisation as
    make_step(workload, "reference", seed)."""
    model, _ = make_step(workload, "reference", seed)
    weights = {int(k): float(v) for k, v in workload["weights"].items()}
    every_exit = list(range(1, model.n_layers + 1))

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return weighted_exit_loss(model.forward_exits(x, every_exit), y, weights)

    return model, loss_fn


def run_fast_path_bench(rounds: int, steps: int, threads: int = 1, vocab: int | None = None,
                        log=print) -> dict:
    """The report of `lash bench fast-path`: seconds per training step (forward, backward, clip,
    AdamW with lash's reference kernels, as in bench_workload) of FAST_PATH_WORKLOAD (`vocab` replaces
    its vocabulary) computed both ways of FAST_PATH_CONTENDERS, from the same initialisation on the
    same batch, timed round by round (timed_rounds). Each contender's first step is untimed and its
    loss recorded: both compute the same loss, so the times compare the same training step."""
    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    workload = {**FAST_PATH_WORKLOAD, **({"V": vocab} if vocab is not None else {})}
    x, y = random_batch(workload)
    builders = {"last_exit_only": lambda: make_step(workload, "reference"),
                "every_exit": lambda: make_every_exit_step(workload)}
    contenders, first_loss, untimed = {}, {}, 2
    for key, build in builders.items():
        model, loss_fn = build()
        optimizer = build_optimizer(model, 1e-3, None, 0.01, fused=False)
        contenders[key] = _step_fn(model, loss_fn, optimizer, x, y)
        first_loss[key] = contenders[key]()
    times = timed_rounds(contenders, rounds, steps, warmup=untimed - 1, log=log, name="fast path")
    return {
        "benchmark": "fast_path",
        "machine": machine(),
        "settings": {"workload": workload_record(workload),
                     "kernels": "reference", "optimizer": "AdamW lr 1e-3, weight decay 0.01, not fused",
                     "clip_grad_norm": 1.0, "rounds": rounds, "steps_per_round": steps,
                     "untimed_steps": untimed, "threads": torch.get_num_threads(), "init_seed": 0, "batch_seed": 1,
                     "order_seed": 0},
        "contenders": {key: {"description": FAST_PATH_CONTENDERS[key], "first_step_loss": first_loss[key],
                             "step_s": times[key]} for key in contenders},
        # t(last exit only) / t(every exit), per round
        "ratio": _ratio_stats(times["last_exit_only"], times["every_exit"]),
        # as every run's: commit and dirtiness, package versions and the lock's digest, the CPU, wall time
        "provenance": provenance(seed=0, data_digest={"synthetic": "uniform random token ids, generator seed 1"},
                                 device="cpu", threads=torch.get_num_threads(),
                                 wall_seconds=time.perf_counter() - started),
    }
