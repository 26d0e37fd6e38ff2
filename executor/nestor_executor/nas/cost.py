"""What a network costs, reported next to its accuracy so that a search can trade them (several objectives,
or a constraint such as n_params <= 5e6)."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

#: Forward passes timed (after WARMUP untimed ones); the median is reported.
TIMED = 7
WARMUP = 2


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def latency_ms(model: nn.Module, batch: torch.Tensor) -> float:
    """Median wall time of one forward pass over `batch`, in milliseconds (inference mode)."""
    was_training = model.training
    model.eval()
    cuda = batch.device.type == "cuda"
    times = []
    for i in range(WARMUP + TIMED):
        if cuda:
            torch.cuda.synchronize(batch.device)
        t0 = time.perf_counter()
        model(batch)
        if cuda:
            torch.cuda.synchronize(batch.device)
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    model.train(was_training)
    return 1000.0 * statistics.median(times)


def cost_metrics(model: nn.Module, batch: torch.Tensor) -> dict[str, float]:
    return {"n_params": float(parameter_count(model)), "latency_ms": latency_ms(model, batch)}
