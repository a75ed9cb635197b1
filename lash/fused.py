"""Chunked output head + cross-entropy that never materialises full-vocabulary logits.

The training loss of a multi-exit model is sum_k w_k * mean_n CE(h_k[n] @ W^T, y[n]) with one
shared head W [V, D]. `LinearCrossEntropy` computes it chunk by chunk over the rows of every exit:
a chunk's logits [C, V] are formed, turned into log-probabilities (the loss) and then in place into
softmax - onehot (the gradient of the logits), which is immediately contracted into the gradients
of the hidden states (G @ W) and of the head (G^T @ h). Only one [C, V] buffer ever exists, and it
stays in cache for moderate C; the three matrix products are the same as in the reference path.

Because the loss is a scalar, the gradients are computed in the forward pass (when any input
requires grad) and the backward pass only scales them by the incoming gradient. Every reduction
runs in a fixed order, so results are deterministic on CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Sequence

import torch

# Rows per chunk: aim for a logits buffer of about this many float32 elements (8 MiB; 63 rows at
# V = 33,278, the fastest of 32..512 rows measured on a 2-core Xeon).
_TARGET_CHUNK_ELEMS = 1 << 21


def _chunk_rows(n_rows: int, vocab: int, chunk_rows: int | None) -> int:
    if chunk_rows is not None:
        return max(1, min(n_rows, chunk_rows))
    return max(16, min(n_rows, _TARGET_CHUNK_ELEMS // max(1, vocab)))


class LinearCrossEntropy(torch.autograd.Function):
    """loss = sum_k scales[k] * sum_n CE(hs[k][n] @ weight^T, targets[n]).

    hs: tensors [N, D] (one per exit), weight: [V, D], targets: [N] int64, scales: floats (w_k / N
    for a weighted mean). Returns a 0-dim tensor.

    Per chunk of C rows: Z = h W^T; E = exp(Z) in place (one pass; see below for overflow);
    [E W | s] = E [W | 1] gives both E W and the row sums s = sum_v exp(z_v) in one product;
    CE = log s - z_target; dZ = E / s - onehot, so dh = scale * ((E W) / s - W[target]) and
    dW^T += scale * (h / s)^T (E - s onehot). Without the max subtraction exp can only
    overflow (logit > 88) or underflow entirely; such a chunk is recomputed the stable way
    (max-subtracted log-softmax), so the result is always the exact CE up to float rounding."""

    @staticmethod
    def forward(ctx, weight, targets, scales, chunk_rows, *hs):
        need_grad = weight.requires_grad or any(h.requires_grad for h in hs)
        n_rows, (vocab, dim) = targets.shape[0], weight.shape
        rows = _chunk_rows(n_rows, vocab, chunk_rows)
        w32 = weight.detach().float()
        w32_t = w32.t().contiguous()  # [D, V]: h @ W^T as a plain NN product (measured ~1.5x faster)
        loss = torch.zeros((), dtype=torch.float32, device=weight.device)
        buf = torch.empty(rows, vocab, dtype=torch.float32, device=weight.device)
        if need_grad:
            grad_wt = torch.zeros(dim, vocab, dtype=torch.float32, device=weight.device)
            w_aug = torch.cat([w32, torch.ones(vocab, 1, dtype=torch.float32, device=weight.device)], 1)
            ew = torch.empty(rows, dim + 1, dtype=torch.float32, device=weight.device)
        grad_hs = []
        for h, scale in zip(hs, scales):
            h32 = h.detach().float()
            grad_h = torch.empty(h.shape, dtype=torch.float32, device=h.device) if need_grad else None
            for start in range(0, n_rows, rows):
                end = min(n_rows, start + rows)
                hc, tc = h32[start:end], targets[start:end]
                z = buf[: end - start]
                torch.mm(hc, w32_t, out=z)
                z_t = z.gather(1, tc[:, None]).squeeze(1)
                z.exp_()
                if need_grad:
                    e_w = ew[: end - start]
                    torch.mm(z, w_aug, out=e_w)
                    s = e_w[:, dim]
                else:
                    s = z.sum(1)
                if bool(((s == 0) | ~torch.isfinite(s)).any()):
                    # overflow/underflow of the unshifted exp: redo the chunk with a shifted softmax
                    torch.mm(hc, w32_t, out=z)
                    shift = z.amax(1, keepdim=True)
                    z.sub_(shift).exp_()
                    if need_grad:
                        torch.mm(z, w_aug, out=e_w)
                        s = e_w[:, dim]
                    else:
                        s = z.sum(1)
                    z_t = z_t - shift.squeeze(1)
                loss += scale * (s.log() - z_t).sum()
                if need_grad:
                    inv_s = s.reciprocal()[:, None]
                    # dh = scale * (E W / s - W[target])
                    gh = grad_h[start:end]
                    torch.mul(e_w[:, :dim], inv_s, out=gh)
                    gh.sub_(w32.index_select(0, tc)).mul_(scale)
                    # dW^T += scale * (h / s)^T (E - s * onehot): one target per row, so the
                    # onehot is a plain (deterministic) scatter into E
                    tcol = tc[:, None]
                    z.scatter_(1, tcol, z.gather(1, tcol) - s[:, None])
                    grad_wt.addmm_((hc * inv_s).t(), z, alpha=scale)
            grad_hs.append(grad_h)
        if need_grad:
            ctx.save_for_backward(grad_wt, *grad_hs)
        ctx.dtypes = (weight.dtype, [h.dtype for h in hs])
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        grad_wt, *grad_hs = ctx.saved_tensors
        w_dtype, h_dtypes = ctx.dtypes
        g_w = None
        if ctx.needs_input_grad[0]:
            g_w = torch.empty(grad_wt.shape[::-1], dtype=grad_wt.dtype, device=grad_wt.device)
            torch.mul(grad_wt.t(), grad_out, out=g_w)  # contiguous [V, D], like the weight
            g_w = g_w.to(w_dtype)
        g_hs = [(g * grad_out).to(dt) if ctx.needs_input_grad[4 + i] else None
                for i, (g, dt) in enumerate(zip(grad_hs, h_dtypes))]
        return (g_w, None, None, None, *g_hs)


def linear_cross_entropy(hs: Sequence[torch.Tensor], weight: torch.Tensor, targets: torch.Tensor,
                         weights: Sequence[float], chunk_rows: int | None = None) -> torch.Tensor:
    """sum_k weights[k] * mean CE(hs[k] @ weight^T, targets): hs[k] [..., D], targets [...]."""
    flat_t = targets.reshape(-1)
    n = flat_t.shape[0]
    flat_h = [h.reshape(n, h.shape[-1]) for h in hs]
    scales = tuple(float(w) / n for w in weights)
    return LinearCrossEntropy.apply(weight, flat_t, scales, chunk_rows, *flat_h)


_RETAINED = False


#: Blocks up to this size stay on the heap and are reused (training-step tensors: the [V, D] head and
#: embedding gradients and the logits chunk are 8-9 MB at V = 33k); larger ones (evaluation's full
#: [2048, V] logits, 140-270 MB) are mmap'ed and returned to the OS when freed. With every block up to
#: 1 GiB kept on the heap, a word-level ASHEM phase 1 peaked anywhere between 0.85 and 8.4 GB resident
#: (heap fragmentation, different from run to run); with this threshold, 0.86-0.87 GB.
_MMAP_THRESHOLD = 32 << 20


def retain_freed_memory() -> bool:
    """Keep freed training-step memory inside the process (glibc only; a no-op elsewhere). A training
    step frees and re-allocates the same multi-megabyte tensors (gradients, the [V, D] head/embedding
    gradients, logits chunks); by default glibc returns blocks above 128 KiB-32 MiB to the OS with munmap,
    and every step then pays page faults to touch fresh memory again (measured: ~30 % of a word-level
    step). Raising the trim threshold and the mmap threshold (to _MMAP_THRESHOLD) makes the allocator
    reuse those blocks, while evaluation-sized buffers are still unmapped when freed. Process-wide and
    idempotent; numerics are untouched. Returns whether the setting was applied."""
    global _RETAINED
    if _RETAINED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = (libc.mallopt(m_trim_threshold, 1 << 30) == 1
              and libc.mallopt(m_mmap_threshold, _MMAP_THRESHOLD) == 1)
    except (OSError, AttributeError):
        return False
    _RETAINED = bool(ok)
    return _RETAINED
