"""What every subcommand's parser shares: the config arguments, and one way to register a command
together with the names of its input and output arguments (which the runner checks before work)."""

from __future__ import annotations

import argparse
from typing import Callable

# func(args, cfg) -> exit status; cfg is the resolved RunConfig, or None for a command without one
Command = Callable[[argparse.Namespace, object], int]


def add_config_args(p: argparse.ArgumentParser) -> None:
    """CONFIG, --preset, --set, --seed, --smoke and -q: how every run's configuration is given."""
    p.add_argument("config", nargs="?", help="YAML run config (optional)")
    p.add_argument("--preset", help="a named strategy: see `lash presets`")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key, dotted for sections: --set train.max_epochs=3, "
                        "--set 'layer_weights={1: 0.7, 2: 0, 3: 0.3}' (repeatable)")
    p.add_argument("--seed", type=int, help="random seed (overrides the config)")
    p.add_argument("--smoke", action="store_true",
                   help="synthetic corpus and a tiny budget: a run of seconds")
    add_quiet(p)


def add_resume_args(p: argparse.ArgumentParser, files: str = "DIR/train.pt") -> None:
    """--checkpoint-dir and --keep-checkpoint of every training command (`lash train` and the stages)."""
    p.add_argument("--checkpoint-dir", metavar="DIR",
                   help=f"save a checkpoint to {files} after every epoch and resume from it when it exists "
                        "(deleted after success unless --keep-checkpoint)")
    p.add_argument("--keep-checkpoint", action="store_true", help=f"keep {files} after the run has finished")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")


def register(p: argparse.ArgumentParser, func: Command, *, config: bool = True,
             inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = (),
             output_dirs: tuple[str, ...] = ()) -> None:
    """Make `func` the command that `p` runs. inputs/outputs/output_dirs name the parser's argument
    destinations (e.g. "phase1", "out", "checkpoint_dir") that are files read, files written and
    directories written: the runner checks them all before any work (and CONFIG is an input of
    every command with config=True)."""
    p.set_defaults(func=func, needs_config=config,
                   inputs=(("config",) if config else ()) + tuple(inputs),
                   outputs=tuple(outputs), output_dirs=tuple(output_dirs))
