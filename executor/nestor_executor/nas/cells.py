"""Cell-based networks (NASNet style): a stem, then normal and reduction cells stacked.

A cell reads the outputs of the two cells before it (brought to its channel
count by 1x1 convolutions; the older one also down-sampled when a reduction
lies between them). Each node adds two operations applied to inputs it chose;
in a reduction cell the operations reading the cell's inputs use stride 2 and
the cell doubles the channels. The cell's output concatenates the nodes no
other node of the cell reads.
"""

from __future__ import annotations

import torch
from nestor.architecture import Cells, Node, reduction_cells
from torch import nn

from nestor_executor.nas.ops import head, make_op, project

CELL_INPUTS = ("prev_prev", "prev")


class Cell(nn.Module):
    def __init__(self, nodes: tuple[Node, ...], c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                 after_reduction: bool) -> None:
        super().__init__()
        self.pre0 = project(c_prev_prev, channels, 2 if after_reduction else 1)
        self.pre1 = project(c_prev, channels)
        self.inputs: list[tuple[str, str]] = []
        self.ops = nn.ModuleList()
        known = list(CELL_INPUTS)
        read: set[str] = set()
        for j, node in enumerate(nodes):
            for source, name in zip(node.inputs, node.ops, strict=True):
                if source not in known:
                    raise ValueError(f"node{j} reads {source!r}; it may read {', '.join(known)}")
                stride = 2 if reduction and source in CELL_INPUTS else 1
                self.ops.append(make_op(name, channels, channels, stride)[0])
                read.add(source)
            self.inputs.append(node.inputs)
            known.append(f"node{j}")
        self.concat = [f"node{j}" for j in range(len(nodes)) if f"node{j}" not in read]
        self.out_channels = channels * len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = {"prev_prev": self.pre0(s0), "prev": self.pre1(s1)}
        for j, (a, b) in enumerate(self.inputs):
            states[f"node{j}"] = self.ops[2 * j](states[a]) + self.ops[2 * j + 1](states[b])
        return torch.cat([states[n] for n in self.concat], dim=1)


class CellNet(nn.Module):
    def __init__(self, arch: Cells, in_channels: int, num_classes: int) -> None:
        super().__init__()
        c = arch.init_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        reductions = set(reduction_cells(arch.num_cells))
        c_prev_prev, c_prev, channels = c, c, c
        after_reduction = False
        self.cells = nn.ModuleList()
        for i in range(arch.num_cells):
            reduction = i in reductions
            if reduction:
                channels *= 2
            cell = Cell(arch.reduce if reduction else arch.normal, c_prev_prev, c_prev, channels, reduction,
                        after_reduction)
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.out_channels
            after_reduction = reduction
        self.head = head(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)
