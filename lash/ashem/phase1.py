"""Stage 1: the shallow phase-1 model (ashem.phase1_layers, loss on its last layer), trained by
lash.train.train_model with early stopping and the best state restored."""

from __future__ import annotations

import time

from ..checkpoint import rng_state
from ..config import RunConfig
from ..model import LashTransformer
from ..seeding import seed_everything
from ..train import LanguageModelTask, train_model
from .common import check_config, lm_metrics, load_data, phase_config, train_flops
from .stage_files import stage_header, state_digest, training_checkpoint


def run_phase1(cfg: RunConfig, checkpoint_dir: str | None = None) -> dict:
    """Train the shallow model, resumably with a checkpoint_dir (DIR/train.pt). Returns {"checkpoint",
    "metrics", "data", "timing", "threads", "resumed_from", "training_checkpoints"}."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    vocab = len(data.vocab)
    a = cfg.ashem
    pcfg = phase_config(cfg, a.phase1_layers, a.phase1_lr, a.phase1_patience, a.phase1_max_epochs,
                        {a.phase1_layers: 1.0})
    seed_everything(cfg.seed)
    model = LashTransformer.for_run(pcfg, vocab).to(cfg.train.device)
    resume = training_checkpoint(checkpoint_dir, "lash ashem phase1", cfg, data)
    t0 = time.perf_counter()
    result = train_model(model, data, pcfg, checkpoint=resume,
                         task=LanguageModelTask(model, data, pcfg, name="ashem phase 1", lr_setting="ashem.phase1_lr"))
    train_s = time.perf_counter() - t0
    metrics = {
        "validation": lm_metrics(model, data.validation.epoch(0)),
        "test": lm_metrics(model, data.test.epoch(0)) if data.test is not None else None,
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "history": result.history,
        "n_layers": a.phase1_layers, "n_params": model.num_parameters(), "vocab_size": vocab,
        "training_flops": train_flops(cfg, a.phase1_layers, vocab, result.epochs_run * data.train.n_tokens),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # The global RNG state training left behind: the original drew phase 2's new blocks and permutation
    # from it in the same process (ashem.phase2_rng=carry).
    ck = {**stage_header("ashem_phase1", cfg, data), "state_dict": state,
          "state_digest": state_digest(state), "metrics": metrics, "rng_state": rng_state()}
    timing = {"train_s": round(train_s, 3), "total_s": round(time.perf_counter() - start, 3)}
    return {"checkpoint": ck, "metrics": metrics, "data": data, "timing": timing, "threads": threads,
            "resumed_from": result.resumed_from, "training_checkpoints": [c for c in (resume,) if c]}


def phase1_brief(m: dict) -> dict:
    """The phase-1 numbers later stages repeat in their results."""
    return {"validation": m["validation"], "test": m["test"], "best_epoch": m["best_epoch"],
            "epochs_run": m["epochs_run"]}
