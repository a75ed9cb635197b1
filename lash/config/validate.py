"""Checks of a typed RunConfig: every field against its declaration in schema.py (type, choices, range),
then the relations between fields; check_hardware then asks this machine about the device."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from typing import Any, Iterable, Literal

from ..errors import ConfigError
from .schema import RunConfig, field_types, optional_inner


def did_you_mean(word: Any, candidates: Iterable[Any]) -> str:
    """"; did you mean 'asymmetric'?" for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------- each field by its declaration

def check_fields(obj: Any, prefix: str = "") -> None:
    """Walk a config dataclass and check each value against its field's type and limits."""
    types = field_types(type(obj))
    for f in dataclasses.fields(obj):
        _check(f"{prefix}{f.name}", getattr(obj, f.name), types[f.name], f.metadata)


def _check(path: str, value: Any, tp: Any, meta: typing.Mapping) -> None:
    tp, optional = optional_inner(tp)
    if value is None:
        if not optional:
            raise ConfigError(path, "must not be null", meta.get("fix") or f"give `{path}` a value or remove it")
        return
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise ConfigError(path, f"expected a mapping, got {value!r}", f"write `{path}:` as a section")
        check_fields(value, f"{path}.")
    elif origin is Literal:
        allowed = typing.get_args(tp)
        if not isinstance(value, str) or value not in allowed:
            raise ConfigError(path, f"{value!r} is not allowed{did_you_mean(value, allowed)}",
                              f"use one of {list(allowed)}")
    elif origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, f"expected a list, got {value!r}", meta.get("fix") or "write a list")
        for item in value:
            _check_scalar(path, item, typing.get_args(tp)[0], meta)
    elif origin is dict:  # layer -> number; resolve.from_dict has made the keys integers
        for layer, item in value.items():
            _check_scalar(f"{path}[{layer}]", item, typing.get_args(tp)[1], meta)
    else:
        _check_scalar(path, value, tp, meta)


def _check_scalar(path: str, value: Any, tp: type, meta: typing.Mapping) -> None:
    fix = meta.get("fix") or "see `lash config` for the defaults"
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}", "use true or false")
        return
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}", fix)
        if not value or not value.isprintable() or len(value) > meta.get("max_len", math.inf):
            raise ConfigError(path, f"{value[:80]!r} is not a plain string of 1 to {meta.get('max_len')} "
                              "printable characters", fix)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float) if tp is float else int):
        kind = "a number" if tp is float else "an integer"
        raise ConfigError(path, f"expected {kind}, got {value!r}", fix)
    if tp is float and not _finite(value):
        raise ConfigError(path, f"{value!r} is not a finite number", fix)
    problem = _outside(value, meta)
    if problem:
        raise ConfigError(path, problem, fix)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _outside(value: int | float, meta: typing.Mapping) -> str | None:
    """None when value is within the field's limits, else the problem in words."""
    ge, gt, le, lt = (meta.get(k) for k in ("ge", "gt", "le", "lt"))
    lo, hi = (ge if ge is not None else gt), (le if le is not None else lt)
    if ((ge is None or value >= ge) and (gt is None or value > gt)
            and (le is None or value <= le) and (lt is None or value < lt)):
        return None
    if lo is not None and hi is not None:
        interval = f"{'[' if ge is not None else '('}{lo}, {hi}{']' if le is not None else ')'}"
        return f"{value!r} is outside {interval}"
    op, bound = (">=", ge) if ge is not None else (">", gt) if gt is not None else ("<=", le) if le is not None \
        else ("<", lt)
    return f"must be {op} {bound}, got {value!r}"


# --------------------------------------------------------------------------- relations between fields

def validate(cfg: RunConfig) -> None:
    check_fields(cfg)
    m, d, t, e, a = cfg.model, cfg.data, cfg.train, cfg.eval, cfg.ashem
    if m.dim % m.n_heads or (m.dim // m.n_heads) % 2:
        raise ConfigError("model.n_heads", f"dim {m.dim} is not divisible into {m.n_heads} heads of even size",
                          "choose n_heads so that dim / n_heads is an even integer")
    if d.seq_len > m.max_seq_len:
        raise ConfigError("data.seq_len", f"{d.seq_len} exceeds model.max_seq_len {m.max_seq_len}",
                          "shorten seq_len or raise model.max_seq_len")
    if d.val_size == 0:
        raise ConfigError("data.val_size", "a validation split is required", "use a positive size")
    if not re.fullmatch(r"cpu|cuda(:[0-9]+)?", t.device):
        raise ConfigError("train.device", f"{t.device!r} is not a device", "use cpu, cuda or cuda:N")

    n = m.n_layers
    lw = cfg.layer_weights
    if not lw:
        raise ConfigError("layer_weights", "is empty", f"give at least one exit in 1..{n} a weight > 0")
    for layer in lw:
        if not 1 <= layer <= n:
            raise ConfigError("layer_weights", f"exit {layer} is outside the model (layers 1..{n})",
                              f"use exits 1..{n}, or raise model.n_layers")
    if all(w == 0 for w in lw.values()) and t.alpha_schedule is None:
        raise ConfigError("layer_weights", "all weights are zero, so nothing would be trained",
                          f"give at least one exit a weight > 0 (e.g. {{{n}: 1}})")
    for layer in cfg.layer_lr_scales or {}:
        if not 1 <= layer <= n:
            raise ConfigError("layer_lr_scales", f"layer {layer} is outside the model (layers 1..{n})",
                              f"use layers 1..{n}")
    if not 1 <= e.exit_layer <= n:
        raise ConfigError("eval.exit_layer", f"exit {e.exit_layer} is outside the model (layers 1..{n})",
                          f"use an exit in 1..{n}")
    if t.alpha_schedule is not None and (1 not in lw or n not in lw):
        raise ConfigError("layer_weights", f"an alpha schedule sets exits 1 and {n}",
                          f"include exits 1 and {n} in layer_weights")
    # That model.n_layers equals phase2_layers is checked when an ASHEM stage runs (other runs keep the
    # defaults of the ashem section).
    if a.phase2_layers <= a.phase1_layers:
        raise ConfigError("ashem.phase2_layers", f"{a.phase2_layers} is not deeper than phase 1 "
                          f"({a.phase1_layers} layers)", "grow the model: phase2_layers > phase1_layers")
    for layer in a.soft_lr_scales:
        if not 1 <= layer <= a.phase2_layers:
            raise ConfigError("ashem.soft_lr_scales", f"layer {layer} is outside the phase-2 model "
                              f"(layers 1..{a.phase2_layers})", f"use layers 1..{a.phase2_layers}")


# --------------------------------------------------------------------------- this machine

def check_hardware(cfg: RunConfig) -> None:
    """A CUDA device must exist here. Imports torch only for a CUDA config (config errors stay fast)."""
    device = cfg.train.device
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        build = f"torch {torch.__version__} " + ("with CUDA" if torch.version.cuda else "without CUDA support")
        raise ConfigError("train.device", f"{device!r} but torch sees no CUDA device on this machine ({build})",
                          "use train.device=cpu here, or run on a machine with a GPU")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ConfigError("train.device", f"{device!r} but this machine has {torch.cuda.device_count()} "
                          "CUDA device(s)", f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
