"""A weight-sharing supernet over an edge-op cell space: every architecture of the space is a path through it.

Each edge of the cell holds a module for every operation of the space (none holds nothing); an architecture
picks one per edge, and the network it describes is exactly the supernet run along that path (the same stem,
reductions and classifier, the chosen edges' modules). Trained by sampling one path per batch (single-path
one-shot, Guo et al. 2020), it scores any architecture without training it: with its batch-norm statistics
recalibrated first, since the running statistics a supernet accumulates mix every path's activations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from nestor import architecture
from nestor.architecture import NONE_OP, EdgeCells, reduction_cells
from nestor.v1 import space_pb2
from torch import nn

from nestor_executor.nas.edges import EdgeCellNet, Reduction, run_cell
from nestor_executor.nas.ops import head, make_op


class SuperCell(nn.Module):
    def __init__(self, num_nodes: int, operations: Sequence[str], channels: int) -> None:
        super().__init__()
        self.num_nodes = num_nodes
        self.edges = nn.ModuleDict({
            f"{j}_{i}": nn.ModuleDict({op: make_op(op, channels, channels, 1)[0] for op in operations if op != NONE_OP})
            for j in range(1, num_nodes) for i in range(j)})

    def forward(self, x: torch.Tensor, edges: tuple[tuple[str, ...], ...]) -> torch.Tensor:
        return run_cell(x, edges, lambda j, i, op: self.edges[f"{j}_{i}"][op])


class EdgeSupernet(nn.Module):
    """The layout of EdgeCellNet (stem, cells, residual reductions at 1/3 and 2/3, classifier), each cell a
    SuperCell; forward(x, arch) runs the path of `arch`."""

    def __init__(self, num_nodes: int, operations: Sequence[str], num_cells: int, init_channels: int,
                 in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_nodes, self.operations = num_nodes, tuple(operations)
        self.num_cells, self.init_channels = num_cells, init_channels
        c = init_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        reductions = set(reduction_cells(num_cells)) if num_cells >= 3 else set()
        layers: list[nn.Module] = []
        for i in range(num_cells):
            if i in reductions:
                layers.append(Reduction(c, 2 * c))
                c *= 2
            layers.append(SuperCell(num_nodes, self.operations, c))
        self.body = nn.ModuleList(layers)
        self.head = head(c, num_classes)
        self.in_channels, self.num_classes = in_channels, num_classes

    def forward(self, x: torch.Tensor, arch: EdgeCells) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.body:
            x = layer(x, arch.edges) if isinstance(layer, SuperCell) else layer(x)
        return self.head(x)

    def sample(self, rng: np.random.Generator) -> EdgeCells:
        """A path drawn uniformly: every edge's operation independently."""
        ops = self.operations
        return EdgeCells(self.num_cells, self.init_channels, tuple(
            tuple(ops[int(rng.integers(len(ops)))] for _ in range(j)) for j in range(1, self.num_nodes)))

    @property
    def edge_names(self) -> list[tuple[int, int]]:
        """The edges (to node j, from node i) in decision order: arch.node{j}.edge{i}."""
        return [(j, i) for j in range(1, self.num_nodes) for i in range(j)]

    def path(self, ops: Sequence[str]) -> EdgeCells:
        """The path whose edges, in edge_names order, carry `ops`."""
        edges, k = [], 0
        for j in range(1, self.num_nodes):
            edges.append(tuple(ops[k:k + j]))
            k += j
        return EdgeCells(self.num_cells, self.init_channels, tuple(edges))

    @property
    def decisions(self) -> list[architecture.Decision]:
        """The decisions of the supernet's space, in order (what a path given as values lists)."""
        return architecture.decisions(space_pb2.ArchitectureSpace(edge_cell=space_pb2.EdgeCellSpace(
            num_nodes=self.num_nodes, operations=list(self.operations), num_cells=self.num_cells,
            init_channels=self.init_channels)))

    def arch_of(self, params: Mapping[str, Any]) -> EdgeCells:
        """The edge-op cell a trial's `arch.` parameters describe, checked to be one of the supernet's (its
        number of cells and channels are the supernet's whatever the parameters say)."""
        cell = architecture.decode(params)
        if not isinstance(cell, EdgeCells) or len(cell.edges) != self.num_nodes - 1 or any(
                op not in self.operations for ops in cell.edges for op in ops):
            raise ValueError(f"not an edge-op cell of the supernet's space ({self.num_nodes} nodes, operations "
                             f"{', '.join(self.operations)})")
        return EdgeCells(self.num_cells, self.init_channels, cell.edges)

    def recalibrate(self, arch: EdgeCells, batches: Iterable[torch.Tensor]) -> None:
        recalibrate(self, arch, batches)

    def path_modules(self, arch: EdgeCells) -> list[nn.Module]:
        """The modules `arch` runs through: stem, reductions, the chosen edges' operations, classifier."""
        out: list[nn.Module] = [self.stem, self.head]
        for layer in self.body:
            if isinstance(layer, SuperCell):
                out.extend(layer.edges[f"{j}_{i}"][op] for j, ops in enumerate(arch.edges, start=1)
                           for i, op in enumerate(ops) if op != NONE_OP)
            else:
                out.append(layer)
        return out

    def path_parameters(self, arch: EdgeCells) -> int:
        """How many parameters the network `arch` describes has (its path's), without building it."""
        return sum(p.numel() for m in self.path_modules(arch) for p in m.parameters())

    def standalone(self, arch: EdgeCells) -> EdgeCellNet:
        """The network `arch` describes, built on its own, with the supernet's weights (and batch-norm
        statistics) of its path copied in."""
        net = EdgeCellNet(arch, self.in_channels, self.num_classes)
        mine = self.state_dict()
        state = {}
        for name in net.state_dict():
            source = name
            parts = name.split(".")
            if parts[0] == "body" and parts[2] == "ops":  # body.K.ops.J_I.rest <- body.K.edges.J_I.OP.rest
                j, i = (int(v) for v in parts[3].split("_"))
                source = ".".join(["body", parts[1], "edges", parts[3], arch.edges[j - 1][i], *parts[4:]])
            state[name] = mine[source]
        net.load_state_dict(state)
        return net


@torch.no_grad()
def recalibrate(net: EdgeSupernet, arch: EdgeCells, batches: Iterable[torch.Tensor]) -> None:
    """The batch-norm statistics along `arch`'s path recomputed from scratch over `batches` (a cumulative
    average: every batch counts the same), as the path alone would have them; the rest stays as it was."""
    norms = [m for module in net.path_modules(arch) for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    was_training = net.training
    net.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    for x in batches:
        net(x, arch)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
        m.eval()
    net.train(was_training)
