"""The environment of a child process that runs the workflow (a test, a benchmark, a rerun tool).

The workflow's rules call the `lash` console script, so the child must find this interpreter's
environment first on PATH, also when its virtual environment is not activated. Not imported by the
training code: no training rule lists this file."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def with_this_interpreter(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `env` (default: os.environ) with this interpreter's bin directory first on PATH."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p)
    return env
