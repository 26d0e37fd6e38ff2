"""The DARTS search network: every edge a mixture of all operations, weighted by softmax(alpha).

alpha is not a parameter of the module: `forward` takes it, so the weights and alpha can be
differentiated separately (the weight step must not move alpha; alpha's gradient comes from the
validation batch) and alpha can arrive from the controller between any two steps.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from nestor.genotype import PRIMITIVES, edges
from torch import nn

from nestor_executor.darts.ops import OPS, FactorizedReduce, ReLUConvBN, stack_cells


class MixedOp(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(OPS[name](c, stride, False, True) for name in PRIMITIVES)
        self.stride = stride
        self.none = PRIMITIVES.index("none")

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        # "none" outputs zeros: skipping it changes neither the output nor any gradient.
        return sum(w * op(x) for k, (w, op) in enumerate(zip(weights, self.ops, strict=True))  # type: ignore[return-value]
                   if k != self.none)


class SearchCell(nn.Module):
    def __init__(self, steps: int, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.steps = steps
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c, False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, False)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, False)
        # The two cell inputs are halved by a reduction cell's first edges; intermediate nodes already are.
        self.edges = nn.ModuleList(MixedOp(c, 2 if reduction and j < 2 else 1) for _, j in edges(steps))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        k = 0
        for _ in range(self.steps):
            node = sum(self.edges[k + j](h, weights[k + j]) for j, h in enumerate(states))
            k += len(states)
            states.append(node)  # type: ignore[arg-type]
        return torch.cat(states[2:], dim=1)


class SearchNetwork(nn.Module):
    """Stem, `layers` search cells (reduction ones at a third and two thirds), global pool, classifier."""

    def __init__(self, channels: int = 8, layers: int = 5, steps: int = 4, num_classes: int = 10,
                 in_channels: int = 1, stem_multiplier: int = 3) -> None:
        super().__init__()
        self.steps = steps
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        self.cells, c_out = stack_cells(
            layers, channels, c_stem, functools.partial(SearchCell, steps), lambda reduction: steps)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor, alpha_normal: torch.Tensor, alpha_reduce: torch.Tensor) -> torch.Tensor:
        return self.weighted(x, F.softmax(alpha_normal, dim=-1), F.softmax(alpha_reduce, dim=-1))

    def weighted(self, x: torch.Tensor, w_normal: torch.Tensor, w_reduce: torch.Tensor) -> torch.Tensor:
        """The network with the operations' weights given directly (rows need not sum to one: the
        perturbation scores zero one operation or one edge)."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))  # type: ignore[no-any-return]
