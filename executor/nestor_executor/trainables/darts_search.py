"""`darts_search`: the DARTS search on the digits images, with alpha held by the controller.

Each step takes a validation batch and computes d L_val / d alpha (first order, or second order through
one virtual weight step: `order` 1 or 2), streams it, and trains the weights on a training batch with
the alpha the controller sends back. By default it waits for that alpha; with `pipelined: true` it
trains with alpha one step stale while the update is in flight (never more than one in flight). The
search splits digits_mlp's training images in two halves (weights / alpha) and reports the weight-sharing
network's accuracy on the held-out images every epoch; it checkpoints the weights every epoch and
resumes from the checkpoint with the controller's alpha.

A trial with a `genotype` parameter is a DARTS study's evaluation trial: it trains that network
(`darts_eval`), so one trainable serves the whole study.

`trainable_config`: `channels` (8), `layers` (3), `epochs` (10, or the fidelity), `batch_size` (64),
`order` (1), `pipelined` (false), `lr` (0.05, cosine-annealed to `lr_min` 0.001), `momentum` (0.9),
`weight_decay` (3e-4), `grad_clip` (5), `warmup_epochs` (0: epochs that train the weights alone before
alpha moves), `wait_timeout_s` (60), `data_seed` (0), `perturbation_images` (0: all of alpha's half; the
images the perturbation scores are measured on), plus darts_eval's.
Per epoch it reports `search_val_accuracy`, `search_val_loss`, `train_loss`, `alpha_val_loss`,
`steps_per_s`, `alpha_wait_share` (time blocked waiting for alpha over step time) and `outer_step`.

A search trial whose `selection` parameter is "perturbation" (the DARTS strategy's `selection` setting)
ends, once its last epoch is done, by scoring every operation and edge of the weight-sharing network
(nestor_executor.darts.perturbation) on alpha's half of the images, and sends the scores to the
controller, which derives the genotype from them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from nestor import genotype as gt
from nestor.genotype import CELLS, SELECTIONS

from nestor_executor.darts import architect, perturbation
from nestor_executor.darts.search import SearchNetwork
from nestor_executor.trainables import darts_eval
from nestor_executor.trainables.digits_nas import images
from nestor_executor.trainables.epochs import resume, save

ALPHAS = ("alpha_normal", "alpha_reduce")


@dataclass(frozen=True)
class Settings:
    channels: int
    layers: int
    epochs: int
    batch_size: int
    order: int
    pipelined: bool
    lr: float
    lr_min: float
    momentum: float
    weight_decay: float
    grad_clip: float
    wait_timeout_s: float
    data_seed: int
    warmup_epochs: int
    perturbation_images: int

    @classmethod
    def of(cls, config: Mapping[str, Any], budget: float) -> Settings:
        def get(name: str, default: Any) -> Any:
            return config.get(name, default)

        s = cls(int(get("channels", 8)), int(get("layers", 3)),
                math.ceil(budget) if budget > 0 else int(get("epochs", 10)), int(get("batch_size", 64)),
                int(get("order", 1)), bool(get("pipelined", False)), float(get("lr", 0.05)),
                float(get("lr_min", 0.001)), float(get("momentum", 0.9)), float(get("weight_decay", 3e-4)),
                float(get("grad_clip", 5.0)), float(get("wait_timeout_s", 60.0)), int(get("data_seed", 0)),
                int(get("warmup_epochs", 0)), int(get("perturbation_images", 0)))
        if s.order not in (1, 2):
            raise ValueError(f"darts_search: order must be 1 or 2, got {s.order}")
        if s.channels < 1 or s.layers < 1 or s.batch_size < 1 or s.epochs < 1:
            raise ValueError("darts_search: channels, layers, batch_size and epochs must be at least 1")
        if s.perturbation_images < 0:
            raise ValueError(f"darts_search: perturbation_images must be >= 0, got {s.perturbation_images}")
        if not 0 <= s.warmup_epochs < s.epochs:
            raise ValueError(f"darts_search: warmup_epochs must be in 0..epochs-1, got {s.warmup_epochs}")
        return s


def steps_of(alpha: np.ndarray) -> int:
    for steps in range(1, 16):
        if gt.edge_count(steps) == alpha.shape[0]:
            return steps
    raise ValueError(f"darts_search: alpha has {alpha.shape[0]} rows, which is no cell's edge count")


def alphas_from(ctx: Any, device: str, grad: bool) -> list[torch.Tensor]:
    missing = [n for n in ALPHAS if n not in ctx.outer]
    if missing:
        raise ValueError(f"darts_search: the controller sent no {missing[0]!r}; run it in a study with "
                         "algorithm 'darts'")
    return [torch.tensor(np.asarray(ctx.outer[n]), dtype=torch.float32, device=device).requires_grad_(grad)
            for n in ALPHAS]


def lr_at(s: Settings, epoch: int) -> float:
    """Cosine annealing over the search, per epoch (epoch counted from 1)."""
    return s.lr_min + 0.5 * (s.lr - s.lr_min) * (1 + math.cos(math.pi * (epoch - 1) / s.epochs))


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    if "genotype" in params:
        return darts_eval.train(params, ctx)
    s = Settings.of(ctx.config, ctx.budget)
    selected_by = selection(params)  # a bad value fails now, not after the search
    device = ctx.device
    x_tr, y_tr, x_va, y_va = images(s.data_seed, device)
    # Weights learn on one half of the training images, alpha on the other; the held-out split stays
    # untouched for the evaluation trials.
    halves = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(s.data_seed)).to(device)
    a_idx, b_idx = halves[: len(x_tr) // 2], halves[len(x_tr) // 2:]
    torch.manual_seed(ctx.seed)
    steps = steps_of(np.asarray(alphas_from(ctx, "cpu", False)[0]))
    model = SearchNetwork(s.channels, s.layers, steps).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    start, history = resume(model, opt, ctx, "darts_search")
    metrics: dict[str, float] = history[-1][1] if history else {}

    per_epoch = math.ceil(len(a_idx) / s.batch_size)
    total = per_epoch * (s.epochs - s.warmup_epochs)  # alpha steps
    pending: int | None = None  # the outer step an update in flight will bring (pipelined)
    for epoch in range(start + 1, s.epochs + 1):
        if ctx.should_stop:
            break
        model.train()
        for group in opt.param_groups:
            group["lr"] = lr_at(s, epoch)
        gen = torch.Generator().manual_seed(ctx.seed * 7919 + epoch)
        order_a = a_idx[torch.randperm(len(a_idx), generator=gen).to(device)]
        order_b = b_idx[torch.randperm(len(b_idx), generator=gen).to(device)]
        waited = stepped = 0.0
        train_loss = alpha_loss = 0.0
        for i in range(per_epoch):
            if ctx.should_stop:
                break
            t0 = time.perf_counter()
            if pending is not None:
                ctx.wait_outer(pending, s.wait_timeout_s)
                waited += time.perf_counter() - t0
            bt = order_a[i * s.batch_size:(i + 1) * s.batch_size]
            bv = order_b[i * s.batch_size:(i + 1) * s.batch_size]
            # Warm-up epochs train the weights alone: on untrained weights alpha would favour the operations
            # that need no training (pools, skips), the bias warm-up is known to remove.
            if epoch > s.warmup_epochs:
                alphas = alphas_from(ctx, device, True)
                if s.order == 1:
                    grads, v_loss = architect.first_order(model, alphas, (x_tr[bv], y_tr[bv]))
                else:
                    step = architect.VirtualStep(opt.param_groups[0]["lr"], s.momentum, s.weight_decay)
                    grads, v_loss = architect.second_order(model, alphas, (x_tr[bt], y_tr[bt]),
                                                           (x_tr[bv], y_tr[bv]), step,
                                                           architect.momentum_buffers(opt, model))
                base = ctx.outer_step
                done = (epoch - 1 - s.warmup_epochs) * per_epoch + i + 1
                ctx.send_outer_grad(dict(zip(ALPHAS, grads, strict=True)),
                                    {"val_loss": v_loss, "progress": done / total, "epoch": epoch})
                alpha_loss += v_loss
                pending = base + 1
                if not s.pipelined:
                    t1 = time.perf_counter()
                    ctx.wait_outer(pending, s.wait_timeout_s)
                    waited += time.perf_counter() - t1
                    pending = None
            # The weight step, with the newest alpha at hand (one step stale when pipelined).
            fixed = alphas_from(ctx, device, False)
            loss = F.cross_entropy(model(x_tr[bt], *fixed), y_tr[bt])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
            opt.step()
            train_loss += float(loss.detach())
            stepped += time.perf_counter() - t0
        n = max(1, i + 1)
        fixed = alphas_from(ctx, device, False)
        model.eval()
        with torch.no_grad():
            logits = model(x_va, *fixed)
        val_loss = float(F.cross_entropy(logits, y_va))
        accuracy = float((logits.argmax(1) == y_va).float().mean())
        model.train()
        metrics = {"search_val_accuracy": accuracy, "search_val_loss": val_loss, "train_loss": train_loss / n,
                   "alpha_val_loss": alpha_loss / n, "steps_per_s": n / max(stepped, 1e-9),
                   "alpha_wait_share": waited / max(stepped, 1e-9), "outer_step": float(ctx.outer_step),
                   "attempt_start_epoch": float(start)}
        history.append((epoch, metrics))
        if not save(ctx, model, opt, epoch, history) or ctx.report(epoch, metrics):
            break
    finished = bool(history) and history[-1][0] >= s.epochs and not ctx.should_stop
    if finished and selected_by == "perturbation":
        if pending is not None:
            ctx.wait_outer(pending, s.wait_timeout_s)
        alphas = dict(zip(CELLS, alphas_from(ctx, device, False), strict=True))
        t0 = time.perf_counter()
        scored = b_idx[: s.perturbation_images] if s.perturbation_images else b_idx
        scores = perturbation.scores(model, alphas, x_tr[scored], y_tr[scored], lambda: bool(ctx.should_stop))
        if scores is not None:
            ctx.send_outer_grad(scores, {"perturbation_seconds": time.perf_counter() - t0})
    return metrics or {"outer_step": float(ctx.outer_step)}


def selection(params: Mapping[str, Any]) -> str:
    """How the controller will pick the genotype ("alpha" or "perturbation": then the search ends by
    scoring its operations, see nestor_executor.darts.perturbation); its DARTS strategy sets it."""
    value = str(params.get("selection", "alpha"))
    if value not in SELECTIONS:
        raise ValueError(f"darts_search: parameter selection must be one of {', '.join(SELECTIONS)}, got {value!r}")
    return value


def warmup(device: str) -> None:
    """Called by an idle worker: loads the data once."""
    images(0, device)
