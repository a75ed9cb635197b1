"""ASHEM (PAPER_SPEC 5.3), its fair baselines, and progressive layer training (5.1).

ASHEM in four stages, each a separate command so a workflow can cache and share them:
1. phase 1: a shallow model (ashem.phase1_layers, loss on its last layer) with early stopping;
2. mine: confidence of its last exit over every token of ashem.mine_split; threshold =
   torch.quantile(confidence, hard_ratio) (linear interpolation); hard = confidence < threshold
   (strict). Stored per hard token: its exit state h (the phase-1 model's last block output, computed
   with causal context inside its row), target, confidence and (row, position) in the split. With a
   separate report split (corrected protocol) the same threshold marks held-out hard tokens there;
3. phase 2: a deeper model (ashem.phase2_layers) copies embedding, blocks 1..phase1_layers and the
   shared head; the copied part is frozen (freeze=hard; head trainable or frozen) or trained with
   per-layer LR scales (freeze=soft). Trained on the hard tokens only, loss at the last layer: each
   hard token a length-1 sequence (phase2_context=token, the original) or its own row as causal
   context (full). Early stopping on the routed validation PPL at the mined threshold;
4. evaluate: two-stage routed evaluation on ashem.report_split (exit at phase1_layers when the
   confidence, recomputed with the current head, is >= threshold), Hard PPL, threshold calibration,
   and skip-mode inference (lash.early_exit) with its counted and measured speed-up.

Conventions: "Hard PPL" = exp(mean CE) of the deep path (deep layers in the phase-2 training context,
then the head) on the hard tokens; in `original` those are the mined validation tokens (= the phase-2
training tokens), in `corrected` the held-out hard tokens of the test split. Training compute counts
forward+backward as 3x forward FLOPs (heads included) of every training step and of the mining pass;
per-epoch evaluation is not counted.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import math
import os
import time

import torch
import torch.nn.functional as F

from .config import RunConfig
from .data import PreparedData, prepare_data
from .early_exit import (MEASURES, calibrate_threshold, collect_exit_stats, confidences, deep_hidden,
                         exit_hidden, full_inference, inference_flops, retain_freed_memory,
                         skip_inference)
from .evaluate import exit_mask, flops_per_token, routed_metrics
from .model import LashTransformer
from .errors import CheckpointError, ConfigError
from .io import write_atomic
from .provenance import provenance
from .seeding import configure_torch, seed_everything
from .train import build_optimizer, train_model

log = logging.getLogger("lash.ashem")


# --------------------------------------------------------------------------- config helpers

def check_config(cfg: RunConfig) -> None:
    a = cfg.ashem
    if cfg.model.n_layers != a.phase2_layers:
        raise ConfigError("model.n_layers", f"{cfg.model.n_layers} differs from ashem.phase2_layers "
                          f"{a.phase2_layers} (the grown model)",
                          f"set both to the same depth, e.g. --set model.n_layers={a.phase2_layers}")
    if a.mine_split == "train" and a.report_split == "validation":
        log.warning("hard tokens mined on train but reported on validation, which also selects the "
                    "phase-2 epoch; use ashem.report_split=test for a clean report")
    if a.report_split == "test" and cfg.data.test_size == 0:
        raise ConfigError("ashem.report_split", "is test but data.test_size is 0",
                          "set data.test_size (e.g. 66000) or ashem.report_split=validation")


def phase_config(cfg: RunConfig, n_layers: int, lr: float, patience: int, max_epochs: int,
                 layer_weights: dict[int, float]) -> RunConfig:
    """The RunConfig that lash.train.train_model runs for one phase: early stopping on the last
    exit's validation PPL with the best state restored (the original train_with_early_stopping)."""
    c = copy.deepcopy(cfg)
    c.model.n_layers = n_layers
    c.layer_weights = dict(layer_weights)
    c.layer_lr_scales = None
    c.routing_threshold = 0.0
    c.train.lr, c.train.patience, c.train.max_epochs = lr, patience, max_epochs
    c.train.restore_best, c.train.stop_metric = True, "final"
    c.train.alpha_schedule, c.train.normalize_weights = None, False
    c.eval.exit_layer = min(c.eval.exit_layer, n_layers)
    return c


_PHASE1_KEYS = ["seed", "data", "model.dim", "model.n_heads", "model.ffn_mult", "model.max_seq_len",
                "model.rope_base", "train.weight_decay", "train.grad_clip", "ashem.phase1_layers",
                "ashem.phase1_lr", "ashem.phase1_patience", "ashem.phase1_max_epochs"]
_MINE_KEYS = _PHASE1_KEYS + ["ashem.hard_ratio", "ashem.mine_split", "ashem.mine_tokens", "ashem.report_split",
                             "eval.confidence"]
_PHASE2_KEYS = _MINE_KEYS + ["model.n_layers", "ashem.phase2_layers", "ashem.phase2_lr",
                             "ashem.phase2_patience", "ashem.phase2_max_epochs", "ashem.phase2_context",
                             "ashem.eval_context", "ashem.head", "ashem.freeze", "ashem.soft_lr_scales",
                             "ashem.hard_batch_size", "ashem.hard_reshuffle"]
STAGE_KEYS = {"ashem_phase1": _PHASE1_KEYS, "ashem_mined": _MINE_KEYS, "ashem_phase2": _PHASE2_KEYS}


def signature(cfg: RunConfig, keys: list[str]) -> dict:
    """The config values a stage's output depends on (where the data lives is not one of them:
    the token-stream digests are checked separately)."""
    d = cfg.to_dict()
    out = {}
    for key in keys:
        node = d
        for part in key.split("."):
            node = node[part]
        if key == "data":
            node = {k: v for k, v in node.items() if k not in ("data_dir", "source")}
        out[key] = copy.deepcopy(node)
    return out


def _diff(stored, current, prefix=""):
    if isinstance(stored, dict) and isinstance(current, dict):
        for k in sorted(set(stored) | set(current), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in stored or k not in current:
                yield path, stored.get(k), current.get(k)
            else:
                yield from _diff(stored[k], current[k], path)
    elif stored != current:
        yield prefix, stored, current


# --------------------------------------------------------------------------- checkpoints

def state_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, obj: dict) -> None:
    """torch.save, atomically (lash.provenance.write_atomic): a killed stage leaves no file."""
    write_atomic(path, lambda fh: torch.save(obj, fh))


def load_checkpoint(path: str | os.PathLike, kind: str, cfg: RunConfig, stage_hint: str,
                    keys: list[str] | None = None) -> dict:
    """Load a stage output (weights_only) and refuse it if it was made for another config
    (compared on the stage's signature keys, or on `keys`)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} does not exist. Fix: run `{stage_hint}` first") from exc
    if not isinstance(ck, dict) or ck.get("kind") != kind:
        got = ck.get("kind") if isinstance(ck, dict) else type(ck).__name__
        raise CheckpointError(f"{path} is a {got!r} file, not {kind!r}. Fix: pass the output of "
                              f"`{stage_hint}`")
    keys = keys or STAGE_KEYS[kind]
    diffs = list(_diff({k: ck["signature"].get(k) for k in keys}, signature(cfg, keys)))
    if diffs:
        shown = "; ".join(f"{k} is {a!r} there, {b!r} here" for k, a, b in diffs[:5])
        raise CheckpointError(f"{path} was made with another config ({shown}). Fix: run `{stage_hint}` "
                              "with this config, or pass the same CONFIG/--preset/--set/--seed as that run")
    return ck


def _stage_header(kind: str, cfg: RunConfig, data: PreparedData) -> dict:
    return {"kind": kind, "config": cfg.to_dict(), "signature": signature(cfg, STAGE_KEYS[kind]),
            "data_digests": dict(data.digests), "vocab_size": len(data.vocab)}


def _check_data(ck: dict, data: PreparedData, path) -> None:
    if ck["data_digests"] != dict(data.digests) or ck["vocab_size"] != len(data.vocab):
        raise CheckpointError(f"{path} was made from other data (token-stream digests or vocabulary "
                              "differ). Fix: rerun the earlier stages on this data")


# --------------------------------------------------------------------------- data helpers

def load_data(cfg: RunConfig) -> tuple[PreparedData, int]:
    threads = configure_torch(cfg.train.threads, cfg.train.device)
    retain_freed_memory()  # every stage frees and re-allocates multi-megabyte logits
    seed_everything(cfg.seed)
    return prepare_data(cfg.data, cfg.seed), threads


def split_batches(data: PreparedData, split: str):
    batches = {"train": data.train, "validation": data.validation, "test": data.test}[split]
    if batches is None:
        raise ConfigError("data.test_size", f"the {split} split is absent",
                          "set data.test_size > 0 or choose another ashem split")
    return batches


def mining_batches(data: PreparedData, a) -> list:
    """The batches hard tokens are mined from: mine_split, cut after `mine_tokens` tokens (whole
    batches, at least one). A prefix, so row r stays row r of split_rows(data, mine_split)."""
    batches = split_batches(data, a.mine_split).epoch(0)
    if a.mine_tokens is None:
        return batches
    kept, n = [], 0
    for x, y in batches:
        if kept and n + y.numel() > a.mine_tokens:
            break
        kept.append((x, y))
        n += y.numel()
    return kept


def split_rows(data: PreparedData, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All rows of a split in the order of .epoch(0): row r of the result is row r of the mining pass."""
    batches = split_batches(data, split).epoch(0)
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


@torch.no_grad()
def lm_metrics(model, batches) -> dict:
    """PPL and accuracy of the last layer."""
    model.eval()
    device = next(model.parameters()).device
    ce, correct, n = 0.0, 0, 0
    for x, y in batches:
        logits = model(x.to(device)).float().reshape(-1, model.vocab_size)
        target = y.to(device).reshape(-1)
        ce += F.cross_entropy(logits, target, reduction="sum").double().item()
        correct += int((logits.argmax(-1) == target).sum())
        n += target.numel()
    model.train()
    return {"ppl": math.exp(ce / n), "acc": correct / n, "loss": ce / n, "n_tokens": n}


def _train_flops(cfg: RunConfig, n_layers: int, vocab: int, tokens: int, n_heads: int = 1) -> float:
    m = cfg.model
    return 3 * tokens * flops_per_token(m.dim, n_layers, vocab, cfg.data.seq_len, m.ffn_mult, n_heads)


# --------------------------------------------------------------------------- phase 1

def run_phase1(cfg: RunConfig) -> dict:
    """Train the shallow model. Returns {"checkpoint", "metrics", "data", "timing", "threads"}."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    vocab = len(data.vocab)
    a = cfg.ashem
    pcfg = phase_config(cfg, a.phase1_layers, a.phase1_lr, a.phase1_patience, a.phase1_max_epochs,
                        {a.phase1_layers: 1.0})
    seed_everything(cfg.seed)
    model = LashTransformer(pcfg.model, vocab).to(cfg.train.device)
    t0 = time.perf_counter()
    result = train_model(model, data, pcfg)
    train_s = time.perf_counter() - t0
    metrics = {
        "validation": lm_metrics(model, data.validation.epoch(0)),
        "test": lm_metrics(model, data.test.epoch(0)) if data.test is not None else None,
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "history": result.history,
        "n_layers": a.phase1_layers, "n_params": model.num_parameters(), "vocab_size": vocab,
        "training_flops": _train_flops(cfg, a.phase1_layers, vocab,
                                       result.epochs_run * data.train.n_tokens),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ck = {**_stage_header("ashem_phase1", cfg, data), "state_dict": state,
          "state_digest": state_digest(state), "metrics": metrics}
    timing = {"train_s": round(train_s, 3), "total_s": round(time.perf_counter() - start, 3)}
    return {"checkpoint": ck, "metrics": metrics, "data": data, "timing": timing, "threads": threads}


def _load_model(cfg: RunConfig, n_layers: int, vocab: int, state: dict) -> LashTransformer:
    c = copy.deepcopy(cfg.model)
    c.n_layers = n_layers
    model = LashTransformer(c, vocab)
    model.load_state_dict(state)
    return model.to(cfg.train.device)


# --------------------------------------------------------------------------- mining

def quantile_threshold(confidence: torch.Tensor, ratio: float) -> float:
    """torch.quantile with linear interpolation over every token (the original's rule)."""
    return torch.quantile(confidence.float(), ratio).item()


def hard_mask(confidence: torch.Tensor, threshold: float) -> torch.Tensor:
    """Hard = strictly below the threshold (a token at exactly the threshold is not hard)."""
    return confidence < threshold


@torch.no_grad()
def exit_states(model, batches, exit_layer: int, measure: str) -> dict[str, torch.Tensor]:
    """Per token of a split (rows in .epoch(0) order): exit state, target, confidence, CE, row, pos."""
    model.eval()
    device = next(model.parameters()).device
    out = {k: [] for k in ("h", "target", "conf", "ce", "row", "pos")}
    row0 = 0
    for x, y in batches:
        b, t = x.shape
        h = exit_hidden(model, x.to(device), exit_layer).reshape(b * t, -1)
        logits = model.head(h).float()
        target = y.to(device).reshape(-1)
        out["h"].append(h.cpu())
        out["target"].append(target.cpu())
        out["conf"].append(confidences(logits, (measure,))[measure].cpu())
        out["ce"].append(F.cross_entropy(logits, target, reduction="none").cpu())
        out["row"].append(torch.arange(row0, row0 + b).repeat_interleave(t))
        out["pos"].append(torch.arange(t).repeat(b))
        row0 += b
    model.train()
    return {k: torch.cat(v) for k, v in out.items()}


def _subset(states: dict, mask: torch.Tensor, split: str) -> dict:
    sub = {k: states[k][mask].clone() for k in ("h", "target", "conf", "row", "pos")}
    sub["split"] = split
    return sub


def _ppl(ce: torch.Tensor) -> float:
    return math.exp(ce.double().mean().item()) if ce.numel() else float("nan")


def run_mine(cfg: RunConfig, p1: dict) -> dict:
    """Threshold and hard tokens from the phase-1 model (see the module docstring)."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    _check_data(p1, data, "the phase-1 checkpoint")
    a = cfg.ashem
    measure = cfg.eval.confidence
    model = _load_model(cfg, a.phase1_layers, len(data.vocab), p1["state_dict"])
    states = exit_states(model, mining_batches(data, a), a.phase1_layers, measure)
    threshold = quantile_threshold(states["conf"], a.hard_ratio)
    hard_sel = hard_mask(states["conf"], threshold)
    hard = _subset(states, hard_sel, a.mine_split)
    n_tokens = states["conf"].numel()
    summary = {
        "threshold": threshold, "confidence": measure, "mine_split": a.mine_split, "mine_tokens": a.mine_tokens,
        "n_tokens": n_tokens, "n_hard": int(hard_sel.sum()),
        "hard_fraction": int(hard_sel.sum()) / n_tokens,
        "mean_hard_confidence": hard["conf"].double().mean().item(),
        "phase1_hard_ppl_mined": _ppl(states["ce"][hard_sel]),
    }
    heldout = None
    if a.report_split != a.mine_split:
        rep = exit_states(model, split_batches(data, a.report_split).epoch(0), a.phase1_layers, measure)
        sel = hard_mask(rep["conf"], threshold)
        heldout = _subset(rep, sel, a.report_split)
        n_rep = rep["conf"].numel()
        summary.update(report_split=a.report_split, n_heldout_tokens=n_rep,
                       n_heldout_hard=int(sel.sum()), heldout_hard_fraction=int(sel.sum()) / n_rep,
                       phase1_hard_ppl_heldout=_ppl(rep["ce"][sel]))
    summary["phase1_hard_ppl"] = summary.get("phase1_hard_ppl_heldout", summary["phase1_hard_ppl_mined"])
    mining_flops = n_tokens * flops_per_token(cfg.model.dim, a.phase1_layers, len(data.vocab),
                                              cfg.data.seq_len, cfg.model.ffn_mult, 1)  # forward only
    ck = {**_stage_header("ashem_mined", cfg, data), "threshold": threshold, "hard": hard,
          "heldout": heldout, "summary": summary, "phase1_digest": p1["state_digest"],
          "phase1_metrics": p1["metrics"], "mining_flops": mining_flops}
    timing = {"total_s": round(time.perf_counter() - start, 3)}
    return {"checkpoint": ck, "metrics": {**summary, "phase1": _phase1_brief(p1["metrics"])},
            "data": data, "timing": timing, "threads": threads}


def _phase1_brief(m: dict) -> dict:
    return {"validation": m["validation"], "test": m["test"], "best_epoch": m["best_epoch"],
            "epochs_run": m["epochs_run"]}


# --------------------------------------------------------------------------- phase 2

def grow_model(cfg: RunConfig, vocab: int, p1_state: dict) -> LashTransformer:
    """A phase2_layers model whose embedding, first phase1_layers blocks and head are copied from
    phase 1; the new blocks are initialised from a seed stream separate from phase 1's."""
    seed_everything(cfg.seed + 1)
    model = LashTransformer(cfg.model, vocab)
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
        return build_optimizer(model, a.phase2_lr, a.soft_lr_scales, cfg.train.weight_decay)
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW([{"params": params, "lr": a.phase2_lr, "name": "trainable"}],
                             lr=a.phase2_lr, weight_decay=cfg.train.weight_decay, fused=True)


class HardInputs:
    """Builds the deep-path logits of hard tokens in the phase-2 context.
    token + hard freeze: the stored exit states (the original). full: the token's own row of the
    split as causal context (exit states of the rows precomputed once: the copied layers are frozen).
    soft freeze: the exit states are recomputed from the rows with gradients (the copied layers train)."""

    def __init__(self, model, cfg: RunConfig, hard: dict, rows_x: torch.Tensor | None):
        self.model, self.cfg, self.hard = model, cfg, hard
        a = cfg.ashem
        self.exit, self.context, self.soft = a.phase1_layers, a.phase2_context, a.freeze == "soft"
        self.device = next(model.parameters()).device
        self.rows_x = rows_x
        self.rows_h = None
        if self.context == "full" and not self.soft:
            with torch.no_grad():
                self.rows_h = torch.cat([exit_hidden(model, rows_x[i:i + 256].to(self.device), self.exit)
                                         for i in range(0, len(rows_x), 256)])

    def __len__(self) -> int:
        return self.hard["target"].numel()

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.hard
        pos = h["pos"][idx].to(self.device)
        ar = torch.arange(idx.numel(), device=self.device)
        if self.soft or self.context == "full":
            rows = h["row"][idx]
            if self.soft:
                h_rows = exit_hidden(self.model, self.rows_x[rows].to(self.device), self.exit)
            else:
                h_rows = self.rows_h[rows.to(self.device)]
            if self.context == "full":
                out = deep_hidden(self.model, h_rows, self.exit, "full")[ar, pos]
                return self.model.head(out)
            h_exit = h_rows[ar, pos]
        else:
            h_exit = h["h"][idx].to(self.device)
        out = deep_hidden(self.model, h_exit.unsqueeze(1), self.exit, "token")[:, 0]
        return self.model.head(out)

    def targets(self, idx: torch.Tensor) -> torch.Tensor:
        return self.hard["target"][idx].to(self.device)

    @torch.no_grad()
    def ce(self, chunk: int = 512) -> torch.Tensor:
        """Per-token CE of the deep path on every hard token."""
        was = self.model.training
        self.model.eval()
        out = []
        for i in range(0, len(self), chunk):
            idx = torch.arange(i, min(i + chunk, len(self)))
            out.append(F.cross_entropy(self.logits(idx).float(), self.targets(idx), reduction="none").cpu())
        self.model.train(was)
        return torch.cat(out) if out else torch.zeros(0)

    def hard_ppl(self) -> float:
        return _ppl(self.ce())


def routed_eval(model, batches, cfg: RunConfig, threshold: float, vocab: int, context: str,
                measures=None):
    """Routed metrics (exit at phase1_layers, confidence with the current head) and the stats."""
    measures = measures or (cfg.eval.confidence,)
    stats = collect_exit_stats(model, batches, cfg.ashem.phase1_layers, measures, context)
    routed = routed_metrics(stats.token_stats(cfg.eval.confidence), cfg.ashem.phase1_layers, threshold,
                            cfg.model, vocab, cfg.data.seq_len)
    return routed, stats


def phase2_flops(cfg: RunConfig, vocab: int, n_hard: int, epochs: int, n_rows: int) -> float:
    """Training FLOPs of phase 2 (3 x forward per trained token; see the module docstring)."""
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


def run_phase2(cfg: RunConfig, p1: dict, mined: dict) -> dict:
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    _check_data(p1, data, "the phase-1 checkpoint")
    _check_data(mined, data, "the mined file")
    if mined["phase1_digest"] != p1["state_digest"]:
        raise CheckpointError("the mined hard tokens come from another phase-1 model than the one "
                              "given. Fix: pass the --phase1 checkpoint that `lash ashem mine` used")
    a = cfg.ashem
    vocab = len(data.vocab)
    threshold = mined["threshold"]
    hard = mined["hard"]
    model = grow_model(cfg, vocab, p1["state_dict"])
    optimizer = configure_phase2(model, cfg)
    needs_rows = a.phase2_context == "full" or a.freeze == "soft"
    rows_x = split_rows(data, a.mine_split)[0] if needs_rows else None
    inputs = HardInputs(model, cfg, hard, rows_x)
    n = len(inputs)
    if n == 0:
        raise CheckpointError("the mined file holds no hard tokens. Fix: raise ashem.hard_ratio")
    gen = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(n, generator=gen)  # the original: one permutation, never reshuffled
    val_batches = data.validation.epoch(0)
    history, best, bad, best_state = [], math.inf, 0, None
    best_epoch, stopped = 0, False
    t_train = 0.0
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for epoch in range(a.phase2_max_epochs):
        if a.hard_reshuffle and epoch > 0:
            perm = torch.randperm(n, generator=gen)
        t0 = time.perf_counter()
        model.train()
        total, steps = 0.0, 0
        for i in range(0, n, a.hard_batch_size):
            idx = perm[i:i + a.hard_batch_size]
            loss = F.cross_entropy(inputs.logits(idx).float(), inputs.targets(idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            optimizer.step()
            total += loss.item()
            steps += 1
        t_train += time.perf_counter() - t0
        routed, _ = routed_eval(model, val_batches, cfg, threshold, vocab, a.eval_context)
        entry = {"epoch": epoch + 1, "train_loss": total / steps,
                 "validation": {k: routed[k] for k in ("ppl", "acc", "shallow_fraction",
                                                       "compute_fraction_layers")},
                 "hard_ppl": inputs.hard_ppl()}
        history.append(entry)
        improved = routed["ppl"] < best
        if improved:
            best, bad, best_epoch = routed["ppl"], 0, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        log.info("phase 2 epoch %d loss %.4f routed val ppl %.4f hard ppl %.4f%s", epoch + 1,
                 entry["train_loss"], routed["ppl"], entry["hard_ppl"], " (best)" if improved else "")
        if bad >= a.phase2_patience:
            stopped = True
            break
    model.load_state_dict(best_state)
    epochs_run = len(history)
    metrics = {
        "threshold": threshold, "n_hard": n, "best_epoch": best_epoch, "epochs_run": epochs_run,
        "stopped_early": stopped, "history": history, "best": history[best_epoch - 1],
        "n_params": model.num_parameters(), "n_trainable": n_trainable,
        "training_flops": phase2_flops(cfg, vocab, n, epochs_run, 0 if rows_x is None else len(rows_x)),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ck = {**_stage_header("ashem_phase2", cfg, data), "state_dict": state,
          "state_digest": state_digest(state), "phase1_digest": p1["state_digest"],
          "metrics": metrics, "threshold": threshold}
    timing = {"train_s": round(t_train, 3), "total_s": round(time.perf_counter() - start, 3)}
    return {"checkpoint": ck, "metrics": metrics, "data": data, "timing": timing, "threads": threads}


# --------------------------------------------------------------------------- evaluation

def _flat_index(hard: dict, seq_len: int) -> torch.Tensor:
    """Hard tokens' positions in per-token stats of their split (rows in .epoch(0) order)."""
    return hard["row"] * seq_len + hard["pos"]


def _exited(stats, exit_layer: int, threshold: float) -> torch.Tensor:
    return exit_mask(stats.confidence[exit_layer], threshold)


def _exit_summary(stats) -> dict:
    return {name: {"layer": layer, "ppl": _ppl(stats.ce[name]),
                   "acc": stats.correct[name].float().mean().item()}
            for name, layer in (("shallow", stats.exit_layer), ("deep", stats.n_layers))}


def calibration_report(cfg: RunConfig, val_stats, report_stats, vocab: int, same_split: bool) -> dict:
    """Per confidence measure: the threshold calibrated on validation to the PPL budget, and the
    routed numbers at that threshold on the report split."""
    out = {"budget": cfg.ashem.calibration_budget, "calibrated_on": "validation",
           "reported_on": "validation (same tokens)" if same_split else cfg.ashem.report_split}
    for m in MEASURES:
        cal = calibrate_threshold(val_stats.confidence[m], val_stats.ce["shallow"], val_stats.ce["deep"],
                                  cfg.ashem.calibration_budget)
        r = routed_metrics(report_stats.token_stats(m), report_stats.exit_layer, cal["threshold"],
                           cfg.model, vocab, cfg.data.seq_len)
        deep_ppl = _ppl(report_stats.ce["deep"])
        out[m] = {"validation": cal, "report": {**r, "ppl_full": deep_ppl,
                                                "ppl_loss": r["ppl"] / deep_ppl - 1}}
    return out


def timed_inference(model, batches, exit_layer: int, threshold: float, measure: str,
                    full_context: str, skip_context: str) -> tuple[dict, dict]:
    """Skip-mode inference over a split: its routed metrics (deterministic) and the wall time of
    full vs skip, timed batch by batch side by side (one warm-up batch first); scoring is untimed."""
    model.eval()
    device = next(model.parameters()).device
    ce, correct, n, n_exit = 0.0, 0, 0, 0
    full_s = skip_s = 0.0
    for i, (x, y) in enumerate([batches[0]] + list(batches)):
        x = x.to(device)
        t0 = time.perf_counter()
        full_inference(model, x, exit_layer, threshold, measure, full_context)
        t1 = time.perf_counter()
        out = skip_inference(model, x, exit_layer, threshold, measure, skip_context)
        t2 = time.perf_counter()
        if i == 0:  # warm-up
            continue
        full_s, skip_s = full_s + t1 - t0, skip_s + t2 - t1
        lg = out.logits.float().reshape(-1, out.logits.shape[-1])
        target = y.to(device).reshape(-1)
        ce += F.cross_entropy(lg, target, reduction="sum").double().item()
        correct += int((lg.argmax(-1) == target).sum())
        n += target.numel()
        n_exit += int(out.exited.sum())
    model.train()
    metrics = {"deep_context": skip_context, "ppl": math.exp(ce / n), "acc": correct / n,
               "exit_fraction": n_exit / n, "n_tokens": n, "n_exited": n_exit}
    return metrics, {"full_s": round(full_s, 4), "skip_s": round(skip_s, 4),
                     "speedup_measured": round(full_s / skip_s, 4)}


def run_evaluate(cfg: RunConfig, p2: dict, mined: dict) -> dict:
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    _check_data(p2, data, "the phase-2 checkpoint")
    _check_data(mined, data, "the mined file")
    if mined["phase1_digest"] != p2["phase1_digest"]:
        raise CheckpointError("the phase-2 model was not grown from the phase-1 model that mined these "
                              "hard tokens. Fix: pass the --mined file that `lash ashem phase2` used")
    a, m = cfg.ashem, cfg.model
    vocab, e, seq = len(data.vocab), a.phase1_layers, cfg.data.seq_len
    threshold = mined["threshold"]
    model = _load_model(cfg, a.phase2_layers, vocab, p2["state_dict"])
    measure = cfg.eval.confidence
    report_batches = split_batches(data, a.report_split).epoch(0)
    same_split = a.report_split == "validation"

    routed, stats = routed_eval(model, report_batches, cfg, threshold, vocab, a.eval_context, MEASURES)
    other = "token" if a.eval_context == "full" else "full"
    routed_other, _ = routed_eval(model, report_batches, cfg, threshold, vocab, other)
    val_stats = stats if same_split else collect_exit_stats(model, data.validation.epoch(0), e, MEASURES,
                                                            a.eval_context)

    # Hard PPL: held-out hard tokens of the report split when there are any, else the mined ones.
    needs_rows = a.phase2_context == "full" or a.freeze == "soft"
    mined_in = HardInputs(model, cfg, mined["hard"],
                          split_rows(data, a.mine_split)[0] if needs_rows else None)
    hard_mined_ppl = mined_in.hard_ppl()
    report_hard = mined["heldout"] if mined["heldout"] is not None else mined["hard"]
    if mined["heldout"] is not None:
        rep_in = HardInputs(model, cfg, report_hard,
                            split_rows(data, a.report_split)[0] if needs_rows else None)
        hard_report_ppl = rep_in.hard_ppl()
    else:
        hard_report_ppl = hard_mined_ppl
    flat = _flat_index(report_hard, seq)
    tok = stats.token_stats(measure)
    sh = _exited(tok, e, threshold)
    hard_routed_ce = torch.where(sh, tok.ce[e], tok.ce[stats.n_layers])[flat]
    summary = mined["summary"]
    phase1_hard = summary["phase1_hard_ppl"]
    hard = {
        "tokens": "held-out hard tokens of the report split" if mined["heldout"] is not None
        else "the mined tokens (= phase-2 training tokens, as the original)",
        "n": int(flat.numel()),
        "ppl": hard_report_ppl,
        "ppl_context": a.phase2_context,
        "ppl_routed": _ppl(hard_routed_ce),
        "ppl_deep_eval_context": _ppl(stats.ce["deep"][flat]),
        "ppl_mined": hard_mined_ppl,
        "phase1_ppl": phase1_hard,
        "phase1_ppl_mined": summary["phase1_hard_ppl_mined"],
        "reduction": 1 - hard_report_ppl / phase1_hard,
    }

    skip_context = "propagate" if a.eval_context == "full" else "token"
    skip_metrics, inference_timing = timed_inference(model, report_batches, e, threshold, measure,
                                                     a.eval_context, skip_context)
    n_tok = skip_metrics["n_tokens"]
    f_full = inference_flops(m.dim, m.ffn_mult, a.phase2_layers, e, vocab, seq, n_tok, 0, "full",
                             skip_context)
    f_skip = inference_flops(m.dim, m.ffn_mult, a.phase2_layers, e, vocab, seq, n_tok,
                             skip_metrics["n_exited"], "skip", skip_context)
    skip_metrics["speedup_ideal"] = f_full / f_skip
    inference_timing["speedup_ideal"] = f_full / f_skip

    p1m = mined["phase1_metrics"]
    p2m = p2["metrics"]
    compute = {"phase1_flops": p1m["training_flops"], "mining_flops": mined["mining_flops"],
               "phase2_flops": p2m["training_flops"]}
    compute["flops"] = sum(compute.values())
    split = a.report_split
    headline = {"split": split, "source": f"phase 2 restored best epoch {p2m['best_epoch']}, "
                f"routed at the mined threshold", "ppl": routed["ppl"], "acc": routed["acc"],
                "shallow_fraction": routed["shallow_fraction"],
                "compute_fraction_layers": routed["compute_fraction_layers"],
                "compute_fraction_flops": routed["compute_fraction_flops"], "hard_ppl": hard["ppl"]}
    p1_report = p1m["validation"] if split == "validation" else p1m["test"]
    metrics = {
        "headline": headline,
        "protocol": {"ashem_protocol": "original" if a.mine_split == split == "validation" else "corrected",
                     "mine_split": a.mine_split, "report_split": split, "select_split": "validation",
                     "phase2_context": a.phase2_context, "eval_context": a.eval_context,
                     "head": a.head, "freeze": a.freeze},
        "threshold": threshold, "confidence": measure, "n_hard": p2m["n_hard"],
        "mining": summary,
        "phase1": {**_phase1_brief(p1m), "report": p1_report, "hard_ppl": phase1_hard,
                   "history": p1m["history"], "n_params": p1m["n_params"]},
        "phase2": {"best_epoch": p2m["best_epoch"], "epochs_run": p2m["epochs_run"],
                   "stopped_early": p2m["stopped_early"], "history": p2m["history"],
                   "n_params": p2m["n_params"], "n_trainable": p2m["n_trainable"]},
        "report": {"routed": routed, f"routed_{other}_context": routed_other,
                   "exits": _exit_summary(stats)},
        "hard_ppl": hard,
        "calibration": calibration_report(cfg, val_stats, stats, vocab, same_split),
        "skip": skip_metrics,
        "training_compute": compute,
        "vocab_size": vocab, "n_params": model.num_parameters(),
        "comparison": {  # against the shallow phase-1 model on the same split
            "ppl_change_vs_phase1": routed["ppl"] / p1_report["ppl"] - 1 if p1_report else None,
            "acc_change_vs_phase1": routed["acc"] - p1_report["acc"] if p1_report else None,
            "hard_ppl_change_vs_phase1": hard["ppl"] / phase1_hard - 1,
        },
    }
    timing = {"evaluate_s": round(time.perf_counter() - start, 3), "inference": inference_timing}
    return {"metrics": metrics, "data": data, "timing": timing, "threads": threads}


# --------------------------------------------------------------------------- fair baselines

class _Budgeted:
    """A train split cut after `max_batches` batches in total (the last epoch may be partial)."""

    def __init__(self, inner, max_batches: int):
        self.inner, self.max_batches = inner, max_batches
        self.n_tokens = inner.n_tokens

    def __len__(self) -> int:
        return len(self.inner)

    def epoch(self, epoch: int = 0):
        left = self.max_batches - epoch * len(self.inner)
        return self.inner.epoch(epoch)[:max(0, left)]


def run_baseline(cfg: RunConfig, mined: dict, match_flops: float | None = None) -> dict:
    """A model trained on all tokens (lash.train), evaluated like ASHEM: Hard PPL on the same hard
    tokens, compute fractions, and (with routing) the same quantile threshold rule on the mining
    split. With match_flops the training is cut at that many training FLOPs (matched compute)."""
    start = time.perf_counter()
    data, threads = load_data(cfg)
    _check_data(mined, data, "the mined file")
    a, m = cfg.ashem, cfg.model
    vocab, seq, n = len(data.vocab), cfg.data.seq_len, cfg.model.n_layers
    e = cfg.eval.exit_layer
    exits = [k for k, w in sorted(cfg.layer_weights.items()) if w > 0] or [n]
    batch_tokens = cfg.data.batch_size * seq
    per_batch = _train_flops(cfg, n, vocab, batch_tokens, len(exits))
    run_data = data
    budget = None
    if match_flops is not None:
        budget = max(1, int(match_flops // per_batch))
        run_data = dataclasses.replace(data, train=_Budgeted(data.train, budget))
        cfg = copy.deepcopy(cfg)
        cfg.train.max_epochs = math.ceil(budget / len(data.train))
    seed_everything(cfg.seed)
    model = LashTransformer(cfg.model, vocab).to(cfg.train.device)
    t0 = time.perf_counter()
    result = train_model(model, run_data, cfg)
    train_s = time.perf_counter() - t0
    n_batches = sum(len(run_data.train.epoch(ep)) for ep in range(result.epochs_run))
    measure = cfg.eval.confidence
    routing = cfg.routing_threshold > 0 and e < n
    threshold = 1.0
    if routing:  # the ASHEM rule on this model: quantile of its exit confidence on the mining split
        mine_stats = collect_exit_stats(model, mining_batches(data, a), e, (measure,))
        threshold = quantile_threshold(mine_stats.confidence[measure], a.hard_ratio)
    report_batches = split_batches(data, a.report_split).epoch(0)
    stats = collect_exit_stats(model, report_batches, e, MEASURES)
    routed = routed_metrics(stats.token_stats(measure), e, threshold, m, vocab, seq)
    report_hard = mined["heldout"] if mined["heldout"] is not None else mined["hard"]
    flat = _flat_index(report_hard, seq)
    sh = _exited(stats.token_stats(measure), e, threshold)
    hard_ppl = _ppl(stats.ce["deep"][flat])
    same_split = a.report_split == "validation"
    val_stats = stats if same_split else collect_exit_stats(model, data.validation.epoch(0), e, MEASURES)
    flops = n_batches * per_batch
    headline = {"split": a.report_split, "source": f"restored best epoch {result.best_epoch}",
                "ppl": routed["ppl"], "acc": routed["acc"],
                "shallow_fraction": routed["shallow_fraction"],
                "compute_fraction_layers": routed["compute_fraction_layers"],
                "compute_fraction_flops": routed["compute_fraction_flops"] if routing else 1.0,
                "hard_ppl": hard_ppl}
    metrics = {
        "headline": headline, "threshold": threshold if routing else None, "routing": routing,
        "layer_weights": {str(k): v for k, v in cfg.layer_weights.items()},
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "history": result.history,
        "report": {"routed": routed, "exits": _exit_summary(stats)},
        "hard_ppl": {"tokens": "held-out hard tokens of the report split" if mined["heldout"] is not None
                     else "the ASHEM-mined tokens", "n": int(flat.numel()), "ppl": hard_ppl,
                     "ppl_routed": _ppl(torch.where(sh, stats.ce["shallow"], stats.ce["deep"])[flat]),
                     "ppl_shallow_exit": _ppl(stats.ce["shallow"][flat])},
        "calibration": calibration_report(cfg, val_stats, stats, vocab, same_split),
        "training_compute": {"flops": flops, "batches": n_batches, "budget_flops": match_flops,
                             "budget_batches": budget},
        "vocab_size": vocab, "n_params": model.num_parameters(),
    }
    timing = {"train_s": round(train_s, 3), "total_s": round(time.perf_counter() - start, 3)}
    return {"metrics": metrics, "data": data, "timing": timing, "threads": threads}


# --------------------------------------------------------------------------- progressive training

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


def run_progressive(cfg: RunConfig) -> dict:
    """PAPER_SPEC 5.1: phase 1 trains a phase1_layers model; phase 2 copies embedding, its blocks and
    the head into a phase2_layers model, freezes embedding + copied blocks (head trainable) and trains
    on all tokens. Standard: loss on the last layer; deep: 1/N on every layer (N of that phase)."""
    check_config(cfg)
    start = time.perf_counter()
    data, threads = load_data(cfg)
    vocab = len(data.vocab)
    a = cfg.ashem
    sup = a.progressive_supervision
    c1 = phase_config(cfg, a.phase1_layers, a.phase1_lr, a.phase1_patience, a.phase1_max_epochs,
                      _supervision_weights(sup, a.phase1_layers))
    seed_everything(cfg.seed)
    model1 = LashTransformer(c1.model, vocab).to(cfg.train.device)
    t0 = time.perf_counter()
    r1 = train_model(model1, data, c1)
    p1_s = time.perf_counter() - t0
    c2 = phase_config(cfg, a.phase2_layers, a.phase2_lr, a.phase2_patience, a.phase2_max_epochs,
                      _supervision_weights(sup, a.phase2_layers))
    model2 = grow_model(c2, vocab, model1.state_dict())
    model2.embed.requires_grad_(False)
    for block in model2.blocks[:a.phase1_layers]:
        block.requires_grad_(False)
    n_trainable = sum(p.numel() for p in model2.parameters() if p.requires_grad)
    data2 = dataclasses.replace(data, train=_EpochOffset(data.train, 1_000_000))
    t0 = time.perf_counter()
    r2 = train_model(model2, data2, c2)
    p2_s = time.perf_counter() - t0
    split = "test" if data.test is not None else "validation"
    batches = split_batches(data, split).epoch(0)

    def phase(model, result, n_exits):
        return {"validation": lm_metrics(model, data.validation.epoch(0)),
                "test": lm_metrics(model, data.test.epoch(0)) if data.test is not None else None,
                "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                "stopped_early": result.stopped_early, "history": result.history,
                "n_params": model.num_parameters(),
                "training_flops": _train_flops(cfg, model.n_layers, vocab,
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
    return {"metrics": metrics, "data": data, "timing": timing, "threads": threads}


# --------------------------------------------------------------------------- payload

def payload(cfg: RunConfig, result: dict, start: float, argv: list[str] | None) -> dict:
    """The results JSON: as `lash train` ({config, metrics, data, provenance}) plus `timing`."""
    data = result["data"]
    return {
        "config": cfg.to_dict(),
        "metrics": result["metrics"],
        "data": data.info,
        "provenance": provenance(cfg.seed, data.digests, cfg.train.device, result["threads"],
                                 time.perf_counter() - start, argv),
        "timing": result["timing"],
    }
