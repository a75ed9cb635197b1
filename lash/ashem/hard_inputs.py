"""The deep-path logits of hard tokens in the phase-2 context (training and Hard PPL)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..early_exit import deep_hidden, exit_hidden
from .common import ppl


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
        return ppl(self.ce())
