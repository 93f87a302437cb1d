"""Where a run executes: device, optional bf16 autocast, and torchrun data parallelism.

Under ``torchrun`` (WORLD_SIZE > 1) the process group is initialised with gloo on the CPU
and nccl on CUDA; every rank draws its own noise stream (seeds offset by the rank) and
only rank 0 writes files. Without torchrun everything reduces to a single process.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dmdviz.errors import DmdvizError


def pick_device(name: str | None = None) -> torch.device:
    """CUDA when present (or asked for), else CPU; refuses an unavailable device."""
    if not name or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DmdvizError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DmdvizError("CUDA was asked for but no GPU is visible")
    return dev


@dataclass
class Runtime:
    device: torch.device
    bf16: bool = False
    rank: int = 0
    world_size: int = 1

    @classmethod
    def create(cls, device: str | None = None, bf16: bool = False, threads: int | None = None) -> "Runtime":
        threads = threads or int(os.environ.get("DMDVIZ_THREADS", "0") or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            dev = pick_device(device)
            if dev.type == "cuda":
                dev = torch.device("cuda", local)
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
            return cls(dev, bf16, dist.get_rank(), dist.get_world_size())
        return cls(pick_device(device), bf16)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel under torchrun; the model itself otherwise."""
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def all_reduce_grads(self, params) -> None:
        """Average gradients of parameters that are not inside a DDP wrapper."""
        if self.world_size == 1:
            return
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad /= self.world_size

    def mean(self, value: torch.Tensor) -> float:
        value = value.detach().float().clone()
        if self.world_size > 1:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= self.world_size
        return float(value)

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()
