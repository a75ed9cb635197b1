"""The run config's sections as dataclasses: every field, its type, its default and its allowed values.

Allowed values are declared here once, in the field itself: a `Literal[...]` type lists the choices,
`setting(..., ge=/gt=/le=/lt=)` gives a number's range and `fix` the advice an error shows. The
generic check in validate.py reads them; `choices("data.batching")` hands them to others (the
workflow's schema, lash.early_exit).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal

from .presets import PRESETS

Protocol = Literal["original", "corrected"]
Corpus = Literal["wikitext2", "fallback", "synthetic"]
Level = Literal["char", "word"]
Source = Literal["auto", "local", "hub"]  # wikitext2 only
Batching = Literal["contiguous", "chunks"]  # contiguous (D1/D2b) | chunks (D2a, shuffled)
VocabFrom = Literal["train", "train+validation", "full_train+validation"]  # original | D2
ScheduleType = Literal["constant", "linear", "cosine", "step"]
StopMetric = Literal["routed", "final"]  # routed (at routing_threshold) | final (last exit only)
Kernels = Literal["fast", "reference", "original"]  # fused head+CE and block ops | plain PyTorch ops |
# the original code's arithmetic (plain ops, explicit attention, its clipping order, AdamW not fused)
Confidence = Literal["max_prob", "margin", "entropy"]  # the early-exit confidence measures
MineSplit = Literal["validation", "train"]
ReportSplit = Literal["validation", "test"]
Phase2Rng = Literal["seeded", "carry"]
Phase2Context = Literal["token", "full"]
EvalContext = Literal["full", "token"]
Head = Literal["trainable", "frozen"]
Freeze = Literal["hard", "soft"]
ProgressiveSupervision = Literal["standard", "deep"]

# Sane upper limits: far above any run of the paper, low enough that a typo cannot exhaust memory.
MAX_SIZE = 10**9  # tokens or characters of one split
MAX_EPOCHS = 100_000
MAX_LAYERS = 256
MAX_BATCH = 65_536
SEED_LIMIT = 2**63  # torch.manual_seed takes [-2**63, 2**64), numpy only seeds >= 0; this fits both

POSITIVE_INT = "use a positive integer"
SEED_FIX = f"use an integer seed in [0, 2**63) = [0, {SEED_LIMIT})"


def setting(default: Any = MISSING, *, factory: Any = MISSING, fix: str | None = None,
            ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, max_len: int | None = None) -> Any:
    """A dataclass field with its allowed range (numbers, or the items of a list or layer mapping)."""
    limits = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, max_len=max_len).items() if v is not None}
    return field(default=default, default_factory=factory, metadata={"fix": fix, **limits})


@dataclass
class ModelConfig:
    dim: int = setting(64, ge=1, le=8192, fix=POSITIVE_INT)
    n_layers: int = setting(3, ge=1, le=MAX_LAYERS, fix=POSITIVE_INT)
    n_heads: int = setting(4, ge=1, le=MAX_LAYERS, fix=POSITIVE_INT)
    ffn_mult: int = setting(4, ge=1, le=64, fix=POSITIVE_INT)
    max_seq_len: int = setting(1024, ge=1, le=65_536, fix=POSITIVE_INT)  # RoPE tables of this length
    rope_base: float = setting(10000.0, ge=1, fix="use a RoPE base >= 1 such as 10000 (the default)")


@dataclass
class SyntheticConfig:
    """A first-order Markov source with Zipfian transition rows (entropy rate known)."""

    vocab_size: int = setting(48, ge=2, le=4096, fix="use 2 or more")  # a V x V transition matrix
    zipf_s: float = setting(1.2, ge=0, le=100, fix="use a Zipf exponent such as 1.2")
    seed: int = setting(1234, ge=0, lt=SEED_LIMIT, fix=SEED_FIX)


SIZE_FIX = "use a non-negative integer, or null for the whole split"


@dataclass
class DataConfig:
    corpus: Corpus = "wikitext2"
    level: Level = "char"
    source: Source = "auto"
    data_dir: str | None = setting(None, max_len=4096, fix="give a directory path, or null")  # else LASH_DATA_DIR
    # chars (char level) or tokens (word level); None = whole split; test 0 = no test split
    train_size: int | None = setting(100_000, ge=1, le=MAX_SIZE, fix="use a positive integer (a model "
                                     "needs training data), or null for the whole split")
    val_size: int | None = setting(10_000, ge=0, le=MAX_SIZE, fix=SIZE_FIX)
    test_size: int | None = setting(10_000, ge=0, le=MAX_SIZE, fix=SIZE_FIX)
    seq_len: int = setting(64, ge=1, le=65_536, fix=POSITIVE_INT)
    batch_size: int = setting(32, ge=1, le=MAX_BATCH, fix=POSITIVE_INT)
    batching: Batching = "contiguous"
    vocab_from: VocabFrom = "train"
    lowercase: bool = False
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


ALPHA_FIX = "use an alpha in [0, 1]"


@dataclass
class AlphaScheduleConfig:
    type: ScheduleType = "constant"
    start: float = setting(0.7, ge=0, le=1, fix=ALPHA_FIX)
    end: float = setting(0.7, ge=0, le=1, fix=ALPHA_FIX)
    steps: list[int] = setting(factory=list, ge=0, le=MAX_EPOCHS,
                               fix="list the (0-indexed) epochs at which alpha steps down")
    epochs: int | None = setting(None, ge=1, le=MAX_EPOCHS, fix="use a positive number of epochs or null")


@dataclass
class TrainConfig:
    lr: float = setting(1e-3, gt=0, fix="use a positive number")
    weight_decay: float = setting(0.01, ge=0, fix="use 0.01 (the AdamW default) or 0")
    grad_clip: float = setting(1.0, gt=0, fix="use a positive number")
    max_epochs: int = setting(50, ge=1, le=MAX_EPOCHS, fix=POSITIVE_INT)
    # stop after this many consecutive epochs without improvement
    patience: int = setting(3, ge=1, le=MAX_EPOCHS, fix="use 1 to stop at the first epoch without improvement")
    restore_best: bool = True
    normalize_weights: bool = False
    stop_metric: StopMetric = "routed"
    alpha_schedule: AlphaScheduleConfig | None = None
    device: str = setting("cpu", max_len=64, fix="use cpu, cuda or cuda:N")  # checked against this machine
    threads: int | None = setting(None, ge=1, le=1024, fix="use a positive integer or null")
    kernels: Kernels = "fast"


@dataclass
class EvalConfig:
    exit_layer: int = setting(1, ge=1, le=MAX_LAYERS, fix=POSITIVE_INT)
    confidence: Confidence = "max_prob"
    ece_bins: int = setting(15, ge=1, le=10_000, fix=POSITIVE_INT)
    sweep_thresholds: list[float] = setting(factory=lambda: [round(0.1 * i, 1) for i in range(11)],
                                            ge=0, le=1, fix="list thresholds between 0 and 1")


@dataclass
class AshemConfig:
    """ASHEM (PAPER_SPEC 5.3) and progressive layer training (5.1): two phases, a shallow model and
    a deeper one grown from it. Defaults are the original's ASHEM settings."""

    # the shallow model (its last layer is the exit of the final model), and the grown one (= model.n_layers)
    phase1_layers: int = setting(2, ge=1, le=MAX_LAYERS, fix=POSITIVE_INT)
    phase2_layers: int = setting(4, ge=1, le=MAX_LAYERS, fix=POSITIVE_INT)
    phase1_lr: float = setting(1e-3, gt=0, fix="use a positive learning rate")
    phase1_patience: int = setting(1, ge=1, le=MAX_EPOCHS, fix=POSITIVE_INT)
    phase1_max_epochs: int = setting(50, ge=1, le=MAX_EPOCHS, fix=POSITIVE_INT)
    phase2_lr: float = setting(1e-4, gt=0, fix="use a positive learning rate")
    phase2_patience: int = setting(3, ge=1, le=MAX_EPOCHS, fix=POSITIVE_INT)
    phase2_max_epochs: int = setting(50, ge=1, le=MAX_EPOCHS, fix=POSITIVE_INT)
    # threshold = torch.quantile(confidence, hard_ratio); hard = conf < threshold
    hard_ratio: float = setting(0.5, gt=0, lt=1, fix="use the quantile of confidence below which tokens "
                                "are hard, e.g. 0.5")
    mine_split: MineSplit = "validation"  # where hard tokens are mined (original: validation)
    # mine only the first rows of mine_split up to this many tokens; None = all
    mine_tokens: int | None = setting(None, ge=1, le=MAX_SIZE, fix="use a positive number of tokens, or "
                                      "null to mine the whole split")
    report_split: ReportSplit = "validation"  # where the final numbers come from (original: validation)
    phase2_context: Phase2Context = "token"  # token: each hard token a length-1 sequence (original)
    eval_context: EvalContext = "full"  # deep layers at evaluation: full causal context (original)
    head: Head = "trainable"  # the shared output head in phase 2 (original: trainable)
    freeze: Freeze = "hard"  # hard: embedding + blocks 1..phase1_layers frozen | soft: per-layer LR scales
    soft_lr_scales: dict[int, float] = setting(
        factory=lambda: {1: 0.01, 2: 0.05, 3: 0.5, 4: 1.0}, gt=0, fix="use a positive scale")  # freeze=soft only
    hard_batch_size: int = setting(64, ge=1, le=MAX_BATCH, fix=POSITIVE_INT)  # hard tokens per phase-2 step
    hard_reshuffle: bool = False  # the original draws one permutation of the hard tokens, never reshuffled
    # phase 2's new blocks and permutation: seeded (seed + 1, and a generator of its own) | carry (from
    # the global RNG state phase 1 left, as the original's single process drew them)
    phase2_rng: Phase2Rng = "seeded"
    # threshold calibration: at most this relative PPL loss vs deep only
    calibration_budget: float = setting(0.01, ge=0, fix="use a relative PPL loss such as 0.01 (1 %)")
    progressive_supervision: ProgressiveSupervision = "standard"  # progressive only: {N: 1} | 1/N each


@dataclass
class RunConfig:
    name: str = setting("run", max_len=200, fix="use a short plain name such as my-run")
    protocol: Protocol = "corrected"  # a label plus an overlay of defaults (presets.PROTOCOLS)
    preset: str | None = None  # one of presets.PRESETS
    seed: int = setting(42, ge=0, lt=SEED_LIMIT, fix=SEED_FIX)
    layer_weights: dict[int, float] = setting(factory=lambda: {1: 0.0, 2: 0.0, 3: 1.0}, ge=0,
                                              fix="use weights >= 0 (0 means no loss at that exit)")
    layer_lr_scales: dict[int, float] | None = setting(
        None, gt=0, fix="use a positive scale (freeze a layer some other way)")
    # 0 disables routing (the original's convention)
    routing_threshold: float = setting(0.0, ge=0, le=1, fix="use a confidence threshold between 0 and 1 "
                                       "(0 disables routing)")
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ashem: AshemConfig = field(default_factory=AshemConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- reading the declarations

def field_types(cls: type) -> dict[str, Any]:
    """{field name: its type} of a config dataclass, the annotations resolved."""
    return typing.get_type_hints(cls)


def optional_inner(tp: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); anything else -> (tp, False)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def field_spec(dotted: str) -> tuple[Any, dataclasses.Field]:
    """'data.synthetic.vocab_size' -> (its type, its dataclass Field); KeyError if there is none."""
    cls: Any = RunConfig
    *sections, name = dotted.split(".")
    for section in sections:
        cls, _ = optional_inner(field_types(cls)[section])
        if not dataclasses.is_dataclass(cls):
            raise KeyError(dotted)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return field_types(cls)[name], fields[name]


def choices(dotted: str) -> tuple[str, ...]:
    """The allowed values of a field with a fixed set: choices("eval.confidence") ->
    ("max_prob", "margin", "entropy"); "preset" -> the preset names. KeyError for other fields."""
    if dotted == "preset":
        return tuple(PRESETS)
    tp, _ = optional_inner(field_spec(dotted)[0])
    if typing.get_origin(tp) is not Literal:
        raise KeyError(f"{dotted} has no fixed set of values")
    return typing.get_args(tp)
