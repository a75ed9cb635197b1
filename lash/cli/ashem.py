"""`lash ashem <stage>` and `lash progressive`: ASHEM as separate, cacheable stages.

    lash ashem phase1   [CONFIG] [--preset P] [--set K=V] [--seed S] [--smoke]
                        --checkpoint P1.pt --out P1.json [--checkpoint-dir DIR [--keep-checkpoint]]
    lash ashem mine     ... --phase1 P1.pt --out MINED.pt --summary MINED.json
    lash ashem phase2   ... --phase1 P1.pt --mined MINED.pt --checkpoint P2.pt --out P2.json [--checkpoint-dir DIR]
    lash ashem evaluate ... --phase2 P2.pt --mined MINED.pt --out RESULT.json
    lash ashem baseline ... --mined MINED.pt [--match RESULT.json] --out BASELINE.json [--checkpoint-dir DIR]
    lash progressive    ... --out RESULT.json [--checkpoint-dir DIR]

Every stage takes the config arguments of `lash train` and refuses an input made with another
config. Outputs are written atomically. The training stages resume after a kill from
--checkpoint-dir, like `lash train` (deleted after success unless --keep-checkpoint). Each command is
`cmd_<stage>(args, cfg) -> exit status`,
run by lash.cli.runner (config resolved, inputs and outputs checked, errors mapped).
"""

from __future__ import annotations

import json
import time

from ..errors import ConfigError
from ..io import write_json_atomic
from .args import add_config_args, add_resume_args, register


def _finish_training(args, result: dict) -> None:
    """After the outputs are written: delete the stage's training checkpoints unless --keep-checkpoint."""
    if not args.keep_checkpoint:
        for checkpoint in result["training_checkpoints"]:
            checkpoint.remove()


def add_parsers(subparsers) -> None:
    """Add `ashem` (with its stages) and `progressive` to the `lash` subcommands."""
    p_ashem = subparsers.add_parser("ashem", help="ASHEM stages: phase1, mine, phase2, evaluate, baseline")
    stages = p_ashem.add_subparsers(dest="ashem_stage", required=True)

    p = stages.add_parser("phase1", help="train the shallow phase-1 model")
    add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="phase-1 model (.pt)")
    p.add_argument("--out", required=True, help="phase-1 results JSON")
    add_resume_args(p)
    register(p, cmd_phase1, outputs=("checkpoint", "out"), output_dirs=("checkpoint_dir",))

    p = stages.add_parser("mine", help="quantile threshold and hard tokens from the phase-1 model")
    add_config_args(p)
    p.add_argument("--phase1", required=True, help="output of `lash ashem phase1 --checkpoint`")
    p.add_argument("--out", required=True, help="mined hard tokens (.pt)")
    p.add_argument("--summary", required=True, help="mining summary JSON")
    register(p, cmd_mine, inputs=("phase1",), outputs=("out", "summary"))

    p = stages.add_parser("phase2", help="grow the model and train the new layers on hard tokens")
    add_config_args(p)
    p.add_argument("--phase1", required=True, help="output of `lash ashem phase1 --checkpoint`")
    p.add_argument("--mined", required=True, help="output of `lash ashem mine --out`")
    p.add_argument("--checkpoint", required=True, help="phase-2 model (.pt)")
    p.add_argument("--out", required=True, help="phase-2 results JSON")
    add_resume_args(p)
    register(p, cmd_phase2, inputs=("phase1", "mined"), outputs=("checkpoint", "out"), output_dirs=("checkpoint_dir",))

    p = stages.add_parser("evaluate", help="two-stage routed evaluation: the final results JSON")
    add_config_args(p)
    p.add_argument("--phase2", required=True, help="output of `lash ashem phase2 --checkpoint`")
    p.add_argument("--mined", required=True, help="output of `lash ashem mine --out`")
    p.add_argument("--out", required=True, help="results JSON")
    register(p, cmd_evaluate, inputs=("phase2", "mined"), outputs=("out",))

    p = stages.add_parser("baseline", help="a fair baseline trained on all tokens, evaluated like ASHEM")
    add_config_args(p)
    p.add_argument("--mined", required=True, help="the ASHEM run's mined file (for its hard tokens)")
    p.add_argument("--match", help="an ASHEM results JSON: cut training at its training FLOPs")
    p.add_argument("--out", required=True, help="results JSON")
    add_resume_args(p)
    register(p, cmd_baseline, inputs=("mined", "match"), outputs=("out",), output_dirs=("checkpoint_dir",))

    p = subparsers.add_parser("progressive", help="progressive layer training (PAPER_SPEC 5.1)")
    add_config_args(p)
    p.add_argument("--out", required=True, help="results JSON")
    add_resume_args(p, "DIR/phase1.pt and DIR/phase2.pt")
    register(p, cmd_progressive, outputs=("out",), output_dirs=("checkpoint_dir",))


def cmd_phase1(args, cfg) -> int:
    from .. import ashem

    start = time.perf_counter()
    result = ashem.run_phase1(cfg, args.checkpoint_dir)
    ashem.save_checkpoint(args.checkpoint, result["checkpoint"])
    write_json_atomic(args.out, ashem.payload(cfg, result, start, args.argv))
    _finish_training(args, result)
    v = result["metrics"]["validation"]
    print(f"ashem phase1: validation ppl {v['ppl']:.4f} acc {v['acc']:.4f} "
          f"(best epoch {result['metrics']['best_epoch']}) -> {args.checkpoint}, {args.out}")
    return 0


def cmd_mine(args, cfg) -> int:
    from .. import ashem

    start = time.perf_counter()
    p1 = ashem.load_checkpoint(args.phase1, "ashem_phase1", cfg, "lash ashem phase1")
    result = ashem.run_mine(cfg, p1)
    ashem.save_checkpoint(args.out, result["checkpoint"])
    write_json_atomic(args.summary, ashem.payload(cfg, result, start, args.argv))
    m = result["metrics"]
    print(f"ashem mine: threshold {m['threshold']:.6g}, {m['n_hard']} of {m['n_tokens']} tokens hard, "
          f"phase-1 hard ppl {m['phase1_hard_ppl']:.4f} -> {args.out}, {args.summary}")
    return 0


def cmd_phase2(args, cfg) -> int:
    from .. import ashem

    start = time.perf_counter()
    p1 = ashem.load_checkpoint(args.phase1, "ashem_phase1", cfg, "lash ashem phase1")
    mined = ashem.load_checkpoint(args.mined, "ashem_mined", cfg, "lash ashem mine")
    result = ashem.run_phase2(cfg, p1, mined, args.checkpoint_dir)
    ashem.save_checkpoint(args.checkpoint, result["checkpoint"])
    write_json_atomic(args.out, ashem.payload(cfg, result, start, args.argv))
    _finish_training(args, result)
    b = result["metrics"]["best"]
    print(f"ashem phase2: best epoch {result['metrics']['best_epoch']} routed validation ppl "
          f"{b['validation']['ppl']:.4f}, hard ppl {b['hard_ppl']:.4f} -> {args.checkpoint}, {args.out}")
    return 0


def cmd_evaluate(args, cfg) -> int:
    from .. import ashem

    start = time.perf_counter()
    p2 = ashem.load_checkpoint(args.phase2, "ashem_phase2", cfg, "lash ashem phase2")
    mined = ashem.load_checkpoint(args.mined, "ashem_mined", cfg, "lash ashem mine")
    result = ashem.run_evaluate(cfg, p2, mined)
    write_json_atomic(args.out, ashem.payload(cfg, result, start, args.argv))
    _print_headline("ashem evaluate", result["metrics"]["headline"], args.out)
    return 0


def cmd_baseline(args, cfg) -> int:
    from .. import ashem

    start = time.perf_counter()
    # the baseline shares data and seed with the ASHEM run, not its phase settings
    mined = ashem.load_checkpoint(args.mined, "ashem_mined", cfg, "lash ashem mine", keys=["seed", "data"])
    match = None
    if args.match:
        try:
            with open(args.match, encoding="utf-8") as fh:
                match = json.load(fh)["metrics"]["training_compute"]["flops"]
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError("--match", f"cannot read training_compute.flops from {args.match} ({exc})",
                              "pass the results JSON of `lash ashem evaluate`") from exc
    result = ashem.run_baseline(cfg, mined, match, args.checkpoint_dir)
    write_json_atomic(args.out, ashem.payload(cfg, result, start, args.argv))
    _finish_training(args, result)
    _print_headline("ashem baseline", result["metrics"]["headline"], args.out)
    return 0


def cmd_progressive(args, cfg) -> int:
    from .. import ashem

    start = time.perf_counter()
    result = ashem.run_progressive(cfg, args.checkpoint_dir)
    write_json_atomic(args.out, ashem.payload(cfg, result, start, args.argv))
    _finish_training(args, result)
    m = result["metrics"]
    print(f"progressive ({m['supervision']}): phase 1 validation ppl {m['phase1']['validation']['ppl']:.4f}, "
          f"phase 2 {m['phase2']['validation']['ppl']:.4f} -> {args.out}")
    return 0


def _print_headline(what: str, h: dict, out) -> None:
    hard = f", hard ppl {h['hard_ppl']:.4f}" if h.get("hard_ppl") is not None else ""
    print(f"{what}: {h['split']} ppl {h['ppl']:.4f} acc {h['acc']:.4f}, shallow {h['shallow_fraction']:.3f}, "
          f"compute {h['compute_fraction_layers']:.3f} (layers) {h['compute_fraction_flops']:.3f} (flops)"
          f"{hard} -> {out}")
