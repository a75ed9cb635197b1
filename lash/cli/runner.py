"""The one guarded runner of every `lash` command: logging set up once, the config resolved once,
the declared inputs and outputs checked before any work, the outputs of a failed run removed, and
every exception mapped to an exit status at one boundary (lash.cli.boundary)."""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import load_yaml, resolve_config
from ..environment import check_code_paths, check_locked_environment
from ..errors import ConfigError, LashError
from . import boundary
from .paths import check_paths, declared, remove_new_outputs, snapshot


def resolve(args: argparse.Namespace):
    """The RunConfig of CONFIG, --preset, --set, --seed and --smoke. A value of the wrong type or
    form that the validation lets through as a TypeError/ValueError is still a config error."""
    try:
        file_cfg = load_yaml(args.config) if args.config else None
    except UnicodeDecodeError as exc:
        raise ConfigError("CONFIG", f"{args.config} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                          "save the file as UTF-8") from exc
    try:
        return resolve_config(file_cfg, preset=args.preset, sets=args.sets, smoke=args.smoke, seed=args.seed)
    except LashError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        given = " and ".join(filter(None, [args.config and f"{args.config}",
                                           args.sets and "the --set values", args.preset and "--preset"]))
        raise ConfigError(args.config or "--set", f"a value has the wrong type or form ({exc})",
                          f"correct it in {given or 'the command line'}; `lash config` shows the "
                          "resolved config and its types") from exc


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the command `args.func(args, cfg)` that the parser chose; `argv` is the command line
    without the program name (recorded in results as provenance.argv). Returns the exit status."""
    args.argv = ["lash", *argv]
    if hasattr(args, "quiet"):
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                            format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        cfg = resolve(args) if args.needs_config else None
        check_paths(args)
        if cfg is not None and args.outputs:  # a run that writes results: torch/numpy make its numbers
            check_locked_environment()
            check_code_paths()
        before = snapshot(args)
        try:
            status = args.func(args, cfg) or 0
        except BaseException:
            remove_new_outputs(before)
            raise
        if status:
            remove_new_outputs(before)
        return status
    except (Exception, KeyboardInterrupt) as exc:  # the boundary: every exception ends here
        return boundary.exit_status(exc, args.argv, declared(args))

