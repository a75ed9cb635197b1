"""Named configurations: training strategies (PAPER_SPEC section 3 and 5), protocol overlays and the
`--smoke` overlay. Each is a partial config mapping merged over the defaults (see resolve.py)."""

from __future__ import annotations

from typing import Any

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
                  "report_split": "validation" if original else "test",
                  # the original ran every stage in one process; the corrected protocol seeds phase 2
                  "phase2_rng": "carry" if original else "seeded"},
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

