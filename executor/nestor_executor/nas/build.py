"""One entry point from an architecture (or a trial's parameters) to a network."""

from __future__ import annotations

from collections.abc import Mapping

from nestor.architecture import Architecture, Cells, Chain, EdgeCells, MultiBranch, decode
from nestor.values import ParamValue
from torch import nn

from nestor_executor.nas.branches import MultiBranchNet
from nestor_executor.nas.cells import CellNet
from nestor_executor.nas.chain import ChainNet
from nestor_executor.nas.edges import EdgeCellNet


def build_network(arch: Architecture, in_channels: int, num_classes: int) -> nn.Module:
    """A network mapping images (N, in_channels, H, W) of any size to `num_classes` logits."""
    if isinstance(arch, Chain):
        return ChainNet(arch, in_channels, num_classes)
    if isinstance(arch, MultiBranch):
        return MultiBranchNet(arch, in_channels, num_classes)
    if isinstance(arch, Cells):
        return CellNet(arch, in_channels, num_classes)
    if isinstance(arch, EdgeCells):
        return EdgeCellNet(arch, in_channels, num_classes)
    raise TypeError(f"not an architecture: {arch!r}")


def network_for(params: Mapping[str, ParamValue], in_channels: int, num_classes: int) -> nn.Module:
    """The network a trial's `arch.` parameters describe; ValueError when they describe none."""
    arch = decode(params)
    if arch is None:
        raise ValueError("the parameters hold no architecture (no 'arch.' decision): "
                         "give the study an architecture space")
    return build_network(arch, in_channels, num_classes)
