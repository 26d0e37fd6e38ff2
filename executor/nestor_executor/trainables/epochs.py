"""The epoch loop of the built-in digits trainables: seeded, checkpointed every epoch, resumable.

Shuffling and dropout are seeded per epoch from the trial's seed, so a run
resumed from its checkpoint follows the same curve as one that never stopped.
The checkpoint keeps the reported history, which a resumed run reports again.
Checkpoints go through the trial context's helpers (`ctx.save_checkpoint`),
which write atomically and never let a stale attempt overwrite a newer one's.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def save(ctx: Any, model: nn.Module, opt: torch.optim.Optimizer, epoch: int,
         history: list[tuple[int, dict[str, float]]]) -> bool:
    """Checkpoints through `ctx.save_checkpoint` (atomic, fenced by attempt); False when this run is stale."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
             "history": [[e, m] for e, m in history]}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return bool(ctx.save_checkpoint(buffer.getvalue(), epoch))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return accuracy, loss


def resume(model: nn.Module, opt: torch.optim.Optimizer, ctx: Any, name: str,
           hyper: Mapping[str, float] | None = None) -> tuple[int, list[tuple[int, dict[str, float]]]]:
    """(epochs done, reported history) from the trial's checkpoint, if any; loads model and optimizer.

    `hyper` (learning rate, weight decay, ...) then replace the optimizer settings the checkpoint had: a
    population member (pbt, pb2) continues from its own or a donor's weights with its new parameters."""
    data = ctx.load_checkpoint()
    if data is None:
        return 0, []
    # Tensors and plain containers only: a checkpoint folder is shared, and unpickling runs code.
    state = torch.load(io.BytesIO(data), map_location=ctx.device, weights_only=True)
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        for group in opt.param_groups:
            group.update({k: v for k, v in (hyper or {}).items() if k in group})
    except (RuntimeError, ValueError, KeyError) as e:
        raise ValueError(f"{name}: the checkpoint in {ctx.checkpoint_dir} does not fit these parameters: {e}") \
            from None
    history = [(int(e), dict(m)) for e, m in state.get("history", [])]
    # Reports sent just before the previous attempt ended may never have been stored: the controller
    # keeps the first copy of each epoch and ignores the rest.
    for e, m in history:
        ctx.report(e, m)
    return int(state["epoch"]), history


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
                batch_size: int, seed: int, epoch: int) -> float:
    """One epoch over (x, y) in an order (and with dropout masks) seeded by (seed, epoch); its mean loss."""
    model.train()
    n = len(x)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch)).to(x.device)
    torch.manual_seed(seed * 7919 + epoch)  # dropout masks
    total = torch.zeros((), device=x.device)
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    return total.item() / n


def train_epochs(model: nn.Module, opt: torch.optim.Optimizer, data: Split, ctx: Any, *, epochs: int,
                 batch_size: int, name: str, extra: Mapping[str, float] | None = None,
                 hyper: Mapping[str, float] | None = None,
                 lr_at: Callable[[int], float] | None = None) -> dict[str, float]:
    """Trains `model` up to `epochs` (from its checkpoint, if one exists); returns the final metrics.

    `extra` metrics (a network's cost) go with every report and the result. `lr_at(epoch)`, when given, sets
    the learning rate of each epoch (a schedule; a function of the epoch, so a resumed run follows it too)."""
    extra = dict(extra or {})
    x_tr, y_tr, x_va, y_va = data
    start, history = resume(model, opt, ctx, name, hyper)
    metrics: dict[str, float] = history[-1][1] if history else {}

    for epoch in range(start + 1, epochs + 1):
        if ctx.should_stop:
            break
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch)
        train_loss = train_epoch(model, opt, x_tr, y_tr, batch_size=batch_size, seed=ctx.seed, epoch=epoch)
        accuracy, val_loss = evaluate(model, x_va, y_va)
        metrics = {"val_accuracy": accuracy, "val_loss": val_loss, "train_loss": train_loss, **extra}
        history.append((epoch, metrics))
        if not save(ctx, model, opt, epoch, history) or ctx.report(epoch, metrics):
            break
    if not metrics:  # a checkpoint from an older version without metrics, and nothing left to train
        accuracy, val_loss = evaluate(model, x_va, y_va)
        metrics = {"val_accuracy": accuracy, "val_loss": val_loss}
    return {"val_accuracy": metrics["val_accuracy"], "val_loss": metrics["val_loss"], **extra}


LR_SCHEDULES = ("constant", "cosine")


def lr_schedule(name: str, lr: float, epochs: int) -> Callable[[int], float] | None:
    """The learning rate of epoch e (from 1) under schedule `name`: None for constant (the optimizer's own);
    cosine anneals from `lr` at the first epoch towards 0 after the last (per epoch)."""
    if name not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule {name!r} is not one of {', '.join(LR_SCHEDULES)}")
    if name == "constant":
        return None
    return lambda epoch: lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(epochs, 1)))
