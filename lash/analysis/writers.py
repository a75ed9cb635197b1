"""The analysis scripts' text and JSON outputs, written atomically (lash.io): a failed or killed
script leaves the previous file or the new one, never half of one."""

from __future__ import annotations

import json

from ..io import write_atomic


def write_text(path, text: str) -> None:
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path, obj, indent: int = 1) -> None:
    """Strict JSON (a NaN or Infinity is an error, not a literal), indented, trailing newline."""
    write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")
