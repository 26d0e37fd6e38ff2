"""`digits_mlp`: a PyTorch MLP on scikit-learn's digits (8x8 images, 10 classes; no download).

The whole data set lives in tensors on the trial's device and batches are index
slices: on CPU an epoch takes milliseconds. The seeded, checkpointed epoch loop
is shared with digits_nas (trainables/epochs.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nestor_executor.trainables.epochs import Split, train_epochs

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
OPTIMIZERS = ("adam", "adamw", "sgd")

_DATA: dict[tuple[int, str], Split] = {}


def load_data(data_seed: int = 0, device: str = "cpu") -> Split:
    """(x_train, y_train, x_val, y_val): features in [0, 1], a stratified 80/20 split; cached per process."""
    key = (data_seed, device)
    if key not in _DATA:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x_tr, x_va, y_tr, y_va = train_test_split(x / 16.0, y, test_size=0.2, stratify=y,
                                                  random_state=data_seed)
        _DATA[key] = (
            torch.tensor(x_tr, dtype=torch.float32, device=device),
            torch.tensor(y_tr, dtype=torch.long, device=device),
            torch.tensor(x_va, dtype=torch.float32, device=device),
            torch.tensor(y_va, dtype=torch.long, device=device),
        )
    return _DATA[key]


def warmup(device: str) -> None:
    """Called by an idle worker: the first trial should not pay for importing scikit-learn."""
    x_tr, y_tr, _, _ = load_data(0, device)
    model = build_model(settings({}))
    F.cross_entropy(model.to(device)(x_tr[:32]), y_tr[:32]).backward()


def settings(params: Mapping[str, Any]) -> dict[str, Any]:
    s = {
        "lr": float(params.get("lr", 1e-3)),
        "weight_decay": float(params.get("weight_decay", 0.0)),
        "hidden": int(params.get("hidden", 64)),
        "depth": int(params.get("depth", 2)),
        "dropout": float(params.get("dropout", 0.0)),
        "batch_size": int(params.get("batch_size", 32)),
        "optimizer": str(params.get("optimizer", "adam")),
        "momentum": float(params.get("momentum", 0.9)),
        "activation": str(params.get("activation", "relu")),
    }
    if s["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"digits_mlp: optimizer {s['optimizer']!r} is not one of {', '.join(OPTIMIZERS)}")
    if s["activation"] not in ACTIVATIONS:
        raise ValueError(f"digits_mlp: activation {s['activation']!r} is not one of {', '.join(ACTIVATIONS)}")
    for name in ("hidden", "batch_size"):
        if s[name] < 1:
            raise ValueError(f"digits_mlp: {name} must be at least 1, got {s[name]}")
    if s["depth"] < 0 or not 0.0 <= s["dropout"] < 1.0 or s["lr"] <= 0:
        raise ValueError(f"digits_mlp: need depth >= 0, 0 <= dropout < 1 and lr > 0; got depth={s['depth']}, "
                         f"dropout={s['dropout']}, lr={s['lr']}")
    return s


def build_model(s: Mapping[str, Any], n_in: int = 64, n_out: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(s["depth"]):
        layers += [nn.Linear(width, s["hidden"]), ACTIVATIONS[s["activation"]]()]
        if s["dropout"] > 0:
            layers.append(nn.Dropout(s["dropout"]))
        width = s["hidden"]
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def build_optimizer(s: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    if s["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=s["lr"], momentum=s["momentum"],
                               weight_decay=s["weight_decay"])
    cls = torch.optim.Adam if s["optimizer"] == "adam" else torch.optim.AdamW
    return cls(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])


def epochs_of(params: Mapping[str, Any], ctx: Any) -> int:
    if ctx.budget > 0:
        return math.ceil(ctx.budget)
    return int(params.get("epochs", ctx.config.get("epochs", 20)))


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    s = settings(params)
    epochs = epochs_of(params, ctx)
    device = ctx.device
    x_tr, y_tr, x_va, y_va = load_data(int(ctx.config.get("data_seed", 0)), device)
    torch.manual_seed(ctx.seed)
    model = build_model(s).to(device)
    opt = build_optimizer(s, model)
    # Learning rate, weight decay and momentum may change between a population member's intervals (pbt).
    hyper = {"lr": s["lr"], "weight_decay": s["weight_decay"], "momentum": s["momentum"]}
    return train_epochs(model, opt, (x_tr, y_tr, x_va, y_va), ctx, epochs=epochs, batch_size=s["batch_size"],
                        name="digits_mlp", hyper=hyper)
