"""`digits_mlp`: a PyTorch MLP on scikit-learn's digits (8x8 images, 10 classes; no download).

The whole data set lives in tensors on the trial's device and batches are index
slices: on CPU an epoch takes milliseconds. Shuffling and dropout are seeded per
epoch from the trial's seed, so a run resumed from its checkpoint follows the
same curve as one that never stopped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
OPTIMIZERS = ("adam", "adamw", "sgd")
CHECKPOINT = "checkpoint.pt"

Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
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


def save(path: str, model: nn.Module, opt: torch.optim.Optimizer, epoch: int,
         history: list[tuple[int, dict[str, float]]]) -> None:
    # Write then rename: a worker killed mid-save leaves the previous checkpoint intact.
    tmp = f"{path}.tmp"
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
             "history": [[e, m] for e, m in history]}
    torch.save(state, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return accuracy, loss


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    s = settings(params)
    epochs = epochs_of(params, ctx)
    device = ctx.device
    x_tr, y_tr, x_va, y_va = load_data(int(ctx.config.get("data_seed", 0)), device)
    torch.manual_seed(ctx.seed)
    model = build_model(s).to(device)
    opt = build_optimizer(s, model)

    os.makedirs(ctx.checkpoint_dir, exist_ok=True)
    path = os.path.join(ctx.checkpoint_dir, CHECKPOINT)
    start = 0
    history: list[tuple[int, dict[str, float]]] = []
    if os.path.exists(path):
        state = torch.load(path, map_location=device, weights_only=True)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise ValueError(f"digits_mlp: checkpoint {path} does not fit these parameters: {e}") from None
        start = int(state["epoch"])
        history = [(int(e), dict(m)) for e, m in state.get("history", [])]
        # Reports sent just before the previous attempt ended may never have been stored: the controller
        # keeps the first copy of each epoch and ignores the rest.
        for e, m in history:
            ctx.report(e, m)
    metrics: dict[str, float] = history[-1][1] if history else {}

    n = len(x_tr)
    bs = s["batch_size"]
    for epoch in range(start + 1, epochs + 1):
        if ctx.should_stop:
            break
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(ctx.seed * 7919 + epoch)).to(device)
        torch.manual_seed(ctx.seed * 7919 + epoch)  # dropout masks
        total = torch.zeros((), device=device)
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        accuracy, val_loss = evaluate(model, x_va, y_va)
        metrics = {"val_accuracy": accuracy, "val_loss": val_loss, "train_loss": total.item() / n}
        history.append((epoch, metrics))
        save(path, model, opt, epoch, history)
        ctx.checkpoint_saved(epoch, path)
        if ctx.report(epoch, metrics):
            break
    if not metrics:  # a checkpoint from an older version without metrics, and nothing left to train
        accuracy, val_loss = evaluate(model, x_va, y_va)
        metrics = {"val_accuracy": accuracy, "val_loss": val_loss}
    return {"val_accuracy": metrics["val_accuracy"], "val_loss": metrics["val_loss"]}
