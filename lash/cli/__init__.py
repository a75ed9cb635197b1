"""The `lash` command line: `lash.cli.main(argv) -> exit status` (the `lash` console script).

The command line imports the library; no module of the library imports this package."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
