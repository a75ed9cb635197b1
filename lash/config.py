"""Run configuration: dataclasses, presets, merging and validation.

A run config is a nested mapping (YAML on disk). It is resolved in a fixed order:
defaults <- protocol overlay <- preset <- config file <- --smoke overlay <- --set overrides,
then validated. Every error names the offending field and says how to fix it.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError


@dataclass
class ModelConfig:
    dim: int = 64
    n_layers: int = 3
    n_heads: int = 4
    ffn_mult: int = 4
    max_seq_len: int = 1024
    rope_base: float = 10000.0


@dataclass
class SyntheticConfig:
    """A first-order Markov source with Zipfian transition rows (entropy rate known)."""

    vocab_size: int = 48
    zipf_s: float = 1.2
    seed: int = 1234


@dataclass
class DataConfig:
    corpus: str = "wikitext2"  # wikitext2 | fallback | synthetic
    level: str = "char"  # char | word
    source: str = "auto"  # auto | local | hub  (wikitext2 only)
    data_dir: str | None = None  # local WikiText-2 directory; env LASH_DATA_DIR when unset
    train_size: int | None = 100_000  # chars (char level) or tokens (word level); None = whole split
    val_size: int | None = 10_000
    test_size: int | None = 10_000  # 0 = no test split (the original never used one)
    seq_len: int = 64
    batch_size: int = 32
    batching: str = "contiguous"  # contiguous (D1/D2b) | chunks (D2a, shuffled)
    vocab_from: str = "train"  # train | train+validation (original) | full_train+validation (D2)
    lowercase: bool = False
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class AlphaScheduleConfig:
    type: str = "constant"  # constant | linear | cosine | step
    start: float = 0.7
    end: float = 0.7
    steps: list[int] = field(default_factory=list)
    epochs: int | None = None  # horizon of the schedule; None = train.max_epochs


@dataclass
class TrainConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_epochs: int = 50
    patience: int = 3  # stop after this many consecutive epochs without improvement
    restore_best: bool = True
    normalize_weights: bool = False
    stop_metric: str = "routed"  # routed (at routing_threshold) | final (last exit only)
    alpha_schedule: AlphaScheduleConfig | None = None
    device: str = "cpu"
    threads: int | None = None
    kernels: str = "fast"  # fast (fused head+CE, fused block ops) | reference (plain PyTorch ops)


@dataclass
class EvalConfig:
    exit_layer: int = 1
    confidence: str = "max_prob"  # max_prob | margin | entropy
    ece_bins: int = 15
    sweep_thresholds: list[float] = field(
        default_factory=lambda: [round(0.1 * i, 1) for i in range(11)]
    )


@dataclass
class AshemConfig:
    """ASHEM (PAPER_SPEC 5.3) and progressive layer training (5.1): two phases, a shallow model and
    a deeper one grown from it. Defaults are the original's ASHEM settings."""

    phase1_layers: int = 2  # the shallow model (its last layer is the exit of the final model)
    phase2_layers: int = 4  # the grown model; must equal model.n_layers
    phase1_lr: float = 1e-3
    phase1_patience: int = 1
    phase1_max_epochs: int = 50
    phase2_lr: float = 1e-4
    phase2_patience: int = 3
    phase2_max_epochs: int = 50
    hard_ratio: float = 0.5  # threshold = torch.quantile(confidence, hard_ratio); hard = conf < threshold
    mine_split: str = "validation"  # where hard tokens are mined: validation (original) | train
    mine_tokens: int | None = None  # mine only the first rows of mine_split up to this many tokens; None = all
    report_split: str = "validation"  # where the final numbers come from: validation (original) | test
    phase2_context: str = "token"  # token: each hard token is a length-1 sequence (original) | full
    eval_context: str = "full"  # deep layers at evaluation: full causal context (original) | token
    head: str = "trainable"  # the shared output head in phase 2: trainable (original) | frozen
    freeze: str = "hard"  # hard: embedding + blocks 1..phase1_layers frozen | soft: per-layer LR scales
    soft_lr_scales: dict[int, float] = field(
        default_factory=lambda: {1: 0.01, 2: 0.05, 3: 0.5, 4: 1.0})  # freeze=soft only
    hard_batch_size: int = 64  # hard tokens per phase-2 step
    hard_reshuffle: bool = False  # the original draws one permutation of the hard tokens, never reshuffled
    calibration_budget: float = 0.01  # threshold calibration: at most this relative PPL loss vs deep only
    progressive_supervision: str = "standard"  # progressive only: standard ({N: 1}) | deep (1/N each)


@dataclass
class RunConfig:
    name: str = "run"
    protocol: str = "corrected"  # original | corrected (a label plus an overlay of defaults)
    preset: str | None = None
    seed: int = 42
    layer_weights: dict[int, float] = field(default_factory=lambda: {1: 0.0, 2: 0.0, 3: 1.0})
    layer_lr_scales: dict[int, float] | None = None
    routing_threshold: float = 0.0  # 0 disables routing (the original's convention)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ashem: AshemConfig = field(default_factory=AshemConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- presets

def _alpha_weights(alpha: float) -> dict[int, float]:
    return {1: alpha, 2: 0.0, 3: round(1.0 - alpha, 10)}


def _word_data(protocol: str, batching: str = "contiguous") -> dict[str, Any]:
    """Word-level WikiText-2, N = 10,000 samples of 33 tokens (PAPER_SPEC D2)."""
    return {"corpus": "wikitext2", "level": "word", "lowercase": True,
            "vocab_from": "full_train+validation" if protocol == "original" else "train",
            "train_size": 330_000, "val_size": 66_000,
            "test_size": 0 if protocol == "original" else 66_000,
            "seq_len": 32, "batch_size": 64, "batching": batching}


def _ashem_preset(protocol: str, baseline: str | None = None) -> dict[str, Any]:
    original = protocol == "original"
    preset: dict[str, Any] = {
        "model": {"dim": 64, "n_heads": 4, "n_layers": 4},
        "data": _word_data(protocol),
        "layer_weights": {1: 0, 2: 0, 3: 0, 4: 1},  # phase 2's loss is on the last layer
        "routing_threshold": 0.0,
        "eval": {"exit_layer": 2},
        "ashem": {"mine_split": "validation" if original else "train",
                  "report_split": "validation" if original else "test"},
    }
    if baseline is not None:
        # ASHEM's phase 1 settings (lr 1e-3, patience 1 / 3 by protocol, best state restored).
        preset["train"] = {"lr": 1e-3, "patience": 1 if original else 3, "restore_best": True,
                           "stop_metric": "final", "max_epochs": 50}
        if baseline == "shallow_deep":
            # Exits at 2 and 4; 0.15 ~ the original's mined threshold (0.1499). `lash ashem baseline`
            # replaces it by the same quantile rule ASHEM uses.
            preset["layer_weights"] = {2: 0.5, 4: 0.5}
            preset["routing_threshold"] = 0.15
    return preset


def _progressive_preset(supervision: str) -> dict[str, Any]:
    return {
        "model": {"dim": 64, "n_heads": 4, "n_layers": 4},
        "data": _word_data("original", batching="chunks"),
        "layer_weights": {1: 0, 2: 0, 3: 0, 4: 1},
        "routing_threshold": 0.0,
        "ashem": {"phase1_layers": 3, "phase2_layers": 4, "phase1_patience": 1,
                  "phase2_patience": 1, "progressive_supervision": supervision},
    }


#: Training strategies of PAPER_SPEC section 3 (plus section 4's threshold sweep setup).
PRESETS: dict[str, dict[str, Any]] = {
    "standard": {"layer_weights": {1: 0, 2: 0, 3: 1}, "routing_threshold": 0.0},
    "standard_1l": {
        "layer_weights": {1: 1},
        "routing_threshold": 0.0,
        "model": {"n_layers": 1},
    },
    "deep_supervision": {"layer_weights": {1: 1 / 3, 2: 1 / 3, 3: 1 / 3}, "routing_threshold": 0.0},
    "deep_supervision_routing": {
        "layer_weights": {1: 1 / 3, 2: 1 / 3, 3: 1 / 3},
        "routing_threshold": 0.7,
    },
    "aux_loss": {"layer_weights": _alpha_weights(0.5), "routing_threshold": 0.95},
    "asymmetric": {"layer_weights": _alpha_weights(0.7), "routing_threshold": 0.95},
    "asymmetric_l2": {"layer_weights": {1: 0.7, 2: 1.0, 3: 0.3}, "routing_threshold": 0.95},
    "deep_focus": {"layer_weights": _alpha_weights(0.3), "routing_threshold": 0.95},
    "discriminative_decreasing": {
        "layer_weights": _alpha_weights(0.7),
        "layer_lr_scales": {1: 1.0, 2: 0.5, 3: 0.1},
        "routing_threshold": 0.95,
    },
    "discriminative_increasing": {
        "layer_weights": _alpha_weights(0.7),
        "layer_lr_scales": {1: 0.1, 2: 0.5, 3: 1.0},
        "routing_threshold": 0.95,
    },
    "discriminative_mild_decreasing": {
        "layer_weights": _alpha_weights(0.7),
        "layer_lr_scales": {1: 1.0, 2: 0.8, 3: 0.6},
        "routing_threshold": 0.95,
    },
    "discriminative_mild_increasing": {
        "layer_weights": _alpha_weights(0.7),
        "layer_lr_scales": {1: 0.6, 2: 0.8, 3: 1.0},
        "routing_threshold": 0.95,
    },
    "dynamic_alpha_linear": {
        "layer_weights": _alpha_weights(0.9),
        "routing_threshold": 0.95,
        "train": {"alpha_schedule": {"type": "linear", "start": 0.9, "end": 0.5}},
    },
    "dynamic_alpha_cosine": {
        "layer_weights": _alpha_weights(0.9),
        "routing_threshold": 0.95,
        "train": {"alpha_schedule": {"type": "cosine", "start": 0.9, "end": 0.5}},
    },
    "dynamic_alpha_step": {
        "layer_weights": _alpha_weights(0.9),
        "routing_threshold": 0.95,
        "train": {"alpha_schedule": {"type": "step", "start": 0.9, "end": 0.5, "steps": [2, 4, 6, 8]}},
    },
    # PAPER_SPEC section 4: 4 layers, dim 32, exit at layer 2, selected at threshold 1.0.
    "threshold_sweep": {
        "layer_weights": {1: 0, 2: 0.7, 3: 0, 4: 0.3},
        "routing_threshold": 0.8,
        "model": {"n_layers": 4, "dim": 32, "n_heads": 2},
        "data": {"train_size": 500_000, "val_size": 50_000, "test_size": 50_000, "seq_len": 128},
        "train": {"lr": 5e-4, "max_epochs": 30, "patience": 3, "restore_best": True,
                  "stop_metric": "final"},
        "eval": {"exit_layer": 2},
    },
    # PAPER_SPEC 5.3 (ASHEM), `original`: word-level D2b, vocab of the full train+validation splits,
    # mined, trained, selected and reported on validation; no test split.
    "ashem_original": _ashem_preset("original"),
    # `corrected`: vocab from train, mined on train, selected on validation, reported on test.
    "ashem_corrected": _ashem_preset("corrected"),
    # Fair baselines on the same data and model size, trained on all tokens (`lash train`, or
    # `lash ashem baseline` for the same headline keys, held-out Hard PPL and matched compute).
    "ashem_baseline_deep_original": _ashem_preset("original", baseline="deep"),
    "ashem_baseline_deep_corrected": _ashem_preset("corrected", baseline="deep"),
    "ashem_baseline_shallow_deep_original": _ashem_preset("original", baseline="shallow_deep"),
    "ashem_baseline_shallow_deep_corrected": _ashem_preset("corrected", baseline="shallow_deep"),
    # PAPER_SPEC 5.1: progressive layer training 3 -> 4 layers on D2a (shuffled 33-token chunks).
    "progressive_original": _progressive_preset("standard"),
    "progressive_deep_supervision_original": _progressive_preset("deep"),
}

#: Protocol overlays: what differs between the published scripts and the corrected runs.
PROTOCOLS: dict[str, dict[str, Any]] = {
    # The EASE-era scripts: fallback text, vocab from train+val, stop at the first
    # non-improving epoch, best-epoch metrics reported but weights not restored, no test split.
    "original": {
        "data": {"corpus": "fallback", "vocab_from": "train+validation", "test_size": 0},
        "train": {"patience": 1, "restore_best": False},
    },
    "corrected": {
        "data": {"corpus": "wikitext2", "vocab_from": "train"},
        "train": {"patience": 3, "restore_best": True},
    },
}

#: `--smoke`: the synthetic corpus and a budget of seconds.
SMOKE_OVERLAY: dict[str, Any] = {
    "data": {
        "corpus": "synthetic",
        "level": "word",
        "train_size": 16_384,
        "val_size": 4_096,
        "test_size": 4_096,
        "seq_len": 32,
        "batch_size": 16,
        "vocab_from": "train",
    },
    "train": {"max_epochs": 3},
    "ashem": {"phase1_max_epochs": 3, "phase2_max_epochs": 3},
}


# --------------------------------------------------------------------------- merging

def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `override` into a copy of `base`. The three core options are
    replaced as a whole, never merged key by key (a new weight map means exactly that map)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if (
            key not in ("layer_weights", "layer_lr_scales", "soft_lr_scales")
            and isinstance(value, dict)
            and isinstance(out.get(key), dict)
        ):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_set(assignment: str) -> dict[str, Any]:
    """`a.b=value` -> {"a": {"b": value}}, the value parsed as YAML."""
    if "=" not in assignment:
        raise ConfigError(assignment, "a --set needs the form key=value",
                          "write for example --set train.max_epochs=3")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(key, f"the value {raw!r} is not valid YAML ({exc.problem})",
                          "quote the value, e.g. --set 'layer_weights={1: 0.7, 3: 0.3}'") from exc
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


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


# --------------------------------------------------------------------------- validation

def _check_type(path: str, value: Any, kind: type | tuple, fix: str) -> None:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(path, f"expected a number, got {value!r}", fix)
    if not isinstance(value, kind):
        raise ConfigError(path, f"expected {getattr(kind, '__name__', kind)}, got {value!r}", fix)


def _choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(path, f"{value!r} is not allowed", f"use one of {list(choices)}")


def validate(cfg: RunConfig) -> None:
    m, d, t, e = cfg.model, cfg.data, cfg.train, cfg.eval
    for path, value in [("model.dim", m.dim), ("model.n_layers", m.n_layers),
                        ("model.n_heads", m.n_heads), ("model.ffn_mult", m.ffn_mult),
                        ("model.max_seq_len", m.max_seq_len), ("data.seq_len", d.seq_len),
                        ("data.batch_size", d.batch_size), ("train.max_epochs", t.max_epochs),
                        ("eval.ece_bins", e.ece_bins), ("eval.exit_layer", e.exit_layer)]:
        _check_type(path, value, int, "use a positive integer")
        if value < 1:
            raise ConfigError(path, f"must be at least 1, got {value}", "use a positive integer")
    if m.dim % m.n_heads or (m.dim // m.n_heads) % 2:
        raise ConfigError("model.n_heads", f"dim {m.dim} is not divisible into {m.n_heads} heads of even size",
                          "choose n_heads so that dim / n_heads is an even integer")
    if d.seq_len > m.max_seq_len:
        raise ConfigError("data.seq_len", f"{d.seq_len} exceeds model.max_seq_len {m.max_seq_len}",
                          "shorten seq_len or raise model.max_seq_len")
    _check_type("seed", cfg.seed, int, "use an integer seed")

    n = m.n_layers
    lw = cfg.layer_weights
    if not lw:
        raise ConfigError("layer_weights", "is empty", f"give at least one exit in 1..{n} a weight > 0")
    for layer, w in lw.items():
        if not 1 <= layer <= n:
            raise ConfigError("layer_weights", f"exit {layer} is outside the model (layers 1..{n})",
                              f"use exits 1..{n}, or raise model.n_layers")
        if w < 0:
            raise ConfigError(f"layer_weights[{layer}]", f"weight {w} is negative",
                              "use weights >= 0 (0 means no loss at that exit)")
    if all(w == 0 for w in lw.values()) and t.alpha_schedule is None:
        raise ConfigError("layer_weights", "all weights are zero, so nothing would be trained",
                          f"give at least one exit a weight > 0 (e.g. {{{n}: 1}})")
    if cfg.layer_lr_scales is not None:
        for layer, s in cfg.layer_lr_scales.items():
            if not 1 <= layer <= n:
                raise ConfigError("layer_lr_scales", f"layer {layer} is outside the model (layers 1..{n})",
                                  f"use layers 1..{n}")
            if s <= 0:
                raise ConfigError(f"layer_lr_scales[{layer}]", f"scale {s} must be > 0",
                                  "use a positive scale (freeze a layer some other way)")
    _check_type("routing_threshold", cfg.routing_threshold, (int, float), "use a number in [0, 1]")
    if not 0.0 <= cfg.routing_threshold <= 1.0:
        raise ConfigError("routing_threshold", f"{cfg.routing_threshold} is outside [0, 1]",
                          "use a confidence threshold between 0 and 1 (0 disables routing)")
    if not 1 <= e.exit_layer <= n:
        raise ConfigError("eval.exit_layer", f"exit {e.exit_layer} is outside the model (layers 1..{n})",
                          f"use an exit in 1..{n}")
    for thr in e.sweep_thresholds:
        if not isinstance(thr, (int, float)) or not 0.0 <= thr <= 1.0:
            raise ConfigError("eval.sweep_thresholds", f"{thr!r} is outside [0, 1]",
                              "list thresholds between 0 and 1")
    _choice("eval.confidence", e.confidence, ("max_prob", "margin", "entropy"))

    _choice("data.corpus", d.corpus, ("wikitext2", "fallback", "synthetic"))
    _choice("data.level", d.level, ("char", "word"))
    _choice("data.source", d.source, ("auto", "local", "hub"))
    _choice("data.batching", d.batching, ("contiguous", "chunks"))
    _choice("data.vocab_from", d.vocab_from, ("train", "train+validation", "full_train+validation"))
    for path, value in [("data.train_size", d.train_size), ("data.val_size", d.val_size),
                        ("data.test_size", d.test_size)]:
        if value is not None:
            _check_type(path, value, int, "use a non-negative integer, or null for the whole split")
            if value < 0:
                raise ConfigError(path, f"must be >= 0, got {value}", "use a non-negative size")
    if d.val_size == 0:
        raise ConfigError("data.val_size", "a validation split is required", "use a positive size")
    if d.synthetic.vocab_size < 2:
        raise ConfigError("data.synthetic.vocab_size", "needs at least 2 symbols", "use 2 or more")

    for path, value in [("train.lr", t.lr), ("train.grad_clip", t.grad_clip)]:
        _check_type(path, value, (int, float), "use a positive number")
        if value <= 0:
            raise ConfigError(path, f"must be > 0, got {value}", "use a positive number")
    _check_type("train.weight_decay", t.weight_decay, (int, float), "use a number >= 0")
    if t.weight_decay < 0:
        raise ConfigError("train.weight_decay", "must be >= 0", "use 0.01 (the AdamW default) or 0")
    _check_type("train.patience", t.patience, int, "use an integer >= 1")
    if t.patience < 1:
        raise ConfigError("train.patience", f"must be >= 1, got {t.patience}",
                          "use 1 to stop at the first epoch without improvement")
    _choice("train.stop_metric", t.stop_metric, ("routed", "final"))
    _choice("train.kernels", t.kernels, ("fast", "reference"))
    if t.threads is not None:
        _check_type("train.threads", t.threads, int, "use a positive integer or null")
        if t.threads < 1:
            raise ConfigError("train.threads", "must be >= 1", "use a positive integer or null")
    if not (t.device == "cpu" or t.device == "cuda" or t.device.startswith("cuda:")):
        raise ConfigError("train.device", f"{t.device!r} is not a device", "use cpu or cuda")
    if t.alpha_schedule is not None:
        a = t.alpha_schedule
        _choice("train.alpha_schedule.type", a.type, ("constant", "linear", "cosine", "step"))
        for path, value in [("train.alpha_schedule.start", a.start), ("train.alpha_schedule.end", a.end)]:
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(path, f"{value!r} is outside [0, 1]", "use an alpha in [0, 1]")
        if a.epochs is not None and (not isinstance(a.epochs, int) or a.epochs < 1):
            raise ConfigError("train.alpha_schedule.epochs", f"{a.epochs!r} is not a positive integer",
                              "use a positive number of epochs or null")
        if 1 not in lw or n not in lw:
            raise ConfigError("layer_weights", f"an alpha schedule sets exits 1 and {n}",
                              f"include exits 1 and {n} in layer_weights")
    _validate_ashem(cfg.ashem)


def _validate_ashem(a: AshemConfig) -> None:
    """Checks inside the ashem section; that model.n_layers equals phase2_layers is checked when an
    ASHEM stage runs (other runs keep the defaults of this section)."""
    for path, value in [("ashem.phase1_layers", a.phase1_layers), ("ashem.phase2_layers", a.phase2_layers),
                        ("ashem.phase1_patience", a.phase1_patience),
                        ("ashem.phase2_patience", a.phase2_patience),
                        ("ashem.phase1_max_epochs", a.phase1_max_epochs),
                        ("ashem.phase2_max_epochs", a.phase2_max_epochs),
                        ("ashem.hard_batch_size", a.hard_batch_size)]:
        _check_type(path, value, int, "use a positive integer")
        if value < 1:
            raise ConfigError(path, f"must be at least 1, got {value}", "use a positive integer")
    if a.phase2_layers <= a.phase1_layers:
        raise ConfigError("ashem.phase2_layers", f"{a.phase2_layers} is not deeper than phase 1 "
                          f"({a.phase1_layers} layers)", "grow the model: phase2_layers > phase1_layers")
    for path, value in [("ashem.phase1_lr", a.phase1_lr), ("ashem.phase2_lr", a.phase2_lr)]:
        _check_type(path, value, (int, float), "use a positive number")
        if value <= 0:
            raise ConfigError(path, f"must be > 0, got {value}", "use a positive learning rate")
    if a.mine_tokens is not None:
        _check_type("ashem.mine_tokens", a.mine_tokens, int, "use a whole number of tokens, or null for all")
        if a.mine_tokens < 1:
            raise ConfigError("ashem.mine_tokens", f"{a.mine_tokens} is not positive",
                              "use a positive number of tokens, or null to mine the whole split")
    _check_type("ashem.hard_ratio", a.hard_ratio, (int, float), "use a number in (0, 1)")
    if not 0.0 < a.hard_ratio < 1.0:
        raise ConfigError("ashem.hard_ratio", f"{a.hard_ratio} is outside (0, 1)",
                          "use the quantile of confidence below which tokens are hard, e.g. 0.5")
    _check_type("ashem.calibration_budget", a.calibration_budget, (int, float), "use a number >= 0")
    if a.calibration_budget < 0:
        raise ConfigError("ashem.calibration_budget", f"{a.calibration_budget} is negative",
                          "use a relative PPL loss such as 0.01 (1 %)")
    _choice("ashem.mine_split", a.mine_split, ("validation", "train"))
    _choice("ashem.report_split", a.report_split, ("validation", "test"))
    _choice("ashem.phase2_context", a.phase2_context, ("token", "full"))
    _choice("ashem.eval_context", a.eval_context, ("full", "token"))
    _choice("ashem.head", a.head, ("trainable", "frozen"))
    _choice("ashem.freeze", a.freeze, ("hard", "soft"))
    _choice("ashem.progressive_supervision", a.progressive_supervision, ("standard", "deep"))
    _check_type("ashem.hard_reshuffle", a.hard_reshuffle, bool, "use true or false")
    for layer, scale in a.soft_lr_scales.items():
        if not 1 <= layer <= a.phase2_layers:
            raise ConfigError("ashem.soft_lr_scales", f"layer {layer} is outside the phase-2 model "
                              f"(layers 1..{a.phase2_layers})", f"use layers 1..{a.phase2_layers}")
        if scale <= 0:
            raise ConfigError(f"ashem.soft_lr_scales[{layer}]", f"scale {scale} must be > 0",
                              "use a positive scale")


def config_to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
