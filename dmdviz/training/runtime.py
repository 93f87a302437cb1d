"""Where a run executes: device, optional bf16 autocast, and torchrun data parallelism;
and where its scalars go besides metrics.jsonl (``ScalarLog``: TensorBoard).

Under ``torchrun`` (WORLD_SIZE > 1) the process group is initialised with gloo on the CPU
and nccl on CUDA; every rank draws its own noise stream (seeds offset by the rank) and
only rank 0 writes files. Without torchrun everything reduces to a single process.

Every collective here (``mean_logs``, ``all_reduce_grads``, ``gather``, ``barrier``) must
be reached by all ranks in the same order: calling one under ``if rt.is_main`` deadlocks.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dmdviz import settings
from dmdviz.errors import DmdvizError

RANK_STRIDE = 100_003  # seed offset between ranks: a prime, so rank streams never meet


def pick_device(name: str | None = None) -> torch.device:
    """CUDA when present, else Apple's MPS when present, else CPU (or the device asked for);
    refuses an unavailable device."""
    if not name or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DmdvizError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DmdvizError("CUDA was asked for but no GPU is visible")
    if dev.type == "mps" and not _mps():
        raise DmdvizError("MPS was asked for but this machine has no usable Apple GPU")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DmdvizError(f"unsupported device {name!r}; use cpu, cuda, cuda:N or mps")
    return dev


def _mps() -> bool:
    return torch.backends.mps.is_available()


@dataclass
class Runtime:
    """Device, precision and the rank of this process among ``world_size`` (1 without torchrun).

    Use it as a context manager (or call ``close``) so the process group is destroyed.
    """

    device: torch.device
    bf16: bool = False
    rank: int = 0
    world_size: int = 1

    @classmethod
    def create(cls, device: str | None = None, bf16: bool = False, threads: int | None = None) -> "Runtime":
        threads = threads or int(os.environ.get("DMDVIZ_THREADS", "0") or 0)
        if threads <= 0:  # the cores idle now, not all of them (a busy neighbour stalls every thread)
            threads = settings.process_threads()
        if threads > 0:
            torch.set_num_threads(threads)
        dev = pick_device(device)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if world > 1:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", device_id=dev if dev.type == "cuda" else None)
            return cls(dev, bf16, dist.get_rank(), dist.get_world_size())
        return cls(dev, bf16)

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(sync=exc_type is None)

    def close(self, sync: bool = True) -> None:
        """Destroy the process group (a no-op for a single process).

        ``sync``: first meet the other ranks at a barrier, so that no rank tears its
        connections down while a peer is still finishing (under load, a rank 0 that was still
        writing its checkpoint was seen to abort in gloo's teardown). Skipped after an error,
        where a peer may never arrive.
        """
        if self.world_size > 1 and dist.is_initialized():
            try:
                if sync:
                    dist.barrier()
            finally:
                dist.destroy_process_group()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def seed(self, base: int) -> int:
        """This rank's seed for a random stream that must differ between ranks."""
        return base + RANK_STRIDE * self.rank

    def autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move a model to the device; a conv net on CUDA also goes channels_last (faster cuDNN)."""
        model = model.to(self.device)
        if self.device.type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            model = model.to(memory_format=torch.channels_last)
        return model

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel under torchrun; the model itself otherwise.

        Buffers are synced once at wrap time only: the one buffer here (a fixed noise
        rotation) never changes, so a per-forward broadcast would be a wasted collective.
        """
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False, gradient_as_bucket_view=True)

    def all_reduce_grads(self, params) -> None:
        """Average the gradients of parameters outside a DDP wrapper, in one flat collective."""
        if self.world_size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean_logs(self, logs: dict) -> dict:
        """Tensor entries of ``logs`` averaged over ranks, as floats (one collective, one sync)."""
        keys = [k for k, v in logs.items() if isinstance(v, torch.Tensor)]
        if not keys:
            return dict(logs)
        values = torch.stack([logs[k].detach().float().reshape(()) for k in keys])
        if self.world_size > 1:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
            values /= self.world_size
        return {**logs, **dict(zip(keys, values.tolist()))}

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any (e.g. a stop request seen by one rank)."""
        if self.world_size == 1:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of a CPU tensor of the same shape, in rank order (on every rank)."""
        if self.world_size == 1:
            return [tensor]
        t = tensor.to(self.device)
        out = [torch.empty_like(t) for _ in range(self.world_size)]
        dist.all_gather(out, t)
        return [o.cpu() for o in out]

    def assert_in_sync(self, modules: dict) -> None:
        """Refuse to go on when ranks hold different weights (a data-parallel bug, never noise).

        Compares per-tensor float64 sums and absolute sums of every parameter and buffer;
        gradient averaging keeps ranks bit-identical, so any difference is a desync.
        """
        if self.world_size == 1:
            return
        for name, m in modules.items():
            tensors = [t.detach().double() for t in (*m.parameters(), *m.buffers())]
            mine = torch.stack([v for t in tensors for v in (t.sum(), t.abs().sum())]).cpu()
            ranks = self.gather(mine)
            bad = [r for r, other in enumerate(ranks) if not torch.equal(other, ranks[0])]
            if bad:
                raise DmdvizError(f"data-parallel ranks {bad} hold a different {name!r} than rank 0")

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


class ScalarLog:
    """A run's scalars for TensorBoard (``--tensorboard DIR``): each number of a step's record
    as ``ROLE/NAME`` at that step, through ``torch.utils.tensorboard`` (which needs the
    ``tensorboard`` package). Only rank 0 opens one. A context manager: the event file is
    complete on disk when the block ends, however it ends."""

    NOT_SCALARS = frozenset({"step", "wall", "world_size"})  # the x axes and run facts, not curves

    def __init__(self, folder):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DmdvizError("--tensorboard needs the tensorboard package (pip install tensorboard==2.21.0)") from None
        self.writer = SummaryWriter(log_dir=str(folder))

    def write(self, role: str, step: int, rec: dict) -> None:
        for name, value in rec.items():
            if name not in self.NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{role}/{name}", value, step)

    def __enter__(self) -> "ScalarLog":
        return self

    def __exit__(self, *exc) -> None:
        self.writer.close()
