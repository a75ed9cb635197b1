"""The `lash` command: train, config, presets, ashem <stage>, progressive, bench train|fast-path|early-exit."""

from __future__ import annotations

import argparse
import sys

from . import ashem, bench, train
from .runner import run


class _Parser(argparse.ArgumentParser):
    """argparse with the project's form of an error: the problem, then how to fix it."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lash", description=__doc__)
    parser.add_argument("--offline", action="store_true",
                        help="forbid any network access (also: LASH_OFFLINE=1); data must be local")
    sub = parser.add_subparsers(dest="command", required=True)  # subparsers are _Parser too
    train.add_parsers(sub)  # `lash train`, `lash config`, `lash presets`
    ashem.add_parsers(sub)  # `lash ashem <stage>`, `lash progressive`
    bench.add_parsers(sub)  # `lash bench train`, `lash bench fast-path`, `lash bench early-exit`
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `lash` command line (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error already reported (2)
        return 0 if exc.code is None else exc.code
    from ..offline import enable_offline, is_offline

    if args.offline or is_offline():
        enable_offline()
    return run(args, argv)
