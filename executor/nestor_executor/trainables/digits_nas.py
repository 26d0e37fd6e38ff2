"""`digits_nas`: the network a trial's architecture decisions describe, trained on the digits images (8x8, 1 channel).

The architecture comes from the trial's `arch.` parameters (any chain, edge-op cell,
multi-branch or cell-based space; see nestor.architecture); the training
hyperparameters `lr`, `weight_decay`, `batch_size`, `optimizer` and `momentum`
come from the parameters when the study searches them, else from the study's
`trainable_config`, else the defaults below. Epochs come from the fidelity
(so multi-fidelity schedulers apply), else `epochs` in the config. Checkpoints
every epoch and resumes from its checkpoint, like digits_mlp. `lr_schedule` in
the config: "constant" (the default) or "cosine" (annealed per epoch over the
epochs).

Every report also carries the network's cost, `n_params` (its parameter
count) and `latency_ms` (median time of a forward pass over 64 validation
images on the trial's device), so a search can trade accuracy against size or
speed (several objectives) or cap them (constraints).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from nestor_executor.nas import network_for
from nestor_executor.nas.cost import cost_metrics
from nestor_executor.trainables.digits_mlp import OPTIMIZERS, build_optimizer, epochs_of, load_data
from nestor_executor.trainables.epochs import Split, lr_schedule, train_epochs

DEFAULTS: dict[str, Any] = {"lr": 0.01, "weight_decay": 0.0, "batch_size": 64, "optimizer": "adam",
                            "momentum": 0.9, "epochs": 2}
SIDE = 8  # the digits images are 8x8
CLASSES = 10
LATENCY_BATCH = 64


def settings(params: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    def get(name: str) -> Any:
        return params.get(name, config.get(name, DEFAULTS[name]))

    s = {"lr": float(get("lr")), "weight_decay": float(get("weight_decay")), "batch_size": int(get("batch_size")),
         "optimizer": str(get("optimizer")), "momentum": float(get("momentum"))}
    if s["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"digits_nas: optimizer {s['optimizer']!r} is not one of {', '.join(OPTIMIZERS)}")
    if s["lr"] <= 0 or s["batch_size"] < 1:
        raise ValueError(f"digits_nas: need lr > 0 and batch_size >= 1; got lr={s['lr']}, "
                         f"batch_size={s['batch_size']}")
    return s


def images(data_seed: int, device: str) -> Split:
    """The digits split of digits_mlp, as (N, 1, 8, 8) images."""
    x_tr, y_tr, x_va, y_va = load_data(data_seed, device)
    return x_tr.view(-1, 1, SIDE, SIDE), y_tr, x_va.view(-1, 1, SIDE, SIDE), y_va


def warmup(device: str) -> None:
    """Called by an idle worker: loads the data and runs one small network once."""
    x_tr, y_tr, _, _ = images(0, device)
    net = network_for({"arch.num_layers": 1, "arch.layer0.op": "conv_3x3", "arch.layer0.filters": 4},
                      1, CLASSES).to(device)
    F.cross_entropy(net(x_tr[:32]), y_tr[:32]).backward()


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    s = settings(params, ctx.config)
    epochs = epochs_of({"epochs": ctx.config.get("epochs", DEFAULTS["epochs"])}, ctx)
    data = images(int(ctx.config.get("data_seed", 0)), ctx.device)
    torch.manual_seed(ctx.seed)
    model = network_for(params, 1, CLASSES).to(ctx.device)
    opt = build_optimizer(s, model)
    cost = cost_metrics(model, data[2][:LATENCY_BATCH])
    schedule = lr_schedule(str(ctx.config.get("lr_schedule", "constant")), s["lr"], epochs)
    return train_epochs(model, opt, data, ctx, epochs=epochs, batch_size=s["batch_size"], name="digits_nas",
                        extra=cost, lr_at=schedule)
