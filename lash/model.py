"""The original LASH/EASE decoder-only Transformer (PAPER_SPEC section 1).

Embedding -> N post-norm blocks (RMSNorm, RoPE multi-head attention, SwiGLU FFN) -> one untied
output head shared by every exit. No final norm, no dropout, no biases. Layers are numbered from
1, as in the original's `layer_weights` keys; "exit k" is the head applied to block k's output.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        """Same math as forward(), hand-written backward."""
        return _RMSNormFn.apply(x, self.weight, self.eps)


class _RMSNormFn(torch.autograd.Function):
    """x * rsqrt(mean(x^2) + eps) * w with a hand-written backward (fewer passes over x than
    autograd's): with xn = x * r, t = g * w: dx = r * (t - xn * mean(t * xn)), dw = sum(g * xn)."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        d = x.shape[-1]
        r = torch.linalg.vector_norm(x, 2, -1, keepdim=True).square_().div_(d).add_(eps).rsqrt_()
        xn = x * r
        ctx.save_for_backward(xn, weight, r)
        return xn * weight

    @staticmethod
    def backward(ctx, grad):
        xn, weight, r = ctx.saved_tensors
        d = xn.shape[-1]
        grad_w = (grad * xn).reshape(-1, d).sum(0) if ctx.needs_input_grad[1] else None
        t = grad * weight
        dot = (t * xn).sum(-1, keepdim=True).div_(-d)
        grad_x = torch.addcmul(t, xn, dot).mul_(r) if ctx.needs_input_grad[0] else None
        return grad_x, grad_w, None


class RotaryTables(nn.Module):
    """cos/sin tables computed once for max_seq_len (rotate-half convention, angles duplicated [f, f])."""

    def __init__(self, head_dim: int, max_seq_len: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos[positions], self.sin[positions]

    def complex_table(self, seq_len: int) -> torch.Tensor:
        """cos + i sin of the first half of the angles for positions 0..seq_len-1: [S, 1, hd/2] complex."""
        half = self.cos.shape[-1] // 2
        return torch.complex(self.cos[:seq_len, :half], self.sin[:seq_len, :half]).unsqueeze(1)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = dim // n_heads
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.explicit = False  # the original's arithmetic for every length (LashTransformer(explicit_attention=))

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, s, _ = t.shape
        return t.view(b, s, self.n_heads, self.head_dim).transpose(1, 2)

    def project_kv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Keys (rotated) and values for x: [B, H, S, hd]."""
        return apply_rope(self._split(self.wk(x)), cos, sin), self._split(self.wv(x))

    def forward(self, x, cos, sin, past_kv=None, causal=True):
        """x: [B, S, D]. past_kv: optional (k, v) of earlier positions (KV cache); returns (out, (k, v))."""
        q = apply_rope(self._split(self.wq(x)), cos, sin)
        k, v = self.project_kv(x, cos, sin)
        if past_kv is not None:
            k = torch.cat([past_kv[0], k], dim=2)
            v = torch.cat([past_kv[1], v], dim=2)
        out = self.attend(q, k, v, causal)
        b, _, s, _ = out.shape
        return self.wo(out.transpose(1, 2).reshape(b, s, -1)), (k, v)

    def attend(self, q, k, v, causal: bool = True) -> torch.Tensor:
        """softmax(q k^T * head_dim^-0.5 [+ causal mask]) v; the queries are the last s_q positions of
        the s_k keys. Explicitly, as the original computed it, when `self.explicit` or over a single
        key: there the output is exactly v and q, k get exactly zero gradients (the fused kernel leaves
        rounding noise of ~5e-7 there, which Adam turns into full-size updates of wq and wk)."""
        s_q, s_k = q.shape[2], k.shape[2]
        if self.explicit or s_k == 1:
            scores = torch.matmul(q, k.transpose(-2, -1)) * self.head_dim ** -0.5
            if causal and s_q > 1:
                future = torch.ones(s_q, s_k, dtype=torch.bool, device=q.device).triu(s_k - s_q + 1)
                scores = scores.masked_fill(future, float("-inf"))
            return torch.matmul(scores.softmax(-1), v)
        if causal and s_q > 1:
            mask = torch.ones(s_q, s_k, dtype=torch.bool, device=q.device).tril(s_k - s_q)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return F.scaled_dot_product_attention(q, k, v)

    def _paired_rows(self, weight: torch.Tensor) -> torch.Tensor:
        """Rows of a q/k projection reordered per head from [x_0..x_{h-1}, x_h..x_{2h-1}] (rotate-half
        halves) to interleaved pairs (x_i, x_{i+h}): scores q.k are unchanged when q and k are
        permuted alike, and RoPE becomes one complex multiplication per pair."""
        d = weight.shape[1]
        return weight.view(self.n_heads, 2, self.head_dim // 2, d).transpose(1, 2).reshape(-1, d)

    def forward_fast(self, x: torch.Tensor, rope_c: torch.Tensor) -> torch.Tensor:
        """Causal self-attention without a KV cache (training): RoPE as one complex product on
        pair-interleaved q/k, SDPA with is_causal. Same math as forward()."""
        b, s, d = x.shape
        h, hd = self.n_heads, self.head_dim
        q = torch.view_as_complex(F.linear(x, self._paired_rows(self.wq.weight)).view(b, s, h, hd // 2, 2))
        k = torch.view_as_complex(F.linear(x, self._paired_rows(self.wk.weight)).view(b, s, h, hd // 2, 2))
        q = torch.view_as_real(q * rope_c).view(b, s, h, hd).transpose(1, 2)
        k = torch.view_as_real(k * rope_c).view(b, s, h, hd).transpose(1, 2)
        v = self.wv(x).view(b, s, h, hd).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(out.transpose(1, 2).reshape(b, s, d))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Post-norm block: x = norm1(x + attn(x)); x = norm2(x + ffn(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = Attention(cfg.dim, cfg.n_heads)
        self.norm1 = RMSNorm(cfg.dim)
        self.ffn = SwiGLU(cfg.dim, cfg.ffn_mult * cfg.dim)
        self.norm2 = RMSNorm(cfg.dim)

    def forward(self, x, cos, sin, past_kv=None, causal=True):
        a, kv = self.attn(x, cos, sin, past_kv=past_kv, causal=causal)
        x = self.norm1(x + a)
        return self.norm2(x + self.ffn(x)), kv

    def forward_fast(self, x: torch.Tensor, rope_c: torch.Tensor) -> torch.Tensor:
        """The training path (causal, no KV cache): same math as forward(), fused kernels."""
        x = self.norm1.forward_fast(x + self.attn.forward_fast(x, rope_c))
        return self.norm2.forward_fast(x + self.ffn(x))


class LashTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int, explicit_attention: bool = False):
        super().__init__()
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.head = nn.Linear(cfg.dim, vocab_size, bias=False)
        self.rope = RotaryTables(cfg.dim // cfg.n_heads, cfg.max_seq_len, cfg.rope_base)
        self._init_weights()
        for block in self.blocks:
            block.attn.explicit = explicit_attention

    @classmethod
    def for_run(cls, cfg, vocab_size: int, n_layers: int | None = None) -> "LashTransformer":
        """The model of a run config (a lash.config.RunConfig): its model section (with n_layers
        blocks when given) and, with train.kernels=original, the original's explicit attention."""
        model_cfg = cfg.model if n_layers is None else dataclasses.replace(cfg.model, n_layers=n_layers)
        return cls(model_cfg, vocab_size, explicit_attention=cfg.train.kernels == "original")

    def _init_weights(self) -> None:
        # The original: every Linear ~ trunc_normal(std=1/sqrt(dim)), embedding ~ trunc_normal(0.02),
        # PyTorch's default truncation at +-2 (absolute), RMSNorm weights 1.
        std = 1.0 / math.sqrt(self.cfg.dim)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=std)
            elif isinstance(module, nn.Embedding):
                nn.init.trunc_normal_(module.weight, std=0.02)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def original_parameter_order(self) -> list[nn.Parameter]:
        """The parameters in the original code's registration order (per block: attention, FFN, then
        the two norms), the order its gradient clipping summed the per-parameter norms in."""
        params = list(self.embed.parameters())
        for b in self.blocks:
            params += [*b.attn.parameters(), *b.ffn.parameters(), *b.norm1.parameters(), *b.norm2.parameters()]
        return params + list(self.head.parameters())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def run_blocks(self, h, start: int, end: int, positions=None, causal: bool = True):
        """Apply blocks start+1 .. end (1-based layer numbers) to hidden state h; yields each output."""
        if positions is None:
            positions = torch.arange(h.shape[1], device=h.device)
        cos, sin = self.rope(positions)
        for layer in range(start + 1, end + 1):
            h, _ = self.blocks[layer - 1](h, cos, sin, causal=causal)
            yield layer, h

    def hidden_states(self, idx: torch.Tensor, upto: int | None = None) -> dict[int, torch.Tensor]:
        """{layer: output of that block} for layers 1..upto (default: all)."""
        upto = self.n_layers if upto is None else upto
        return dict(self.run_blocks(self.embed(idx), 0, upto))

    def exit_hidden(self, idx: torch.Tensor, exits: Iterable[int], fast: bool = True) -> dict[int, torch.Tensor]:
        """{exit: block output} for the requested exits only (blocks past the deepest are not run).
        fast=True uses the fused training kernels (causal, no KV cache; same math)."""
        exits = sorted(set(exits))
        if not fast:
            hidden = self.hidden_states(idx, upto=exits[-1])
            return {k: hidden[k] for k in exits}
        h = self.embed(idx)
        rope_c = self.rope.complex_table(idx.shape[1])
        out = {}
        for layer in range(1, exits[-1] + 1):
            h = self.blocks[layer - 1].forward_fast(h, rope_c)
            if layer in exits:
                out[layer] = h
        return out

    def forward_exits(self, idx: torch.Tensor, exits: Iterable[int]) -> dict[int, torch.Tensor]:
        """Logits at the requested exits only; blocks past the deepest exit are not run."""
        exits = sorted(set(exits))
        hidden = self.hidden_states(idx, upto=exits[-1])
        return {k: self.head(hidden[k]) for k in exits}

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits of the last layer."""
        return self.forward_exits(idx, [self.n_layers])[self.n_layers]


def expected_num_parameters(dim: int, n_layers: int, vocab_size: int, ffn_mult: int = 4) -> int:
    """Closed form: per block 4*d^2 (attention) + 3*d*(ffn_mult*d) (SwiGLU) + 2*d (norms); plus 2*V*d."""
    per_block = 4 * dim * dim + 3 * dim * ffn_mult * dim + 2 * dim
    return per_block * n_layers + 2 * vocab_size * dim
