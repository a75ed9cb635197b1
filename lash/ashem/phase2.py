"""Stage 3: grow the phase-1 model and train the new layers on the hard tokens (see lash.ashem)."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..checkpoint import set_rng_state
from ..config import RunConfig
from ..early_exit import collect_exit_stats
from ..errors import CheckpointError
from ..evaluate import flops_per_token, routed_metrics
from ..model import LashTransformer
from ..seeding import seed_everything
from ..train import TrainingTask, build_optimizer, train_model
from .common import check_config, load_data, split_rows
from .hard_inputs import HardInputs
from .stage_files import check_data, stage_header, state_digest, training_checkpoint


def grow_model(cfg: RunConfig, vocab: int, p1_state: dict, carried_rng: dict | None = None) -> LashTransformer:
    """A phase2_layers model whose embedding, first phase1_layers blocks and head are copied from
    phase 1. The whole model is drawn (as the original did) from `carried_rng`, the global RNG state
    phase 1 left (ashem.phase2_rng=carry), or else from a seed stream separate from phase 1's."""
    if carried_rng is not None:
        set_rng_state(carried_rng)
    else:
        seed_everything(cfg.seed + 1)
    model = LashTransformer.for_run(cfg, vocab)
    missing = model.load_state_dict(p1_state, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    return model.to(cfg.train.device)


def configure_phase2(model, cfg: RunConfig) -> torch.optim.Optimizer:
    """Freezing and the optimizer. hard: embedding and blocks 1..phase1_layers frozen (one AdamW
    group over what trains); soft: nothing frozen, lash.train.build_optimizer with soft_lr_scales
    (embedding and head at the base LR). head=frozen freezes the shared head in both."""
    a = cfg.ashem
    if a.freeze == "hard":
        model.embed.requires_grad_(False)
        for block in model.blocks[:a.phase1_layers]:
            block.requires_grad_(False)
    if a.head == "frozen":
        model.head.requires_grad_(False)
    if a.freeze == "soft":
        return build_optimizer(model, a.phase2_lr, a.soft_lr_scales, cfg.train.weight_decay,
                               fused=cfg.train.kernels == "fast")
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if cfg.train.kernels == "fast" else {"foreach": True}
    return torch.optim.AdamW([{"params": params, "lr": a.phase2_lr, "name": "trainable"}],
                             lr=a.phase2_lr, weight_decay=cfg.train.weight_decay, **fused)


def routed_eval(model, batches, cfg: RunConfig, threshold: float, vocab: int, context: str,
                measures=None):
    """Routed metrics (exit at phase1_layers, confidence with the current head) and the stats."""
    measures = measures or (cfg.eval.confidence,)
    stats = collect_exit_stats(model, batches, cfg.ashem.phase1_layers, measures, context)
    routed = routed_metrics(stats.token_stats(cfg.eval.confidence), cfg.ashem.phase1_layers, threshold,
                            cfg.model, vocab, cfg.data.seq_len)
    return routed, stats


def phase2_flops(cfg: RunConfig, vocab: int, n_hard: int, epochs: int, n_rows: int) -> float:
    """Training FLOPs of phase 2 (3 x forward per trained token; see the package docstring)."""
    a, m, t = cfg.ashem, cfg.model, cfg.data.seq_len
    head = 2 * m.dim * vocab
    n_deep = a.phase2_layers - a.phase1_layers
    if a.phase2_context == "token":
        deep = flops_per_token(m.dim, n_deep, vocab, 1, m.ffn_mult, 0) + head
        per_token = 3 * deep
        if a.freeze == "soft":  # the hard token's row through the copied blocks, with gradients
            per_token += 3 * t * flops_per_token(m.dim, a.phase1_layers, vocab, t, m.ffn_mult, 0)
        return epochs * n_hard * per_token
    row_blocks = a.phase2_layers if a.freeze == "soft" else n_deep
    per_token = 3 * (t * flops_per_token(m.dim, row_blocks, vocab, t, m.ffn_mult, 0) + head)
    precompute = 0 if a.freeze == "soft" else n_rows * t * flops_per_token(
        m.dim, a.phase1_layers, vocab, t, m.ffn_mult, 0)
    return epochs * n_hard * per_token + precompute


def permutation_generator(cfg: RunConfig, carried: torch.Tensor | None = None) -> torch.Generator:
    """The stream the hard tokens' order is drawn from: a generator of its own seeded with the run's
    seed, or (ashem.phase2_rng=carry) one that continues the global RNG from `carried`, its state
    after the phase-2 model was drawn, so it yields the original's torch.randperm."""
    generator = torch.Generator()
    return generator.set_state(carried) if carried is not None else generator.manual_seed(cfg.seed)


def draw_permutation(generator: torch.Generator, n: int) -> torch.Tensor:
    return torch.randperm(n, generator=generator)


class HardTokenTask(TrainingTask):
    """Phase 2 for lash.train.train_model: batches of hard_batch_size hard tokens in one permutation
    (the original: never reshuffled; a new one every epoch with hard_reshuffle), the CE of the deep
    path, AdamW from configure_phase2; each epoch the routed validation at the mined threshold
    (which early stopping minimises) and the Hard PPL of the training tokens."""

    name = "ashem phase 2"

    def __init__(self, model, cfg: RunConfig, inputs: HardInputs, val_batches, threshold: float, vocab: int):
        a = cfg.ashem
        self.model, self.cfg, self.inputs, self.val_batches = model, cfg, inputs, val_batches
        self.threshold, self.vocab = threshold, vocab
        self.lr_setting = ("ashem.phase2_lr", a.phase2_lr)
        self.max_epochs, self.patience, self.restore_best = a.phase2_max_epochs, a.phase2_patience, True
        # carry: the global stream right after the model was drawn (nothing draws in between)
        self.carried = torch.get_rng_state() if a.phase2_rng == "carry" else None

    def build_optimizer(self) -> torch.optim.Optimizer:
        return configure_phase2(self.model, self.cfg)

    def permutation(self, epoch: int) -> torch.Tensor:
        """The epoch's order, replayed from the start of the stream (so a resumed run draws the same)."""
        generator = permutation_generator(self.cfg, self.carried)
        n = len(self.inputs)
        perm = draw_permutation(generator, n)
        for _ in range(epoch if self.cfg.ashem.hard_reshuffle else 0):
            perm = draw_permutation(generator, n)
        return perm

    def begin_epoch(self, epoch: int) -> list[torch.Tensor]:
        perm, size = self.permutation(epoch), self.cfg.ashem.hard_batch_size
        return [perm[i:i + size] for i in range(0, len(perm), size)]

    def batch_loss(self, idx: torch.Tensor):
        loss = F.cross_entropy(self.inputs.logits(idx).float(), self.inputs.targets(idx))
        return loss, loss.item

    def validate(self, epoch: int) -> dict:
        routed, _ = routed_eval(self.model, self.val_batches, self.cfg, self.threshold, self.vocab,
                                self.cfg.ashem.eval_context)
        return {"validation": {k: routed[k] for k in ("ppl", "acc", "shallow_fraction", "compute_fraction_layers")},
                "hard_ppl": self.inputs.hard_ppl()}


def carried_rng(cfg: RunConfig, p1: dict) -> dict | None:
    """The RNG state phase 1 left behind, when phase 2 carries it on (ashem.phase2_rng=carry)."""
    if cfg.ashem.phase2_rng != "carry":
        return None
    if "rng_state" not in p1:
        raise CheckpointError("the phase-1 file holds no RNG state (it was written by an older lash), and "
                              "ashem.phase2_rng=carry draws phase 2 from it. Fix: rerun `lash ashem phase1`")
    return p1["rng_state"]


def _check_inputs(p1: dict, mined: dict, data) -> None:
    check_data(p1, data, "the phase-1 checkpoint")
    check_data(mined, data, "the mined file")
    if mined["phase1_digest"] != p1["state_digest"]:
        raise CheckpointError("the mined hard tokens come from another phase-1 model than the one "
                              "given. Fix: pass the --phase1 checkpoint that `lash ashem mine` used")


def run_phase2(cfg: RunConfig, p1: dict, mined: dict, checkpoint_dir: str | None = None) -> dict:
    """Grow the phase-1 model and train it on the mined hard tokens, resumably with a checkpoint_dir."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    _check_inputs(p1, mined, data)
    a = cfg.ashem
    vocab = len(data.vocab)
    threshold = mined["threshold"]
    model = grow_model(cfg, vocab, p1["state_dict"], carried_rng(cfg, p1))
    needs_rows = a.phase2_context == "full" or a.freeze == "soft"
    rows_x = split_rows(data, a.mine_split)[0] if needs_rows else None
    inputs = HardInputs(model, cfg, mined["hard"], rows_x)
    n = len(inputs)
    if n == 0:
        raise CheckpointError("the mined file holds no hard tokens. Fix: raise ashem.hard_ratio")
    task = HardTokenTask(model, cfg, inputs, data.validation.epoch(0), threshold, vocab)
    resume = training_checkpoint(checkpoint_dir, "lash ashem phase2", cfg, data,
                                 inputs={"phase1_state": p1["state_digest"]})
    t0 = time.perf_counter()
    result = train_model(model, data, cfg, checkpoint=resume, task=task)
    train_s = time.perf_counter() - t0
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # frozen by the task
    metrics = {
        "threshold": threshold, "n_hard": n, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "history": result.history,
        "best": result.history[result.best_epoch - 1],
        "n_params": model.num_parameters(), "n_trainable": n_trainable,
        "training_flops": phase2_flops(cfg, vocab, n, result.epochs_run, 0 if rows_x is None else len(rows_x)),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ck = {**stage_header("ashem_phase2", cfg, data), "state_dict": state,
          "state_digest": state_digest(state), "phase1_digest": p1["state_digest"],
          "metrics": metrics, "threshold": threshold}
    timing = {"train_s": round(train_s, 3), "total_s": round(time.perf_counter() - start, 3)}
    return {"checkpoint": ck, "metrics": metrics, "data": data, "timing": timing, "threads": threads,
            "resumed_from": result.resumed_from, "training_checkpoints": [c for c in (resume,) if c]}
