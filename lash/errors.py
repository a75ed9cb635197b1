"""The one error hierarchy of lash. Every expected failure is a LashError whose message says what is
wrong and how to fix it ("... Fix: ..."); the command line turns it into one line on stderr and exit
status 2. Anything else is a bug (see lash.cli.boundary)."""

from __future__ import annotations


class LashError(Exception):
    """An expected failure with a message that names the problem and a fix."""

    label = "error"


class ConfigError(LashError, ValueError):
    """A bad configuration value; the message names the field and the fix."""

    label = "config error"

    def __init__(self, field_name: str, problem: str, fix: str):
        self.field = field_name
        stop = "" if problem.endswith((".", "?", "!")) else "."  # "did you mean 'x'?" ends a sentence
        super().__init__(f"config error in `{field_name}`: {problem}{stop} Fix: {fix}")


class DataError(LashError, RuntimeError):
    """Data that cannot be loaded or used."""

    label = "data error"


class CheckpointError(LashError, RuntimeError):
    """A checkpoint or stage file that cannot be used (missing, corrupt, foreign, another config)."""

    label = "checkpoint error"


class OutputError(LashError, PermissionError):
    """An output path that cannot be written."""

    label = "output error"
