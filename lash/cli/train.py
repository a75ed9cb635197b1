"""`lash train`, `lash config` and `lash presets`."""

from __future__ import annotations

from pathlib import Path

from ..config import PRESETS, config_to_yaml
from ..io import write_json_atomic
from .args import add_config_args, add_resume_args, register


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train one model and write a results JSON")
    add_config_args(p)
    p.add_argument("--out", required=True, help="results JSON path (written atomically)")
    add_resume_args(p)
    register(p, cmd_train, outputs=("out",), output_dirs=("checkpoint_dir",))

    p = sub.add_parser("config", help="print the fully resolved config as YAML")
    add_config_args(p)
    register(p, cmd_config)

    p = sub.add_parser("presets", help="list the named strategies")
    register(p, cmd_presets, config=False)


def cmd_train(args, cfg) -> int:
    # torch is imported only here and below: keeps `lash presets` and config errors fast
    from ..checkpoint import remove_checkpoint
    from ..distributed import init_distributed, shutdown_distributed
    from ..run import run_training

    ctx = init_distributed(cfg.train.device)
    try:
        payload = run_training(cfg, argv=args.argv, checkpoint_dir=args.checkpoint_dir, ctx=ctx)
        if ctx.is_main:
            write_json_atomic(args.out, payload)
            if args.checkpoint_dir and not args.keep_checkpoint:
                remove_checkpoint(args.checkpoint_dir)
            h = payload["metrics"]["headline"]
            print(f"{cfg.name} seed {cfg.seed}: {h['split']} ppl {h['ppl']:.4f} acc {h['acc']:.4f} -> {Path(args.out)}")
    finally:
        shutdown_distributed()
    return 0


def cmd_config(args, cfg) -> int:
    print(config_to_yaml(cfg), end="")
    return 0


def cmd_presets(args, cfg) -> int:
    import yaml

    for name, body in PRESETS.items():
        print(f"{name}: {yaml.safe_dump(body, default_flow_style=True).strip()}")
    return 0
