"""Stage files: what each stage's output depends on (its signature), and their checkpoint I/O.

A stage file is a dict saved with torch.save and loaded with weights_only=True; its header names the
stage (`kind`), the full config, the signature and the data's token-stream digests, so a later stage
refuses an input made with another config or on other data."""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import torch

from ..checkpoint import FILENAME, TrainingCheckpoint
from ..config import RunConfig
from ..data import PreparedData
from ..errors import CheckpointError
from ..io import write_atomic

_PHASE1_KEYS = ["seed", "data", "model.dim", "model.n_heads", "model.ffn_mult", "model.max_seq_len",
                "model.rope_base", "train.weight_decay", "train.grad_clip", "train.kernels", "ashem.phase1_layers",
                "ashem.phase1_lr", "ashem.phase1_patience", "ashem.phase1_max_epochs"]
_MINE_KEYS = _PHASE1_KEYS + ["ashem.hard_ratio", "ashem.mine_split", "ashem.mine_tokens", "ashem.report_split",
                             "eval.confidence"]
_PHASE2_KEYS = _MINE_KEYS + ["model.n_layers", "ashem.phase2_layers", "ashem.phase2_lr",
                             "ashem.phase2_patience", "ashem.phase2_max_epochs", "ashem.phase2_context",
                             "ashem.eval_context", "ashem.head", "ashem.freeze", "ashem.soft_lr_scales",
                             "ashem.hard_batch_size", "ashem.hard_reshuffle", "ashem.phase2_rng"]
STAGE_KEYS = {"ashem_phase1": _PHASE1_KEYS, "ashem_mined": _MINE_KEYS, "ashem_phase2": _PHASE2_KEYS}


def signature(cfg: RunConfig, keys: list[str]) -> dict:
    """The config values a stage's output depends on (where the data lives is not one of them:
    the token-stream digests are checked separately)."""
    d = cfg.to_dict()
    out = {}
    for key in keys:
        node = d
        for part in key.split("."):
            node = node[part]
        if key == "data":
            node = {k: v for k, v in node.items() if k not in ("data_dir", "source")}
        out[key] = copy.deepcopy(node)
    return out


def config_diff(stored, current, prefix=""):
    """(dotted field, stored value, current value) for every field that differs."""
    if isinstance(stored, dict) and isinstance(current, dict):
        for k in sorted(set(stored) | set(current), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in stored or k not in current:
                yield path, stored.get(k), current.get(k)
            else:
                yield from config_diff(stored[k], current[k], path)
    elif stored != current:
        yield prefix, stored, current


def state_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, obj: dict) -> None:
    """torch.save, atomically (lash.io.write_atomic): a killed stage leaves no file."""
    write_atomic(path, lambda fh: torch.save(obj, fh))


# The command that writes each kind of stage file (for messages).
_WRITER = {"ashem_phase1": "lash ashem phase1", "ashem_mined": "lash ashem mine", "ashem_phase2": "lash ashem phase2"}


def _read_stage_file(path: Path, stage_hint: str):
    fix = f"Fix: pass the file that `{stage_hint}` wrote, or run it again"
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a stage file. {fix}")
    if not path.exists():
        raise CheckpointError(f"{path} does not exist. Fix: run `{stage_hint}` first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, JSON or text, pickled code refused by weights_only...
        raise CheckpointError(f"{path} is not a readable stage file (truncated, corrupt, or not a torch file: "
                              f"{type(exc).__name__}). {fix}") from exc


def load_checkpoint(path: str | os.PathLike, kind: str, cfg: RunConfig, stage_hint: str,
                    keys: list[str] | None = None) -> dict:
    """Load a stage output (weights_only) and refuse it if it is unreadable, of another stage, or made
    for another config (compared on the stage's signature keys, or on `keys`)."""
    path = Path(path)
    ck = _read_stage_file(path, stage_hint)
    got = ck.get("kind") if isinstance(ck, dict) else None
    if got != kind:
        what = f"the output of `{_WRITER[got]}`" if got in _WRITER else "not a lash ashem stage file"
        raise CheckpointError(f"{path} is {what}, not the {kind!r} file of `{stage_hint}`. Fix: pass the "
                              f"output of `{stage_hint}`")
    keys = keys or STAGE_KEYS[kind]
    diffs = list(config_diff({k: ck["signature"].get(k) for k in keys}, signature(cfg, keys)))
    if diffs:
        shown = "; ".join(f"{k} is {a!r} there, {b!r} here" for k, a, b in diffs[:5])
        raise CheckpointError(f"{path} was made with another config ({shown}). Fix: run `{stage_hint}` "
                              "with this config, or pass the same CONFIG/--preset/--set/--seed as that run")
    return ck


def training_checkpoint(directory: str | os.PathLike | None, stage: str, cfg: RunConfig, data: PreparedData,
                        inputs: dict | None = None, filename: str = FILENAME) -> TrainingCheckpoint | None:
    """The resumable checkpoint of one training phase (see lash.checkpoint), or None without a directory."""
    if directory is None:
        return None
    return TrainingCheckpoint(directory, cfg.to_dict(), data.digests, stage, inputs, filename)


def stage_header(kind: str, cfg: RunConfig, data: PreparedData) -> dict:
    return {"kind": kind, "config": cfg.to_dict(), "signature": signature(cfg, STAGE_KEYS[kind]),
            "data_digests": dict(data.digests), "vocab_size": len(data.vocab)}


def check_data(ck: dict, data: PreparedData, path) -> None:
    if ck["data_digests"] != dict(data.digests) or ck["vocab_size"] != len(data.vocab):
        raise CheckpointError(f"{path} was made from other data (token-stream digests or vocabulary "
                              "differ). Fix: rerun the earlier stages on this data")
