"""Checks of a typed RunConfig: ranges, allowed values and the relations between fields."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .schema import AshemConfig, RunConfig

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


