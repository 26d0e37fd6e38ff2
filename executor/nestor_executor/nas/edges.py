"""Edge-op cell networks (NAS-Bench-201): one cell, every edge of its DAG carrying one operation.

Node 0 is the cell's input; node j sums the operations on its edges from every
earlier node ("none" contributes nothing: that edge is absent), and the last
node is the cell's output. The network is a stem (3x3 convolution, batch norm),
the cells, and at one and two thirds of the stack a residual block that halves
the resolution and doubles the channels, then global pooling and a classifier.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from nestor.architecture import NONE_OP, EdgeCells, reduction_cells
from torch import nn

from nestor_executor.nas.ops import ReLUConvBN, head, make_op


class EdgeCell(nn.Module):
    def __init__(self, edges: tuple[tuple[str, ...], ...], channels: int) -> None:
        super().__init__()
        self.edges = edges
        # An absent edge has no module; a node with no edge at all is zeros (NAS-Bench-201 does the same).
        self.ops = nn.ModuleDict({f"{j + 1}_{i}": make_op(op, channels, channels, 1)[0]
                                  for j, ops in enumerate(edges) for i, op in enumerate(ops) if op != NONE_OP})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_cell(x, self.edges, lambda j, i, op: self.ops[f"{j}_{i}"])


def run_cell(x: torch.Tensor, edges: tuple[tuple[str, ...], ...],
             module: Callable[[int, int, str], nn.Module]) -> torch.Tensor:
    """The cell's output: node j (from 1) sums module(j, i, op)(node i) over its edges that are there."""
    nodes = [x]
    for j, ops in enumerate(edges, start=1):
        terms = [module(j, i, op)(nodes[i]) for i, op in enumerate(ops) if op != NONE_OP]
        out = terms[0] if terms else torch.zeros_like(x)
        for t in terms[1:]:
            out = out + t
        nodes.append(out)
    return nodes[-1]


class Reduction(nn.Module):
    """NAS-Bench-201's residual block between stages: two 3x3 convolutions (the first with stride 2) plus a
    pooled 1x1 projection of the input."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = ReLUConvBN(c_in, c_out, 3, 2)
        self.b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + self.shortcut(x)


class EdgeCellNet(nn.Module):
    def __init__(self, arch: EdgeCells, in_channels: int, num_classes: int) -> None:
        super().__init__()
        c = arch.init_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        reductions = set(reduction_cells(arch.num_cells)) if arch.num_cells >= 3 else set()
        layers: list[nn.Module] = []
        for i in range(arch.num_cells):
            if i in reductions:
                layers.append(Reduction(c, 2 * c))
                c *= 2
            layers.append(EdgeCell(arch.edges, c))
        self.body = nn.Sequential(*layers)
        self.head = head(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))
