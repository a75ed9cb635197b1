"""`lash bench train`, `lash bench fast-path` and `lash bench early-exit`: the parsers; the measuring
code lives in lash.bench and lash.bench_early_exit (imported only when a benchmark runs: they import
torch)."""

from __future__ import annotations

import sys

from ..errors import ConfigError
from ..io import write_atomic, write_json_atomic
from .args import add_quiet, register


def add_parsers(sub) -> None:
    p_bench = sub.add_parser("bench", help="benchmarks: `lash bench train`, `lash bench fast-path`, "
                                           "`lash bench early-exit`")
    bench_sub = p_bench.add_subparsers(dest="bench_command", required=True)

    p = bench_sub.add_parser("train", help="tokens/s of a training step: lash vs LlamaForCausalLM")
    p.add_argument("--workload", default="all",
                   help="a workload of lash.bench.WORKLOADS (char, word) or all (default)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--rounds", type=int, default=15, help="timing rounds (contenders shuffled in each)")
    p.add_argument("--steps", type=int, default=3, help="steps per contender per round")
    p.add_argument("--no-llama", action="store_true", help="skip LlamaForCausalLM")
    p.add_argument("--compile", action="store_true",
                   help="add a contender whose blocks are torch.compile'd (the first step compiles)")
    p.add_argument("--no-retain-memory", action="store_true",
                   help="leave glibc's allocator at its defaults (see lash.fused.retain_freed_memory)")
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--md", help="write a Markdown table of the results here")
    add_quiet(p)
    register(p, cmd_bench_train, config=False, outputs=("out", "md"))

    p = bench_sub.add_parser("fast-path", help="a training step with the head at the last exit only vs "
                                               "after every block (the published 8.4 %% fast path)")
    p.add_argument("--rounds", type=int, default=20, help="timing rounds (both contenders, shuffled, in each)")
    p.add_argument("--steps", type=int, default=4, help="steps per contender per round")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--vocab", type=int, default=None,
                   help="vocabulary size (default: the word workload's, lash.bench.WORKLOADS['word'])")
    p.add_argument("--out", required=True, help="results JSON with every round's times (written atomically)")
    add_quiet(p)
    register(p, cmd_bench_fast_path, config=False, outputs=("out",))

    p = bench_sub.add_parser("early-exit", help="time full vs skip early-exit inference")
    p.add_argument("--smoke", action="store_true", help="the ASHEM model only, few repeats (< 60 s)")
    p.add_argument("--out", help="results JSON (written atomically)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steadier timings)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto = CPU, and the GPU too when one is available")
    p.add_argument("--repeats", type=int, help="timed samples per mode (default 5 smoke / 7 full)")
    register(p, cmd_bench_early_exit, config=False, outputs=("out",))


def cmd_bench_train(args, cfg) -> int:
    from .. import bench

    if args.workload not in (*bench.WORKLOADS, "all"):
        raise ConfigError("--workload", f"no workload {args.workload!r}",
                          f"choose one of {', '.join([*bench.WORKLOADS, 'all'])}")
    names = list(bench.WORKLOADS) if args.workload == "all" else [args.workload]
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    report = bench.run_train_bench(names, args.rounds, args.steps, args.threads, not args.no_llama,
                                   not args.no_retain_memory, args.compile, log)
    for name, r in report["workloads"].items():
        print(bench.summary_line(name, r))
    if args.out:
        write_json_atomic(args.out, report)
    if args.md:
        write_atomic(args.md, lambda fh: fh.write(bench.to_markdown(report).encode()))
    return 0


def cmd_bench_fast_path(args, cfg) -> int:
    for flag, value, least in (("--rounds", args.rounds, 1), ("--steps", args.steps, 1),
                               ("--threads", args.threads, 1), ("--vocab", args.vocab, 2)):
        if value is not None and value < least:
            raise ConfigError(flag, f"is {value}", f"give {flag} {least} or more")
    from .. import bench

    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    report = bench.run_fast_path_bench(args.rounds, args.steps, args.threads, args.vocab, log)
    ratio = report["ratio"]
    print(f"fast path: t(last exit only) / t(every exit) per round: median {ratio['median']:.3f} "
          f"(quartiles {ratio['q1']:.3f}-{ratio['q3']:.3f}) over {args.rounds} rounds")
    write_json_atomic(args.out, report)
    return 0


def cmd_bench_early_exit(args, cfg) -> int:
    import torch

    from ..bench_early_exit import run_bench

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "cuda but no GPU is available", "use --device auto or cpu")
    result = run_bench(args.smoke, args.threads, args.device, args.repeats)
    for r in result["rows"]:
        if r["mode"] in ("skip", "generate_skip"):
            print(f"{r['device']:4} {r['model']:10} {r['mode']:13} batch {r['batch']:2} "
                  f"{r['deep_context']:9} "
                  f"exit {r['exit_fraction']:.2f}  ideal {r['speedup_ideal']:.2f}x  measured "
                  f"{r['speedup_measured']:.2f}x  ({r['tokens_per_s']:.0f} tok/s)")
    if args.out:
        write_json_atomic(args.out, result)
        print(f"-> {args.out}")
    return 0
