"""Perturbation scores of a trained DARTS search network, for selection in the manner of DARTS-PT.

alpha's magnitude says little about how much the weight-sharing network relies on an operation (Wang et
al., "Rethinking Architecture Selection in Differentiable NAS", 2021). Measuring it does: remove the
operation (its weight set to zero, the others left as they are) and see how much the loss on images the
weights were not trained on rises; remove a whole edge and see the same for the edge. The controller
derives the genotype from these scores. Unlike DARTS-PT this scores every operation once, on the final
network, without fine-tuning between decisions: one forward pass per operation and per edge (226 for
the paper's cells), on a CPU about as long as the search itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from nestor.genotype import CELLS, PRIMITIVES, SCORES_PREFIX

from nestor_executor.darts.search import SearchNetwork

NONE = PRIMITIVES.index("none")


@torch.no_grad()
def loss_with(model: SearchNetwork, x: torch.Tensor, y: torch.Tensor, weights: dict[str, torch.Tensor]) -> float:
    return float(F.cross_entropy(model.weighted(x, weights["normal"], weights["reduce"]), y))


@torch.no_grad()
def scores(model: SearchNetwork, alphas: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
           stop: Callable[[], bool] = lambda: False) -> dict[str, np.ndarray] | None:
    """Per cell: `perturbation.op_<cell>` (edges x operations: the loss increase when that operation is
    removed from its edge; 0 for none) and `perturbation.edge_<cell>` (edges: when the whole edge is).
    None when `stop()` turns true on the way (a pass per operation takes a while on a CPU)."""
    was_training = model.training
    model.eval()  # batch norms on their running statistics: a removal must not be renormalised away
    try:
        weights = {cell: F.softmax(alphas[cell].detach(), dim=-1) for cell in CELLS}
        base = loss_with(model, x, y, weights)
        out: dict[str, np.ndarray] = {}
        for cell in CELLS:
            w = weights[cell]
            ops = np.zeros(tuple(w.shape))
            edge = np.zeros(w.shape[0])
            for e in range(w.shape[0]):
                if stop():
                    return None
                for o in range(w.shape[1]):
                    if o != NONE:
                        ops[e, o] = loss_with(model, x, y, {**weights, cell: _zeroed(w, e, o)}) - base
                edge[e] = loss_with(model, x, y, {**weights, cell: _zeroed(w, e, None)}) - base
            out[f"{SCORES_PREFIX}op_{cell}"], out[f"{SCORES_PREFIX}edge_{cell}"] = ops, edge
        return out
    finally:
        model.train(was_training)


def _zeroed(w: torch.Tensor, edge: int, op: int | None) -> torch.Tensor:
    z = w.clone()
    if op is None:
        z[edge] = 0.0
    else:
        z[edge, op] = 0.0
    return z
