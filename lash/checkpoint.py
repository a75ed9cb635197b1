"""Resumable training: one checkpoint per run directory, rewritten atomically after every epoch.

The file holds everything the next epoch depends on (weights, optimizer state, RNG states, the
early-stopping state and the history), so a run killed at any moment and started again with the same
directory ends with exactly the metrics of an uninterrupted run. It loads with
`torch.load(weights_only=True)`: only tensors and plain containers, never pickled code.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError
from .io import write_atomic

KIND = "lash-train-checkpoint"
FORMAT = 1
FILENAME = "train.pt"


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in d.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def config_differences(saved: dict, current: dict) -> list[str]:
    """Dotted fields whose values differ, as 'field: <saved> there, <current> here'."""
    a, b = _flatten(saved), _flatten(current)
    return [f"{k}: {a.get(k, '<absent>')!r} there, {b.get(k, '<absent>')!r} here"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "numpy_pos": int(np_state[2]), "numpy_gauss": [int(np_state[3]), float(np_state[4])],
            "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    has_gauss, gauss = state["numpy_gauss"]
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


class TrainingCheckpoint:
    """`DIR/train.pt` for the run whose resolved config is `config` (a dict) on data `digests`."""

    def __init__(self, directory: str | os.PathLike, config: dict, digests: dict):
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        # JSON round trip: the comparison sees what was saved (int keys become strings either way).
        self.config = json.loads(json.dumps(config, sort_keys=True))
        self.digests = json.loads(json.dumps(digests, sort_keys=True))

    def _fix(self) -> str:
        return (f"Fix: pass another --checkpoint-dir, or delete {self.path} to start this run over")

    def load(self) -> dict | None:
        """The saved state, or None when there is none yet. Refuses unreadable or foreign files."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated zip, not a torch file, disallowed pickled objects...
            raise CheckpointError(f"the checkpoint {self.path} is unreadable (truncated or corrupt: "
                                  f"{type(exc).__name__}). {self._fix()}") from exc
        if not isinstance(state, dict) or state.get("kind") != KIND:
            raise CheckpointError(f"{self.path} is not a lash training checkpoint (it may come from "
                                  f"`lash ashem` or another tool). {self._fix()}")
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{self.path} has checkpoint format {state.get('format')}, this lash "
                                  f"reads format {FORMAT}. {self._fix()}")
        saved_config = json.loads(state["config_json"])
        diffs = config_differences(saved_config, self.config)
        if diffs:
            raise CheckpointError(f"the checkpoint {self.path} belongs to another run; config field "
                                  f"{diffs[0]}" + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else "")
                                  + f". {self._fix()}")
        if json.loads(state["digests_json"]) != self.digests:
            raise CheckpointError(f"the checkpoint {self.path} was trained on other data (the token "
                                  f"digests differ). {self._fix()}")
        return state

    def save(self, state: dict) -> None:
        """Atomically (lash.provenance.write_atomic): never a half-written checkpoint."""
        payload = {"kind": KIND, "format": FORMAT, "config_json": json.dumps(self.config, sort_keys=True),
                   "digests_json": json.dumps(self.digests, sort_keys=True), **state}
        write_atomic(self.path, lambda fh: torch.save(payload, fh))


def remove_checkpoint(directory: str | os.PathLike) -> None:
    """Delete DIR/train.pt after a finished run (and DIR itself when that leaves it empty)."""
    directory = Path(directory)
    (directory / FILENAME).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass
