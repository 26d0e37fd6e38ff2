"""The gradient of the validation loss with respect to alpha, as DARTS defines it.

First order: d L_val(w, alpha) / d alpha at the current weights.
Second order: the weights after one virtual step of their own optimizer,
w' = w - xi * (mu * m + d L_train/dw + lambda * w), and
d L_val(w', alpha)/d alpha = dL_val/dalpha (w') - xi * d^2 L_train / dalpha dw . dL_val/dw' (w'),
the mixed second derivative times a vector taken by central finite differences:
[dL_train/dalpha (w + eps v) - dL_train/dalpha (w - eps v)] / (2 eps), with v = dL_val/dw' and
eps = 0.01 / |v|. The weights are left as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class VirtualStep:
    """The weight optimizer the virtual step imitates (SGD with momentum and L2)."""

    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0


def _loss(model: nn.Module, batch: Batch, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x, *alphas), y)


def first_order(model: nn.Module, alphas: Sequence[torch.Tensor], val: Batch) -> tuple[list[torch.Tensor], float]:
    loss = _loss(model, val, alphas)
    return list(torch.autograd.grad(loss, list(alphas))), float(loss.detach())


def second_order(model: nn.Module, alphas: Sequence[torch.Tensor], train: Batch, val: Batch, step: VirtualStep,
                 momentum_buffers: Sequence[torch.Tensor | None] | None = None,
                 r: float = 0.01) -> tuple[list[torch.Tensor], float]:
    params = [p for p in model.parameters() if p.requires_grad]
    alphas = list(alphas)
    backup = [p.detach().clone() for p in params]
    g_train = torch.autograd.grad(_loss(model, train, alphas), params)
    buffers = list(momentum_buffers) if momentum_buffers is not None else [None] * len(params)
    with torch.no_grad():
        for p, w, g, m in zip(params, backup, g_train, buffers, strict=True):
            d = g + step.weight_decay * w
            if m is not None and step.momentum:
                d = d + step.momentum * m
            p.copy_(w - step.lr * d)
    loss = _loss(model, val, alphas)
    grads = torch.autograd.grad(loss, alphas + params)
    d_alpha, v = list(grads[:len(alphas)]), grads[len(alphas):]
    eps = r / max(float(torch.sqrt(sum((x * x).sum() for x in v))), 1e-12)  # type: ignore[arg-type]
    try:
        sides = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, w, x in zip(params, backup, v, strict=True):
                    p.copy_(w + sign * eps * x)
            sides.append(torch.autograd.grad(_loss(model, train, alphas), alphas))
    finally:
        with torch.no_grad():
            for p, w in zip(params, backup, strict=True):
                p.copy_(w)
    for k, (plus, minus) in enumerate(zip(*sides, strict=True)):
        d_alpha[k] = d_alpha[k] - step.lr * (plus - minus) / (2 * eps)
    return d_alpha, float(loss.detach())


def momentum_buffers(opt: torch.optim.Optimizer, model: nn.Module) -> list[torch.Tensor | None]:
    return [opt.state.get(p, {}).get("momentum_buffer") for p in model.parameters() if p.requires_grad]
