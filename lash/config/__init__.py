"""Run configuration: dataclasses (schema), named presets, merging, validation and resolution.

A run config is a nested mapping (YAML on disk). It is resolved in a fixed order:
defaults <- protocol overlay <- preset <- config file <- --smoke overlay <- --set overrides,
then validated. Every error names the offending field and says how to fix it.
"""

from ..errors import ConfigError
from .merge import WHOLE_MAPPINGS, deep_merge, flatten_overrides, parse_set
from .presets import PRESETS, PROTOCOLS, SMOKE_OVERLAY
from .resolve import config_to_yaml, from_dict, load_yaml, resolve_config
from .schema import (AlphaScheduleConfig, AshemConfig, DataConfig, EvalConfig, ModelConfig, RunConfig,
                     SyntheticConfig, TrainConfig, choices)
from .strict_yaml import StrictYAMLError, load_strict
from .validate import check_hardware, did_you_mean, validate

__all__ = [
    "AlphaScheduleConfig", "AshemConfig", "ConfigError", "DataConfig", "EvalConfig", "ModelConfig",
    "PRESETS", "PROTOCOLS", "RunConfig", "SMOKE_OVERLAY", "StrictYAMLError", "SyntheticConfig",
    "TrainConfig", "WHOLE_MAPPINGS", "check_hardware", "choices", "config_to_yaml", "deep_merge",
    "did_you_mean", "flatten_overrides", "from_dict", "load_strict", "load_yaml", "parse_set",
    "resolve_config", "validate",
]
