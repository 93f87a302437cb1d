"""What both training loops share: the learning-rate schedule, the EMA update, a stop
request agreed by all ranks, and the callbacks' types."""

from __future__ import annotations

import math
from typing import Callable

import torch

from dmdviz.training.runtime import Runtime

OnStep = Callable[[int, dict], None] | None
ShouldStop = Callable[[], bool] | None


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def ema_update(ema: list[torch.Tensor], params: list[torch.Tensor], step: int, decay: float = 0.999) -> None:
    """ema <- lerp(ema, params, 1 - d) over two parameter lists (listed once, outside the loop)."""
    d = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(ema, params, 1 - d)


def stop_agreed(should_stop: ShouldStop, rt: Runtime) -> bool:
    """A stop request, agreed by all ranks so that they leave the loop together."""
    return should_stop is not None and rt.any(should_stop())
