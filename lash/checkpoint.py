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
from .io import remove_stale_temporaries, write_atomic

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


# Settings that cannot change a number, so a resume may differ in them: the thread count (1 and 2
# threads give bit-identical metrics, tests/test_resume.py) and where the data live (the data are
# compared by their token-stream digests instead).
HARMLESS_FIELDS = ("train.threads", "data.data_dir")


def config_differences(saved: dict, current: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted fields whose values differ (except those in `ignore`), as 'field: <saved> there, <current> here'."""
    a, b = _flatten(saved), _flatten(current)
    return [f"{k}: {a.get(k, '<absent>')!r} there, {b.get(k, '<absent>')!r} here"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in ignore]


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
    """`DIR/train.pt` (or DIR/filename) for the run whose resolved config is `config` (a dict) on data
    `digests`. `stage` names the command that trains (a checkpoint of another command is refused);
    `inputs` identifies what the training starts from besides the config (e.g. the digest of the
    phase-1 model that phase 2 grows): a checkpoint made from other inputs is refused too."""

    def __init__(self, directory: str | os.PathLike, config: dict, digests: dict, stage: str = "lash train",
                 inputs: dict | None = None, filename: str = FILENAME):
        self.directory = Path(directory)
        self.path = self.directory / filename
        self.stage = stage
        # JSON round trip: the comparison sees what was saved (int keys become strings either way).
        self.config = json.loads(json.dumps(config, sort_keys=True))
        self.digests = json.loads(json.dumps(digests, sort_keys=True))
        self.inputs = json.loads(json.dumps(inputs or {}, sort_keys=True))

    def _fix(self) -> str:
        return (f"Fix: pass another --checkpoint-dir, or move {self.path} aside to start this run over "
                f"(e.g. mv {self.path} {self.path}.old)")

    def load(self) -> dict | None:
        """The saved state, or None when there is none yet. Refuses unreadable or foreign files.
        Temporaries of this checkpoint that a killed save left behind are removed first."""
        remove_stale_temporaries(self.path)
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated zip, not a torch file, a directory, disallowed pickled objects...
            raise CheckpointError(f"the checkpoint {self.path} is unreadable (truncated or corrupt: "
                                  f"{type(exc).__name__}). {self._fix()}") from exc
        if not isinstance(state, dict) or state.get("kind") != KIND:
            raise CheckpointError(f"{self.path} is not a lash training checkpoint (it may come from "
                                  f"another tool). {self._fix()}")
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{self.path} has checkpoint format {state.get('format')}, this lash "
                                  f"reads format {FORMAT}. {self._fix()}")
        saved_stage = state.get("stage", "lash train")  # checkpoints older than the field: lash train
        if saved_stage != self.stage:
            raise CheckpointError(f"the checkpoint {self.path} was written by `{saved_stage}`, not by "
                                  f"`{self.stage}` (one --checkpoint-dir per training command). {self._fix()}")
        diffs = config_differences(json.loads(state["config_json"]), self.config, ignore=HARMLESS_FIELDS)
        if diffs:
            raise CheckpointError(f"the checkpoint {self.path} belongs to another run; config field "
                                  f"{diffs[0]}" + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else "")
                                  + f". {self._fix()}")
        if json.loads(state["digests_json"]) != self.digests:
            raise CheckpointError(f"the checkpoint {self.path} was trained on other data (the token "
                                  f"digests differ). {self._fix()}")
        saved_inputs = json.loads(state.get("inputs_json", "{}"))
        if saved_inputs != self.inputs:
            changed = sorted(k for k in set(saved_inputs) | set(self.inputs)
                             if saved_inputs.get(k) != self.inputs.get(k))
            raise CheckpointError(f"the checkpoint {self.path} continues a training that started from other "
                                  f"inputs ({', '.join(changed)} differ). {self._fix()}")
        return state

    def save(self, state: dict) -> None:
        """Atomically (lash.io.write_atomic): never a half-written checkpoint."""
        payload = {"kind": KIND, "format": FORMAT, "stage": self.stage,
                   "config_json": json.dumps(self.config, sort_keys=True),
                   "digests_json": json.dumps(self.digests, sort_keys=True),
                   "inputs_json": json.dumps(self.inputs, sort_keys=True), **state}
        write_atomic(self.path, lambda fh: torch.save(payload, fh))

    def remove(self) -> None:
        """Delete the checkpoint after a finished run (and its directory when that leaves it empty)."""
        remove_checkpoint(self.directory, self.path.name)


def remove_checkpoint(directory: str | os.PathLike, filename: str = FILENAME) -> None:
    """Delete DIR/train.pt (or DIR/filename) after a finished run (and DIR itself when that leaves it empty)."""
    directory = Path(directory)
    (directory / filename).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass
