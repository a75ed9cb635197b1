"""The `lash` command: train, config, presets, ashem <stage>, progressive, bench train|early-exit."""

from __future__ import annotations

import argparse
import logging
import sys

import yaml

from .config import PRESETS, ConfigError, config_to_yaml, load_yaml, resolve_config
from .io import check_writable, write_json_atomic


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="YAML run config (optional)")
    p.add_argument("--preset", help="a named strategy: see `lash presets`")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key, dotted for sections: --set train.max_epochs=3, "
                        "--set 'layer_weights={1: 0.7, 2: 0, 3: 0.3}' (repeatable)")
    p.add_argument("--seed", type=int, help="random seed (overrides the config)")
    p.add_argument("--smoke", action="store_true",
                   help="synthetic corpus and a tiny budget: a run of seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lash", description=__doc__)
    parser.add_argument("--offline", action="store_true",
                        help="forbid any network access (also: LASH_OFFLINE=1); data must be local")
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train one model and write a results JSON")
    _add_config_args(p_train)
    p_train.add_argument("--out", required=True, help="results JSON path (written atomically)")
    p_train.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p_train.add_argument("--checkpoint-dir", metavar="DIR",
                         help="save a checkpoint to DIR/train.pt after every epoch and resume from it "
                              "when it exists (deleted after success unless --keep-checkpoint)")
    p_train.add_argument("--keep-checkpoint", action="store_true",
                         help="keep DIR/train.pt after the run has finished")
    p_cfg = sub.add_parser("config", help="print the fully resolved config as YAML")
    _add_config_args(p_cfg)
    sub.add_parser("presets", help="list the named strategies")
    from . import ashem_cli, bench, bench_early_exit

    ashem_cli.add_parsers(sub)  # `lash ashem <stage>`, `lash progressive`
    p_bench = sub.add_parser("bench", help="benchmarks: `lash bench train`, `lash bench early-exit`")
    bench_sub = p_bench.add_subparsers(dest="bench_command", required=True)
    bench.add_parsers(bench_sub)
    bench_early_exit.add_parsers(bench_sub)
    return parser


def _resolve(args) -> object:
    file_cfg = load_yaml(args.config) if args.config else None
    return resolve_config(file_cfg, preset=args.preset, sets=args.sets, smoke=args.smoke, seed=args.seed)


def _train(args, cfg, out, argv) -> int:
    # torch is imported only here and below: keeps `lash presets` and config errors fast
    from .checkpoint import remove_checkpoint
    from .distributed import init_distributed, shutdown_distributed
    from .run import run_training

    ctx = init_distributed(cfg.train.device)
    try:
        payload = run_training(cfg, argv=["lash"] + (argv if argv is not None else sys.argv[1:]),
                               checkpoint_dir=args.checkpoint_dir, ctx=ctx)
        if ctx.is_main:
            write_json_atomic(out, payload)
            if args.checkpoint_dir and not args.keep_checkpoint:
                remove_checkpoint(args.checkpoint_dir)
            h = payload["metrics"]["headline"]
            print(f"{cfg.name} seed {cfg.seed}: {h['split']} ppl {h['ppl']:.4f} acc {h['acc']:.4f} -> {out}")
    finally:
        shutdown_distributed()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .offline import enable_offline, is_offline

    if args.offline or is_offline():
        enable_offline()
    try:
        if getattr(args, "func", None) is not None:  # subcommands of other modules
            return args.func(args) or 0
        if args.command == "presets":
            for name, body in PRESETS.items():
                print(f"{name}: {yaml.safe_dump(body, default_flow_style=True).strip()}")
            return 0
        cfg = _resolve(args)
        if args.command == "config":
            print(config_to_yaml(cfg), end="")
            return 0
        out = check_writable(args.out)
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                            format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        return _train(args, cfg, out, argv)
    except (ConfigError, PermissionError) as exc:
        print(f"lash: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # data errors and the like: one clear line, non-zero exit
        from .checkpoint import CheckpointError
        from .data import DataError

        if isinstance(exc, DataError):
            print(f"lash: data error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, CheckpointError):
            print(f"lash: checkpoint error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
