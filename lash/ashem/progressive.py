"""Progressive layer training (PAPER_SPEC 5.1): a shallow model, then a deeper one grown from it."""

from __future__ import annotations

import dataclasses
import time

from ..config import RunConfig
from ..model import LashTransformer
from ..seeding import seed_everything
from ..train import LanguageModelTask, train_model
from .common import check_config, lm_metrics, load_data, phase_config, split_batches, train_flops
from .phase2 import grow_model
from .stage_files import state_digest, training_checkpoint


class _EpochOffset:
    """Phase 2's "fresh (reshuffled) loaders": the same split, other shuffles."""

    def __init__(self, inner, offset: int):
        self.inner, self.offset, self.n_tokens = inner, offset, inner.n_tokens

    def __len__(self) -> int:
        return len(self.inner)

    def epoch(self, epoch: int = 0):
        return self.inner.epoch(epoch + self.offset)


def _supervision_weights(kind: str, n: int) -> dict[int, float]:
    return {n: 1.0} if kind == "standard" else {k: 1.0 / n for k in range(1, n + 1)}


def run_progressive(cfg: RunConfig, checkpoint_dir: str | None = None) -> dict:
    """PAPER_SPEC 5.1: phase 1 trains a phase1_layers model; phase 2 copies embedding, its blocks and
    the head into a phase2_layers model, freezes embedding + copied blocks (head trainable) and trains
    on all tokens. Standard: loss on the last layer; deep: 1/N on every layer (N of that phase).
    checkpoint_dir: each phase resumable (DIR/phase1.pt, DIR/phase2.pt): a run killed in phase 2
    starts again from phase 2's last epoch, with phase 1's finished checkpoint loaded, not retrained."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    vocab = len(data.vocab)
    a = cfg.ashem
    sup = a.progressive_supervision
    c1 = phase_config(cfg, a.phase1_layers, a.phase1_lr, a.phase1_patience, a.phase1_max_epochs,
                      _supervision_weights(sup, a.phase1_layers))
    seed_everything(cfg.seed)
    model1 = LashTransformer.for_run(c1, vocab).to(cfg.train.device)
    resume1 = training_checkpoint(checkpoint_dir, "lash progressive (phase 1)", cfg, data, filename="phase1.pt")
    t0 = time.perf_counter()
    r1 = train_model(model1, data, c1, checkpoint=resume1, task=LanguageModelTask(model1, data, c1, name="progressive phase 1",
                                                            lr_setting="ashem.phase1_lr"))
    p1_s = time.perf_counter() - t0
    c2 = phase_config(cfg, a.phase2_layers, a.phase2_lr, a.phase2_patience, a.phase2_max_epochs,
                      _supervision_weights(sup, a.phase2_layers))
    model2 = grow_model(c2, vocab, model1.state_dict())
    model2.embed.requires_grad_(False)
    for block in model2.blocks[:a.phase1_layers]:
        block.requires_grad_(False)
    n_trainable = sum(p.numel() for p in model2.parameters() if p.requires_grad)
    data2 = dataclasses.replace(data, train=_EpochOffset(data.train, 1_000_000))
    resume2 = training_checkpoint(checkpoint_dir, "lash progressive (phase 2)", cfg, data, filename="phase2.pt",
                                  inputs={"phase1_state": state_digest(model1.state_dict())})
    t0 = time.perf_counter()
    r2 = train_model(model2, data2, c2, checkpoint=resume2, task=LanguageModelTask(model2, data2, c2, name="progressive phase 2",
                                                             lr_setting="ashem.phase2_lr"))
    p2_s = time.perf_counter() - t0
    split = "test" if data.test is not None else "validation"
    batches = split_batches(data, split).epoch(0)

    def phase(model, result, n_exits):
        return {"validation": lm_metrics(model, data.validation.epoch(0)),
                "test": lm_metrics(model, data.test.epoch(0)) if data.test is not None else None,
                "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                "stopped_early": result.stopped_early, "history": result.history,
                "n_params": model.num_parameters(),
                "training_flops": train_flops(cfg, model.n_layers, vocab,
                                              result.epochs_run * data.train.n_tokens, n_exits)}

    n_exits = lambda n: 1 if sup == "standard" else n  # noqa: E731
    final = lm_metrics(model2, batches)
    metrics = {
        "headline": {"split": split, "source": f"phase 2 restored best epoch {r2.best_epoch}",
                     "ppl": final["ppl"], "acc": final["acc"], "shallow_fraction": 0.0,
                     "compute_fraction_layers": 1.0, "compute_fraction_flops": 1.0, "hard_ppl": None},
        "supervision": sup,
        "phase1": {**phase(model1, r1, n_exits(a.phase1_layers)), "n_layers": a.phase1_layers},
        "phase2": {**phase(model2, r2, n_exits(a.phase2_layers)), "n_layers": a.phase2_layers,
                   "n_trainable": n_trainable},
        "vocab_size": vocab,
    }
    timing = {"phase1_s": round(p1_s, 3), "phase2_s": round(p2_s, 3),
              "total_s": round(time.perf_counter() - start, 3)}
    return {"metrics": metrics, "data": data, "timing": timing, "threads": threads,
            "resumed_from": {"phase1": r1.resumed_from, "phase2": r2.resumed_from},
            "training_checkpoints": [c for c in (resume1, resume2) if c]}
