"""The one guarded runner of every `lash` command: logging set up once, the config resolved once,
the declared outputs checked before any work, and every expected failure mapped to exit status 2."""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import load_yaml, resolve_config
from ..errors import LashError
from ..io import check_writable


def resolve(args: argparse.Namespace):
    """The RunConfig of CONFIG, --preset, --set, --seed and --smoke."""
    file_cfg = load_yaml(args.config) if args.config else None
    return resolve_config(file_cfg, preset=args.preset, sets=args.sets, smoke=args.smoke, seed=args.seed)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the command `args.func(args, cfg)` that the parser chose; `argv` is the command line
    without the program name (recorded in results as provenance.argv)."""
    args.argv = ["lash", *argv]
    if hasattr(args, "quiet"):
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                            format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        cfg = resolve(args) if args.needs_config else None
        for name in args.outputs:
            if getattr(args, name, None):
                check_writable(getattr(args, name))
        return args.func(args, cfg) or 0
    except (LashError, PermissionError) as exc:
        print(f"lash: {_message(exc)}", file=sys.stderr)
        return 2


def _message(exc: Exception) -> str:
    label = getattr(exc, "label", None)
    text = str(exc)
    return f"{label}: {text}" if label and not text.startswith(label) else text
