"""`digits_hypergrad`: digits_mlp's MLP with regularisation hyperparameters that a bilevel study tunes.

Hyperparameters (parameters, or in a `hypergrad` study outer variables the controller updates while the
trial trains): `wd_input`, `wd_hidden`, `wd_output` (an L2 penalty 0.5 * wd * |W|^2 per layer group) and
`dropout` (Gaussian dropout on the hidden units, noise std sqrt(p / (1 - p)), which unlike Bernoulli
dropout is differentiable in p). digits_mlp's training images are split 75/25 into train and
validation; its held-out 20% is the test set that neither training nor tuning sees.

Every `hyper_every` steps, when the controller holds the hyperparameters, the trainable computes the
hypergradient by the implicit function theorem: with v = dL_val/dw, dL_val/dlambda = -v H^-1 d2L_train/dw
dlambda, the inverse Hessian-vector product approximated by a truncated Neumann series
v H^-1 ~ eta * sum_{j<=K} v (I - eta H)^j (`neumann_terms` K, `neumann_lr` eta), and streams it.
Reports `val_accuracy`, `val_loss`, `test_accuracy`, `test_loss`, `train_loss` and the hyperparameters
in use (`hp_<name>`) per epoch; checkpoints every epoch and resumes from its checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nestor_executor.trainables.digits_mlp import load_data
from nestor_executor.trainables.epochs import resume, save

HYPER = ("wd_input", "wd_hidden", "wd_output", "dropout")
DEFAULTS = {"wd_input": 1e-4, "wd_hidden": 1e-4, "wd_output": 1e-4, "dropout": 0.1}
MAX_DROPOUT = 0.95


class NoisyMLP(nn.Module):
    """64 -> hidden -> hidden -> 10; the noise is passed in, so one draw serves every derivative of a step."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(64, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 10)])

    def forward(self, x: torch.Tensor, dropout: torch.Tensor | None = None,
                noise: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        for k, layer in enumerate(self.layers[:-1]):
            x = F.relu(layer(x))
            if dropout is not None and noise:
                p = dropout.clamp(0.0, MAX_DROPOUT)
                x = x * (1 + torch.sqrt(p / (1 - p)) * noise[k])
        return self.layers[-1](x)  # type: ignore[no-any-return]

    def groups(self) -> dict[str, torch.Tensor]:
        return {"wd_input": self.layers[0].weight, "wd_hidden": self.layers[1].weight,
                "wd_output": self.layers[2].weight}


def train_loss(model: NoisyMLP, x: torch.Tensor, y: torch.Tensor, hp: Mapping[str, torch.Tensor],
               noise: Sequence[torch.Tensor]) -> torch.Tensor:
    loss = F.cross_entropy(model(x, hp["dropout"], noise), y)
    for name, w in model.groups().items():
        loss = loss + 0.5 * hp[name] * (w * w).sum()
    return loss


def hypergradient(model: NoisyMLP, hp: Mapping[str, torch.Tensor], train: tuple[torch.Tensor, torch.Tensor],
                  val: tuple[torch.Tensor, torch.Tensor], noise: Sequence[torch.Tensor], terms: int,
                  eta: float) -> tuple[dict[str, torch.Tensor], float]:
    """d L_val / d hp through the implicit function theorem with a truncated Neumann series."""
    params = list(model.parameters())
    hp_leaves = {k: v.detach().clone().requires_grad_(True) for k, v in hp.items()}
    val_loss = F.cross_entropy(model(val[0]), val[1])
    v = torch.autograd.grad(val_loss, params)
    g = torch.autograd.grad(train_loss(model, *train, hp_leaves, noise), params, create_graph=True)
    # p ~ v H^-1 = eta * sum_j v (I - eta H)^j, each H-vector product a derivative of g . vector.
    term, acc = list(v), list(v)
    for _ in range(terms):
        hv = torch.autograd.grad(g, params, grad_outputs=term, retain_graph=True)
        term = [t - eta * h for t, h in zip(term, hv, strict=True)]
        acc = [a + t for a, t in zip(acc, term, strict=True)]
    p = [eta * a for a in acc]
    names = list(hp_leaves)
    mixed = torch.autograd.grad(g, [hp_leaves[n] for n in names], grad_outputs=p, allow_unused=True)
    # L_val has no direct dependence on these hyperparameters: the whole hypergradient is the indirect term.
    return {n: (-m if m is not None else torch.zeros(())) for n, m in zip(names, mixed, strict=True)}, \
        float(val_loss.detach())


def splits(data_seed: int, device: str) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_val, y_val, x_test, y_test)."""
    x_tr, y_tr, x_te, y_te = load_data(data_seed, device)
    order = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(data_seed + 1)).to(device)
    cut = int(0.75 * len(x_tr))
    a, b = order[:cut], order[cut:]
    return x_tr[a], y_tr[a], x_tr[b], y_tr[b], x_te, y_te


@torch.no_grad()
def scores(model: NoisyMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


def current(params: Mapping[str, Any], ctx: Any, device: str) -> dict[str, torch.Tensor]:
    out = {}
    for name in HYPER:
        if name in ctx.outer:
            value = float(np.asarray(ctx.outer[name]).reshape(()))
        else:
            value = float(params.get(name, ctx.config.get(name, DEFAULTS[name])))
        out[name] = torch.tensor(value, device=device)
    return out


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    cfg = ctx.config
    device = ctx.device
    epochs = math.ceil(ctx.budget) if ctx.budget > 0 else int(cfg.get("epochs", 20))
    bs, every = int(cfg.get("batch_size", 64)), int(cfg.get("hyper_every", 10))
    terms, eta = int(cfg.get("neumann_terms", 5)), float(cfg.get("neumann_lr", 0.01))
    pipelined, timeout = bool(cfg.get("pipelined", True)), float(cfg.get("wait_timeout_s", 60.0))
    x_tr, y_tr, x_va, y_va, x_te, y_te = splits(int(cfg.get("data_seed", 0)), device)
    torch.manual_seed(ctx.seed)
    model = NoisyMLP(int(cfg.get("hidden", 128))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg.get("lr", 1e-3)))
    start, history = resume(model, opt, ctx, "digits_hypergrad")
    metrics: dict[str, float] = history[-1][1] if history else {}
    tuned = bool(ctx.outer)
    n = len(x_tr)
    per_epoch = math.ceil(n / bs)
    pending: int | None = None
    for epoch in range(start + 1, epochs + 1):
        if ctx.should_stop:
            break
        gen = torch.Generator().manual_seed(ctx.seed * 7919 + epoch)
        order = torch.randperm(n, generator=gen).to(device)
        total = 0.0
        for i in range(per_epoch):
            idx = order[i * bs:(i + 1) * bs]
            hp = current(params, ctx, device)
            noise = [torch.randn(len(idx), layer.out_features, generator=gen).to(device)
                     for layer in model.layers[:-1]]
            loss = train_loss(model, x_tr[idx], y_tr[idx], hp, noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            step = (epoch - 1) * per_epoch + i + 1
            if tuned and step % every == 0:
                if pending is not None:
                    ctx.wait_outer(pending, timeout)
                grads, v_loss = hypergradient(model, hp, (x_tr[idx], y_tr[idx]), (x_va, y_va), noise, terms, eta)
                pending = ctx.outer_step + 1
                ctx.send_outer_grad({k: grads[k] for k in HYPER if k in ctx.outer},
                                    {"val_loss": v_loss, "progress": step / (epochs * per_epoch)})
                if not pipelined:
                    ctx.wait_outer(pending, timeout)
                    pending = None
        va, vl = scores(model, x_va, y_va)
        ta, tl = scores(model, x_te, y_te)
        hp_now = current(params, ctx, device)
        metrics = {"val_accuracy": va, "val_loss": vl, "test_accuracy": ta, "test_loss": tl,
                   "train_loss": total / n, **{f"hp_{k}": float(v) for k, v in hp_now.items()}}
        history.append((epoch, metrics))
        if not save(ctx, model, opt, epoch, history) or ctx.report(epoch, metrics):
            break
    if not metrics:
        va, vl = scores(model, x_va, y_va)
        metrics = {"val_accuracy": va, "val_loss": vl}
    return metrics
