"""The `lash` command: train, config, presets, ashem <stage>, progressive, bench train|early-exit."""

from __future__ import annotations

import argparse
import sys

from . import ashem, bench, train
from .runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lash", description=__doc__)
    parser.add_argument("--offline", action="store_true",
                        help="forbid any network access (also: LASH_OFFLINE=1); data must be local")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parsers(sub)  # `lash train`, `lash config`, `lash presets`
    ashem.add_parsers(sub)  # `lash ashem <stage>`, `lash progressive`
    bench.add_parsers(sub)  # `lash bench train`, `lash bench early-exit`
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `lash` command line (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from ..offline import enable_offline, is_offline

    if args.offline or is_offline():
        enable_offline()
    return run(args, argv)
