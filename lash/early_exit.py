"""Early-exit inference that really skips work, its reference, and threshold calibration.

A two-exit model: the shared head at `exit_layer` (shallow) and at the last layer (deep). A token
exits when the confidence of its shallow prediction is >= threshold (lash.evaluate.exit_mask:
threshold 1.0 = no token exits, 0.0 = every token exits).

Teacher-forced inference over a batch [B, T]:
- `full_inference`: every layer for every token, then choose per token (the reference; what the
  original's routed evaluation computes).
- `skip_inference`: the deep layers run only for tokens that did not exit (their queries, FFN and
  deep head are computed on the gathered tokens). Deep attention still needs keys/values at every
  position. deep_context="propagate" (CALM's state propagation): an exited position's keys/values in
  every deep layer are projected from its copied exit state. deep_context="token": the deep layers are
  token-local (ASHEM phase 2 trains them on length-1 sequences), so they need no context at all and
  attention reduces to wo(wv(h)) exactly (softmax over one key is 1).

What is exact: threshold 1.0 gives the full model's logits, 0.0 the shallow model's; exited tokens get
the shallow logits; with deep_context="token" every token equals the token-local reference. With
"propagate" a non-exited token equals the full model only while no earlier position of its row has
exited (later ones attend to copied states); it always equals `propagated_reference`.

Generation (`generate`): greedy, a batch of equal-length prompts, one preallocated KV cache per layer.
The prompt runs through every layer; then per new token the shallow layers run for every row, and
the deep layers only for rows that did not exit; an exited row fills the deep layers' caches at its
position with keys/values from its copied exit state (or needs none with token-local deep layers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import choices
from .evaluate import TokenStats, exit_mask
from .model import apply_rope

MEASURES = choices("eval.confidence")  # declared once, in the config schema


def retain_freed_memory() -> bool:
    """Keep freed memory in the process (lash.fused, as `lash train` does). Otherwise glibc unmaps
    every freed multi-megabyte logits tensor and each call pays page faults in proportion to what
    it allocates: slower, noisier, and it rewards skip for allocating less rather than computing less."""
    try:
        from .fused import retain_freed_memory as retain
    except ImportError:
        return False
    return retain()


# --------------------------------------------------------------------------- confidence

def confidences(logits: torch.Tensor, measures=("max_prob",)) -> dict[str, torch.Tensor]:
    """Confidence measures of lash.evaluate.confidence_from_logits (same formulas, so the same
    numbers), sharing one softmax when several are asked for."""
    lg = logits.float()
    probs = lg.softmax(-1)
    out = {}
    for m in measures:
        if m == "max_prob":
            out[m] = probs.amax(-1)  # = max(-1).values, without the index pass (2x cheaper here)
        elif m == "margin":
            top2 = probs.topk(2, dim=-1).values
            out[m] = top2[..., 0] - top2[..., 1]
        elif m == "entropy":
            entropy = -(probs * lg.log_softmax(-1)).sum(-1)
            out[m] = 1.0 - entropy / math.log(lg.shape[-1])
        else:
            raise ValueError(f"unknown confidence measure {m!r}")
    return out


# --------------------------------------------------------------------------- block pieces

def _heads(attn, t: torch.Tensor) -> torch.Tensor:
    """[..., S, D] -> [..., H, S, hd]."""
    *lead, s, _ = t.shape
    return t.view(*lead, s, attn.n_heads, attn.head_dim).transpose(-3, -2)


def _merge(t: torch.Tensor) -> torch.Tensor:
    """[..., H, S, hd] -> [..., S, D]."""
    t = t.transpose(-3, -2)
    return t.reshape(*t.shape[:-2], -1)


def _finish(block, h: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
    """The rest of a post-norm block after attention: norm1(h + wo(a)); norm2(x + ffn(x))."""
    x = block.norm1(h + block.attn.wo(attn_out))
    return block.norm2(x + block.ffn(x))


def token_local_block(block, h: torch.Tensor) -> torch.Tensor:
    """A block applied to length-1 sequences ([N, D] -> [N, D]): softmax over a single key is 1, so
    attention is wo(wv(h)) and no query or key is needed."""
    return _finish(block, h, block.attn.wv(h))


def exit_hidden(model, x: torch.Tensor, exit_layer: int) -> torch.Tensor:
    """Output of block `exit_layer` for token ids x [B, T] (the model's own blocks)."""
    return model.hidden_states(x, upto=exit_layer)[exit_layer]


def deep_hidden(model, h_exit: torch.Tensor, exit_layer: int, context: str = "full") -> torch.Tensor:
    """Blocks exit_layer+1..L on every token: with full causal context, or token-local."""
    L = model.n_layers
    if exit_layer == L:
        return h_exit
    if context == "full":
        h = h_exit
        for _, h in model.run_blocks(h_exit, exit_layer, L):
            pass
        return h
    if context == "token":
        b, t, d = h_exit.shape
        h = h_exit.reshape(b * t, 1, d)
        for _, h in model.run_blocks(h, exit_layer, L):
            pass
        return h.reshape(b, t, d)
    raise ValueError(f"unknown deep context {context!r}; use full or token")


def exit_logits(model, x: torch.Tensor, exit_layer: int, context: str = "full"):
    """(shallow logits, deep logits) of every token, each [B, T, V]."""
    h_e = exit_hidden(model, x, exit_layer)
    return model.head(h_e), model.head(deep_hidden(model, h_e, exit_layer, context))


# --------------------------------------------------------------------------- teacher-forced inference

@dataclass
class ExitOutput:
    logits: torch.Tensor  # [B, T, V] the routed prediction of every token
    exited: torch.Tensor  # [B, T] bool, True = took the shallow exit
    confidence: torch.Tensor  # [B, T] shallow-exit confidence


@torch.no_grad()
def full_inference(model, x, exit_layer: int, threshold: float, measure: str = "max_prob",
                   deep_context: str = "full") -> ExitOutput:
    """Every layer for every token; per token the shallow logits if it exits, else the deep ones."""
    shallow, deep = exit_logits(model, x, exit_layer, deep_context)
    conf = confidences(shallow, (measure,))[measure]
    exited = exit_mask(conf, threshold)
    return ExitOutput(torch.where(exited.unsqueeze(-1), shallow, deep), exited, conf)


@torch.no_grad()
def skip_inference(model, x, exit_layer: int, threshold: float, measure: str = "max_prob",
                   deep_context: str = "propagate") -> ExitOutput:
    """The deep layers run only for tokens that did not exit (see the module docstring)."""
    if deep_context not in ("propagate", "token"):
        raise ValueError(f"unknown skip context {deep_context!r}; use propagate or token")
    h_e = exit_hidden(model, x, exit_layer)
    logits = model.head(h_e)  # every token pays for the shallow head: its confidence needs it
    conf = confidences(logits, (measure,))[measure]
    exited = exit_mask(conf, threshold)
    b, t, d = h_e.shape
    keep = (~exited).reshape(-1).nonzero().squeeze(1)  # flat indices of the deep tokens
    n_keep = keep.numel()
    if n_keep == 0 or exit_layer == model.n_layers:
        return ExitOutput(logits, exited, conf)
    if n_keep == b * t and deep_context == "propagate":
        # nobody exits: exactly the model's own deep path (so threshold 1.0 == full, bit for bit)
        return ExitOutput(model.head(deep_hidden(model, h_e, exit_layer, "full")), exited, conf)
    flat_logits = logits.view(b * t, -1)
    if deep_context == "token":
        h = h_e.reshape(b * t, d).index_select(0, keep)
        for layer in range(exit_layer + 1, model.n_layers + 1):
            h = token_local_block(model.blocks[layer - 1], h)
    else:
        h = _propagate_deep(model, h_e, keep, exit_layer)
    flat_logits.index_copy_(0, keep, model.head(h))
    return ExitOutput(logits, exited, conf)


def _propagate_deep(model, h_e: torch.Tensor, keep: torch.Tensor, exit_layer: int) -> torch.Tensor:
    """Deep layers for the gathered tokens `keep`; keys/values of every position come from its
    current state: the layer input for deep tokens, the copied exit state for exited ones.
    Attention itself is computed densely over [B, T] (a few % of a block's work at T = 32, and
    it keeps one kernel); queries, wo, FFN and the head run on the gathered tokens only."""
    b, t, d = h_e.shape
    cos, sin = model.rope(torch.arange(t, device=h_e.device))
    state = h_e.reshape(b * t, d).clone()  # exited rows keep their exit state in every deep layer
    h = state.index_select(0, keep)
    pos = keep % t
    cos_k, sin_k = cos[pos].unsqueeze(1), sin[pos].unsqueeze(1)
    q_full = h_e.new_zeros(b * t, d)
    for layer in range(exit_layer + 1, model.n_layers + 1):
        block = model.blocks[layer - 1]
        attn = block.attn
        k, v = attn.project_kv(state.view(b, t, d), cos, sin)  # [B, H, T, hd]
        q = attn.wq(h).view(-1, attn.n_heads, attn.head_dim)  # [N, H, hd], rotated at its position
        q = apply_rope(q, cos_k, sin_k).reshape(-1, d)
        q_full.index_copy_(0, keep, q)
        out = F.scaled_dot_product_attention(_heads(attn, q_full.view(b, t, d)), k, v, is_causal=True)
        h = _finish(block, h, _merge(out).reshape(b * t, d).index_select(0, keep))
        if layer < model.n_layers:
            state.index_copy_(0, keep, h)
    return h


@torch.no_grad()
def propagated_reference(model, x, exited: torch.Tensor, exit_layer: int) -> torch.Tensor:
    """Slow dense reference of state propagation: deep layers for every token, with the keys/values
    of exited positions taken from their exit state. Logits [B, T, V] (deep path for every token)."""
    h_e = exit_hidden(model, x, exit_layer)
    t = x.shape[1]
    cos, sin = model.rope(torch.arange(t, device=x.device))
    mask = exited.unsqueeze(-1)
    h = h_e
    for layer in range(exit_layer + 1, model.n_layers + 1):
        block = model.blocks[layer - 1]
        attn = block.attn
        k, v = attn.project_kv(torch.where(mask, h_e, h), cos, sin)
        q = apply_rope(_heads(attn, attn.wq(h)), cos, sin)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = _finish(block, h, _merge(out))
    return model.head(h)


# --------------------------------------------------------------------------- work counted

def block_flops(dim: int, ffn_mult: int, context: float, queries: bool = True) -> float:
    """Forward FLOPs of one token in one block at a given attention context; queries=False counts
    only its key/value projections (an exited token under state propagation)."""
    if not queries:
        return 2 * 2 * dim * dim
    return 2 * 4 * dim * dim + 2 * 2 * dim * context + 2 * 3 * dim * ffn_mult * dim


def inference_flops(dim: int, ffn_mult: int, n_layers: int, exit_layer: int, vocab: int,
                    seq_len: int, n_tokens: int, n_exited: int, mode: str,
                    deep_context: str = "propagate") -> float:
    """FLOPs of teacher-forced inference over n_tokens (rows of seq_len): `full` runs every block and
    both heads for every token; `skip` runs the shallow blocks and head for every token, and the deep
    blocks and head for the n_tokens - n_exited deep tokens, plus key/value projections of the
    exited ones in every deep layer (propagate) or nothing for them (token-local deep layers)."""
    ctx = (seq_len + 1) / 2
    head = 2 * dim * vocab
    shallow = exit_layer * block_flops(dim, ffn_mult, ctx) + head
    n_deep_layers = n_layers - exit_layer
    deep_ctx = 1 if deep_context == "token" else ctx
    deep = n_deep_layers * block_flops(dim, ffn_mult, deep_ctx) + head
    if mode == "full":
        return n_tokens * (shallow + deep)
    kv = n_deep_layers * block_flops(dim, ffn_mult, ctx, queries=False) if deep_context == "propagate" else 0
    return n_tokens * shallow + (n_tokens - n_exited) * deep + n_exited * kv


# --------------------------------------------------------------------------- split statistics

@dataclass
class ExitStats:
    """Per-token statistics of a split at the shallow and the deep exit (tensors [N], in batch order)."""

    ce: dict[str, torch.Tensor]  # "shallow" / "deep"
    correct: dict[str, torch.Tensor]
    confidence: dict[str, torch.Tensor]  # measure -> shallow-exit confidence
    batch_index: torch.Tensor
    exit_layer: int
    n_layers: int

    def token_stats(self, measure: str = "max_prob") -> TokenStats:
        """As lash.evaluate.TokenStats, so routed_metrics counts compute exactly as `lash train` does."""
        e, n = self.exit_layer, self.n_layers
        conf = {e: self.confidence[measure], n: torch.zeros_like(self.ce["deep"])}
        return TokenStats(ce={e: self.ce["shallow"], n: self.ce["deep"]},
                          correct={e: self.correct["shallow"], n: self.correct["deep"]},
                          max_prob=conf, confidence=conf, batch_index=self.batch_index, n_layers=n)


@torch.no_grad()
def collect_exit_stats(model, batches, exit_layer: int, measures=("max_prob",),
                       context: str = "full") -> ExitStats:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    acc = {"ce_s": [], "ce_d": [], "ok_s": [], "ok_d": [], "b": []}
    conf = {m: [] for m in measures}
    for i, (x, y) in enumerate(batches):
        x, y = x.to(device), y.to(device)
        shallow, deep = exit_logits(model, x, exit_layer, context)
        target = y.reshape(-1)
        for tag, lg in (("s", shallow), ("d", deep)):
            lg = lg.float().reshape(-1, lg.shape[-1])
            acc[f"ce_{tag}"].append(F.cross_entropy(lg, target, reduction="none").cpu())
            acc[f"ok_{tag}"].append((lg.argmax(-1) == target).cpu())
        for m, c in confidences(shallow.reshape(-1, shallow.shape[-1]), measures).items():
            conf[m].append(c.cpu())
        acc["b"].append(torch.full((target.numel(),), i, dtype=torch.long))
    model.train(was_training)
    cat = {k: torch.cat(v) for k, v in acc.items()}
    return ExitStats(ce={"shallow": cat["ce_s"], "deep": cat["ce_d"]},
                     correct={"shallow": cat["ok_s"], "deep": cat["ok_d"]},
                     confidence={m: torch.cat(v) for m, v in conf.items()},
                     batch_index=cat["b"], exit_layer=exit_layer, n_layers=model.n_layers)


# --------------------------------------------------------------------------- threshold calibration

def calibrate_threshold(confidence: torch.Tensor, ce_shallow: torch.Tensor, ce_deep: torch.Tensor,
                        budget: float = 0.01) -> dict:
    """The smallest threshold (most exits) whose routed PPL is at most (1 + budget) x the deep-only
    PPL on these tokens. Exact over every distinct confidence value: sort by confidence, and the
    routed total CE when the k most confident tokens exit is a cumulative sum. A threshold never
    splits tokens of equal confidence, and stays below 1.0 (1.0 means "no exit")."""
    n = confidence.numel()
    order = torch.argsort(confidence, descending=True, stable=True)
    c = confidence[order]
    gain = (ce_shallow.double() - ce_deep.double())[order]
    total = ce_deep.double().sum() + torch.cat([gain.new_zeros(1), gain.cumsum(0)])  # [n + 1]
    ppl = torch.exp(total / n)
    ppl_full = ppl[0].item()
    valid = torch.ones(n + 1, dtype=torch.bool)
    valid[1:n] = c[:-1] > c[1:]  # k exits only if the k-th and (k+1)-th confidences differ
    valid[1:] &= c < 1.0
    ok = valid & (ppl <= ppl_full * (1 + budget))
    k = int(ok.nonzero().max().item())
    threshold = c[k - 1].item() if k > 0 else 1.0
    return {"threshold": threshold, "budget": budget, "exit_fraction": k / n,
            "ppl": ppl[k].item(), "ppl_full": ppl_full, "ppl_loss": ppl[k].item() / ppl_full - 1}


# --------------------------------------------------------------------------- generation

class KVCache:
    """Preallocated keys/values per layer: [B, H, max_len, hd]; positions are written in place."""

    def __init__(self, model, batch: int, max_len: int, layers):
        attn = model.blocks[0].attn
        p = next(model.parameters())
        shape = (batch, attn.n_heads, max_len, attn.head_dim)
        self.k = {l: p.new_zeros(shape) for l in layers}
        self.v = {l: p.new_zeros(shape) for l in layers}

    def write(self, layer: int, start: int, k, v, rows=None) -> None:
        s = k.shape[2]
        if rows is None:
            self.k[layer][:, :, start:start + s] = k
            self.v[layer][:, :, start:start + s] = v
        else:
            self.k[layer][rows, :, start:start + s] = k
            self.v[layer][rows, :, start:start + s] = v

    def read(self, layer: int, end: int, rows=None):
        if rows is None:
            return self.k[layer][:, :, :end], self.v[layer][:, :, :end]
        return self.k[layer][rows, :, :end], self.v[layer][rows, :, :end]


def _cached_block(block, layer: int, h, start: int, cos, sin, cache: KVCache, rows=None):
    """Block on new tokens h [b, s, D] at positions start..start+s-1, attending to the cache."""
    attn = block.attn
    q = apply_rope(_heads(attn, attn.wq(h)), cos, sin)
    k, v = attn.project_kv(h, cos, sin)
    s = h.shape[1]
    cache.write(layer, start, k, v, rows)
    keys, values = cache.read(layer, start + s, rows)
    mask = None
    if s > 1:
        mask = torch.ones(s, start + s, dtype=torch.bool, device=h.device).tril(start)
    return _finish(block, h, _merge(F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)))


@dataclass
class GenerationOutput:
    tokens: torch.Tensor  # [B, P + N] prompt and generated ids
    exited: torch.Tensor  # [B, N] bool per generated token
    confidence: torch.Tensor  # [B, N] shallow-exit confidence of each generated token
    n_deep_rows: int  # row-steps that ran the deep layers (the work actually done)


@torch.no_grad()
def generate(model, prompt: torch.Tensor, max_new_tokens: int, exit_layer: int, threshold: float,
             measure: str = "max_prob", mode: str = "skip", deep_context: str = "propagate"
             ) -> GenerationOutput:
    """Greedy decoding with a KV cache and early exit. mode="full" runs every layer and both heads
    for every row and step (the reference); mode="skip" runs the deep layers only for rows that did
    not exit. deep_context: "propagate" (copied exit state fills the deep caches) or "token"
    (token-local deep layers, as ASHEM trains them; no deep cache)."""
    if mode not in ("full", "skip") or deep_context not in ("propagate", "token"):
        raise ValueError(f"mode {mode!r} / deep_context {deep_context!r}")
    was_training = model.training
    model.eval()
    L, e = model.n_layers, exit_layer
    b, p = prompt.shape
    device = prompt.device
    cached = range(1, L + 1) if deep_context == "propagate" else range(1, e + 1)
    cache = KVCache(model, b, p + max_new_tokens, cached)
    tokens = prompt.new_zeros(b, p + max_new_tokens)
    tokens[:, :p] = prompt
    exited = torch.zeros(b, max_new_tokens, dtype=torch.bool, device=device)
    conf_all = torch.zeros(b, max_new_tokens, device=device)
    n_deep_rows = 0

    def shallow_layers(h, start, cos, sin):
        for layer in range(1, e + 1):
            h = _cached_block(model.blocks[layer - 1], layer, h, start, cos, sin, cache)
        return h

    def deep_layers(h, start, cos, sin, rows=None):
        for layer in range(e + 1, L + 1):
            block = model.blocks[layer - 1]
            if deep_context == "token":
                h = token_local_block(block, h.reshape(-1, h.shape[-1])).view_as(h)
            else:
                h = _cached_block(block, layer, h, start, cos, sin, cache, rows)
        return h

    # Prefill: the prompt through every layer (as CALM); its last position chooses token 1.
    cos, sin = model.rope(torch.arange(p, device=device))
    h = shallow_layers(model.embed(prompt), 0, cos, sin)
    shallow = model.head(h[:, -1])
    conf = confidences(shallow, (measure,))[measure]
    ex = exit_mask(conf, threshold)
    nxt = torch.where(ex, shallow.argmax(-1), model.head(deep_layers(h, 0, cos, sin)[:, -1]).argmax(-1))
    n_deep_rows += b
    for step in range(max_new_tokens):
        pos = p + step
        tokens[:, pos] = nxt
        exited[:, step] = ex
        conf_all[:, step] = conf
        if step == max_new_tokens - 1:
            break
        cos, sin = model.rope(torch.arange(pos, pos + 1, device=device))
        h = shallow_layers(model.embed(nxt).unsqueeze(1), pos, cos, sin)  # [B, 1, D]
        shallow = model.head(h[:, 0])
        conf = confidences(shallow, (measure,))[measure]
        ex = exit_mask(conf, threshold)
        nxt = shallow.argmax(-1)
        n_ex = b if mode == "full" else int(ex.sum())
        if mode == "full" or n_ex == 0:  # every row through the deep layers
            deep = model.head(deep_layers(h, pos, cos, sin)[:, 0]).argmax(-1)
            nxt = torch.where(ex, nxt, deep)
            n_deep_rows += b
            continue
        if deep_context == "propagate":  # exited rows fill the deep caches from their exit state
            rows_ex = ex.nonzero().squeeze(1)
            h_ex = h.index_select(0, rows_ex)
            for layer in range(e + 1, L + 1):
                k, v = model.blocks[layer - 1].attn.project_kv(h_ex, cos, sin)
                cache.write(layer, pos, k, v, rows_ex)
        if n_ex < b:
            rows = (~ex).nonzero().squeeze(1)
            deep = model.head(deep_layers(h.index_select(0, rows), pos, cos, sin, rows)[:, 0])
            nxt = nxt.index_copy(0, rows, deep.argmax(-1))
            n_deep_rows += rows.numel()
    model.train(was_training)
    return GenerationOutput(tokens, exited, conf_all, n_deep_rows)


@torch.no_grad()
def greedy_reference(model, prompt: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Plain greedy decoding without a cache: the whole sequence through the model at every step."""
    seq = prompt
    for _ in range(max_new_tokens):
        seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return seq


def generation_flops(dim: int, ffn_mult: int, n_layers: int, exit_layer: int, vocab: int,
                     prompt_len: int, new_tokens: int, batch: int, deep_row_steps: int, mode: str,
                     deep_context: str = "propagate") -> float:
    """Work of `generate` after the prompt (prefill is the same in both modes and left out): every
    row-step runs the shallow blocks and head; deep row-steps add the deep blocks and head; exited
    row-steps add key/value projections in every deep layer (propagate). Context = mean cached length."""
    ctx = prompt_len + new_tokens / 2
    head = 2 * dim * vocab
    steps = batch * (new_tokens - 1)
    n_deep = n_layers - exit_layer
    deep_ctx = 1 if deep_context == "token" else ctx
    shallow = exit_layer * block_flops(dim, ffn_mult, ctx) + head
    deep = n_deep * block_flops(dim, ffn_mult, deep_ctx) + head
    if mode == "full":
        return steps * (shallow + deep)
    kv = n_deep * block_flops(dim, ffn_mult, ctx, queries=False) if deep_context == "propagate" else 0
    deep_steps = deep_row_steps - batch  # the prefill's row-steps are not in `steps`
    return steps * shallow + deep_steps * deep + (steps - deep_steps) * kv

