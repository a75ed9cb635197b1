"""Data-parallel training under `torchrun`: each process takes a slice of every global batch.

The global batch stays what the config says; DistributedDataParallel averages the gradients of the
slices, and each slice's loss is scaled by its share of the batch's tokens, so the averaged gradient
is the gradient of the global batch's mean loss (uneven last batches included). Validation and test
run in full on every process (they are small and this keeps them bit-identical across processes);
only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This process's rows of a global batch and the factor that makes the DDP average exact."""
        if not self.enabled:
            return x, y, 1.0
        xs, ys = torch.tensor_split(x, self.world_size)[self.rank], torch.tensor_split(y, self.world_size)[self.rank]
        return xs, ys, ys.numel() * self.world_size / y.numel()

    def sum(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device: str) -> DistContext:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA);
    a plain single-process context without torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class LossModule(torch.nn.Module):
    """The training loss as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model: torch.nn.Module, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, x: torch.Tensor, y: torch.Tensor, weights: dict[int, float]) -> torch.Tensor:
        if y.numel() == 0:  # a slice of an uneven last batch: zero gradients, but every parameter used
            return sum(p.sum() for p in self.model.parameters()) * 0.0
        return self.loss_fn(self.model, x, y, weights)


def wrap_for_training(model: torch.nn.Module, loss_fn, ctx: DistContext, uses_every_parameter: bool):
    """A callable (x, y, weights) -> loss; DDP-wrapped when running under torchrun."""
    module = LossModule(model, loss_fn)
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, find_unused_parameters=not uses_every_parameter)
