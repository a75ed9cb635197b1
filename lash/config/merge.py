"""Turning layer dicts and --set strings into a merged config mapping, and back into --set pairs."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ConfigError
from .strict_yaml import parse_or_refuse

#: Mappings that a new value replaces as a whole, never merged key by key: a new weight map means
#: exactly that map. Dotted paths; deep_merge and flatten_overrides both read this one set.
WHOLE_MAPPINGS = frozenset({"layer_weights", "layer_lr_scales", "ashem.soft_lr_scales"})


def deep_merge(base: dict[str, Any], override: dict[str, Any], _prefix: str = "") -> dict[str, Any]:
    """Recursively merge `override` into a copy of `base`; WHOLE_MAPPINGS are replaced whole."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{_prefix}{key}"
        if path not in WHOLE_MAPPINGS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, f"{path}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def flatten_overrides(mapping: dict[str, Any], _prefix: str = "") -> list[tuple[str, Any]]:
    """{"train": {"lr": 1}} -> [("train.lr", 1)]: the `--set` pairs of a nested override mapping, in
    its order. WHOLE_MAPPINGS stay one pair each, so `--set` replaces them whole as deep_merge does."""
    items: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        path = f"{_prefix}{key}"
        if isinstance(value, dict) and path not in WHOLE_MAPPINGS:
            items += flatten_overrides(value, f"{path}.")
        else:
            items.append((path, value))
    return items


def parse_set(assignment: str) -> dict[str, Any]:
    """`a.b=value` -> {"a": {"b": value}}, the value parsed as (strict) YAML."""
    if "=" not in assignment:
        raise ConfigError(assignment, "a --set needs the form key=value",
                          "write for example --set train.max_epochs=3")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not all(part.strip() for part in parts):
        raise ConfigError(key or assignment, "the key has an empty part",
                          "write a dotted key such as --set train.max_epochs=3")
    shown = raw if len(raw) <= 80 else raw[:80] + "..."
    value = parse_or_refuse(raw, key, f"the value {shown!r}",
                            "quote the value, e.g. --set 'layer_weights={1: 0.7, 3: 0.3}'")
    out: dict[str, Any] = {}
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out
