"""`darts_eval`: trains the network of a DARTS genotype from scratch on the digits images.

The genotype comes as JSON text in the `genotype` parameter (as a DARTS study's evaluation trials carry
it, see nestor.genotype). `trainable_config` sets `eval_channels` (16), `eval_layers` (6, reduction cells
at a third and two thirds), `eval_epochs` (20, or the fidelity), `eval_lr` (Adam, 2e-3, cosine-annealed to 0),
`eval_weight_decay` (3e-4), `eval_batch_size` (else `batch_size`, else 64) and `data_seed`. Reports
`val_accuracy`, `val_loss` and `train_loss` every epoch; checkpoints every epoch and resumes from its checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from nestor import genotype as gt

from nestor_executor.darts.network import GenotypeNetwork
from nestor_executor.trainables.digits_nas import images
from nestor_executor.trainables.epochs import train_epochs


def build(params: Mapping[str, Any], config: Mapping[str, Any]) -> GenotypeNetwork:
    if "genotype" not in params:
        raise ValueError("darts_eval: needs a `genotype` parameter (JSON text, see nestor.genotype)")
    g = gt.from_json(str(params["genotype"]))
    return GenotypeNetwork(g, channels=int(config.get("eval_channels", 16)), layers=int(config.get("eval_layers", 6)))


class CosineAdam(torch.optim.Adam):
    """Adam whose learning rate follows a cosine from `lr` to 0 over `total` steps.

    The position comes from Adam's own step count, which its state_dict keeps: a run resumed from its
    checkpoint continues the same schedule. A settled final learning rate makes the last epoch's
    accuracy, which is what the study compares, far less noisy.
    """

    def __init__(self, params: Any, lr: float, weight_decay: float, total: int) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        self.base_lr, self.total = lr, max(1, total)

    def step(self, closure: Any = None) -> Any:
        done = next((int(st["step"]) for st in self.state.values() if "step" in st), 0)
        for group in self.param_groups:
            group["lr"] = self.base_lr * 0.5 * (1 + math.cos(math.pi * min(done, self.total) / self.total))
        return super().step(closure)


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    cfg = ctx.config
    torch.manual_seed(ctx.seed)
    model = build(params, cfg).to(ctx.device)
    epochs = math.ceil(ctx.budget) if ctx.budget > 0 else int(cfg.get("eval_epochs", 20))
    # A DARTS study's search and evaluation share one trainable_config: the search's `batch_size` sets
    # how many alpha steps it takes, which should not change how its genotype is trained.
    batch_size = int(cfg.get("eval_batch_size", cfg.get("batch_size", 64)))
    data = images(int(cfg.get("data_seed", 0)), ctx.device)
    opt = CosineAdam(model.parameters(), lr=float(cfg.get("eval_lr", 2e-3)),
                     weight_decay=float(cfg.get("eval_weight_decay", 3e-4)),
                     total=epochs * math.ceil(len(data[0]) / batch_size))
    return train_epochs(model, opt, data, ctx, epochs=epochs, batch_size=batch_size, name="darts_eval")
