"""The run config's sections as dataclasses: every field, its type and its default."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

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

