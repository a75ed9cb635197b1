"""Resolving a run config: defaults <- protocol <- preset <- file <- --smoke <- --set, typed and validated."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import yaml

from ..errors import ConfigError
from .merge import deep_merge, parse_set
from .presets import PRESETS, PROTOCOLS, SMOKE_OVERLAY
from .schema import (AlphaScheduleConfig, AshemConfig, DataConfig, EvalConfig, ModelConfig, RunConfig,
                     SyntheticConfig, TrainConfig)
from .validate import validate

def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except FileNotFoundError as exc:
        raise ConfigError("CONFIG", f"file {path} does not exist", "pass an existing YAML file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError("CONFIG", f"{path} is not valid YAML: {exc}", "fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise ConfigError("CONFIG", f"{path} must hold a mapping at the top level",
                          "write `key: value` lines")
    return data


def resolve_config(
    file_config: dict[str, Any] | None = None,
    preset: str | None = None,
    sets: list[str] | None = None,
    smoke: bool = False,
    seed: int | None = None,
) -> RunConfig:
    """Merge defaults, protocol, preset, file, smoke overlay and --set values; validate."""
    file_config = dict(file_config or {})
    set_dicts = [parse_set(s) for s in (sets or [])]
    top_sets = deep_merge({}, {})
    for d in set_dicts:
        top_sets = deep_merge(top_sets, d)

    protocol = top_sets.get("protocol", file_config.get("protocol", "corrected"))
    if protocol not in PROTOCOLS:
        raise ConfigError("protocol", f"unknown protocol {protocol!r}",
                          f"use one of {sorted(PROTOCOLS)}")
    preset = preset or top_sets.get("preset") or file_config.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ConfigError("preset", f"unknown preset {preset!r}",
                          f"use one of: {', '.join(sorted(PRESETS))}")

    merged = RunConfig().to_dict()
    merged = deep_merge(merged, PROTOCOLS[protocol])
    if preset is not None:
        merged = deep_merge(merged, PRESETS[preset])
        merged["name"] = preset
    merged = deep_merge(merged, file_config)
    if smoke:
        merged = deep_merge(merged, SMOKE_OVERLAY)
    merged = deep_merge(merged, top_sets)
    merged["protocol"] = protocol
    merged["preset"] = preset
    if seed is not None:
        merged["seed"] = seed
    if merged["data"].get("data_dir") is None and os.environ.get("LASH_DATA_DIR"):
        merged["data"]["data_dir"] = os.environ["LASH_DATA_DIR"]
    cfg = from_dict(merged)
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------- typed conversion

_SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "ashem": AshemConfig,
    "data.synthetic": SyntheticConfig,
    "train.alpha_schedule": AlphaScheduleConfig,
}


def _build(cls, values: Any, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(prefix, f"expected a mapping, got {values!r}", f"write `{prefix}:` as a section")
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in known:
            raise ConfigError(path, "unknown key",
                              f"remove it or use one of: {', '.join(sorted(known))}")
        if path in _SECTIONS and value is not None:
            value = _build(_SECTIONS[path], value, path)
        elif not prefix and key in _SECTIONS:
            value = _build(_SECTIONS[key], value, key)
        kwargs[key] = value
    return cls(**kwargs)


def from_dict(values: dict[str, Any]) -> RunConfig:
    cfg = _build(RunConfig, values, "")
    cfg.layer_weights = _int_keyed(cfg.layer_weights, "layer_weights")
    if cfg.layer_lr_scales is not None:
        cfg.layer_lr_scales = _int_keyed(cfg.layer_lr_scales, "layer_lr_scales")
    cfg.ashem.soft_lr_scales = _int_keyed(cfg.ashem.soft_lr_scales, "ashem.soft_lr_scales")
    return cfg


def _int_keyed(mapping: Any, name: str) -> dict[int, float]:
    if not isinstance(mapping, dict):
        raise ConfigError(name, f"expected a mapping of exit -> value, got {mapping!r}",
                          f"write e.g. --set '{name}={{1: 0.7, 2: 0, 3: 0.3}}'")
    out = {}
    for key, value in mapping.items():
        try:
            layer = int(key)
        except (TypeError, ValueError) as exc:
            raise ConfigError(name, f"key {key!r} is not a layer number",
                              "use integer layer numbers starting at 1") from exc
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}[{layer}]", f"value {value!r} is not a number",
                              "use a number")
        out[layer] = float(value)
    return dict(sorted(out.items()))



def config_to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
