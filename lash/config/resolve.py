"""Resolving a run config: defaults <- protocol <- preset <- file <- --smoke <- --set, typed and validated."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import typing
from typing import Any

import yaml

from ..errors import ConfigError
from .merge import deep_merge, parse_set
from .presets import PRESETS, PROTOCOLS, SMOKE_OVERLAY
from .schema import RunConfig, field_types, optional_inner
from .strict_yaml import parse_or_refuse
from .validate import check_hardware, did_you_mean, validate


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A run config file: a regular UTF-8 file holding one mapping, read with the strict loader."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # stat first: a FIFO would block open() forever
            raise ConfigError("CONFIG", f"{path} is not a regular file",
                              "pass a YAML file (not a directory, pipe or device)")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError as exc:
        raise ConfigError("CONFIG", f"file {path} does not exist", "pass an existing YAML file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("CONFIG", f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start})", "save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError("CONFIG", f"cannot read {path} ({exc.strerror})", "pass a readable YAML file") from exc
    data = parse_or_refuse(text, "CONFIG", str(path), "fix the YAML syntax")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("CONFIG", f"{path} must hold a mapping at the top level",
                          "write `key: value` lines")
    return data


def _named(field_name: str, value: Any, known: dict) -> Any:
    """A protocol or preset name: a string that names one of `known`, or a suggestion."""
    if value is None:
        return None
    fix = f"use one of: {', '.join(sorted(known))}"
    if not isinstance(value, str):
        raise ConfigError(field_name, f"expected a name, got {value!r}", fix)
    if value not in known:
        raise ConfigError(field_name, f"unknown {field_name} {value!r}{did_you_mean(value, known)}", fix)
    return value


def resolve_config(
    file_config: dict[str, Any] | None = None,
    preset: str | None = None,
    sets: list[str] | None = None,
    smoke: bool = False,
    seed: int | None = None,
) -> RunConfig:
    """Merge defaults, protocol, preset, file, smoke overlay and --set values; validate; check that this
    machine has the device the config asks for."""
    file_config = dict(file_config or {})
    top_sets: dict[str, Any] = {}
    for assignment in sets or []:
        top_sets = deep_merge(top_sets, parse_set(assignment))

    protocol = top_sets.get("protocol", file_config.get("protocol", "corrected"))
    if protocol is None:
        raise ConfigError("protocol", "must not be null", f"use one of: {', '.join(sorted(PROTOCOLS))}")
    protocol = _named("protocol", protocol, PROTOCOLS)
    preset = _named("preset", preset or top_sets.get("preset") or file_config.get("preset"), PRESETS)

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
    data = merged.get("data")
    if isinstance(data, dict) and data.get("data_dir") is None and os.environ.get("LASH_DATA_DIR"):
        data["data_dir"] = os.environ["LASH_DATA_DIR"]
    cfg = from_dict(merged)
    validate(cfg)
    check_hardware(cfg)
    return cfg


# --------------------------------------------------------------------------- typed conversion

def _build(cls, values: Any, prefix: str):
    """A config dataclass from a mapping: unknown keys refused, sections built, layer maps made int-keyed."""
    if not isinstance(values, dict):
        raise ConfigError(prefix, f"expected a mapping, got {values!r}", f"write `{prefix}:` as a section")
    types = field_types(cls)
    kwargs = {}
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in types:
            raise ConfigError(path, f"unknown key{did_you_mean(key, types)}",
                              f"remove it or use one of: {', '.join(sorted(types))}")
        tp, optional = optional_inner(types[key])
        if value is None and optional:
            pass
        elif dataclasses.is_dataclass(tp):
            value = _build(tp, value, path)
        elif typing.get_origin(tp) is dict:
            value = _int_keyed(value, path)
        kwargs[key] = value
    return cls(**kwargs)


def from_dict(values: dict[str, Any]) -> RunConfig:
    return _build(RunConfig, values, "")


_DIGITS = re.compile(r"\s*[0-9]+\s*")


def _int_keyed(mapping: Any, name: str) -> dict[int, float]:
    """{layer: number} with integer layers; "1" (JSON's spelling) is layer 1, 1.5 or true is refused."""
    if not isinstance(mapping, dict):
        raise ConfigError(name, f"expected a mapping of exit -> value, got {mapping!r}",
                          f"write e.g. --set '{name}={{1: 0.7, 2: 0, 3: 0.3}}'")
    out: dict[int, float] = {}
    for key, value in mapping.items():
        if isinstance(key, int) and not isinstance(key, bool):
            layer = key
        elif isinstance(key, str) and _DIGITS.fullmatch(key):
            layer = int(key)
        else:
            raise ConfigError(name, f"key {key!r} is not a layer number",
                              "use integer layer numbers starting at 1")
        if layer in out:
            raise ConfigError(name, f"layer {layer} is given twice", "give each layer once")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}[{layer}]", f"value {value!r} is not a number", "use a number")
        try:
            out[layer] = float(value)
        except OverflowError:
            raise ConfigError(f"{name}[{layer}]", f"value {value!r} is not a finite number",
                              "use a finite number") from None
    return dict(sorted(out.items()))


def config_to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
