"""The eight DARTS operations, each a module mapping C channels to C channels (halving the map at stride 2).

Batch norms in the search network have no affine parameters (`affine=False`): there, alpha alone should
scale an operation's output, or a learned BN scale could hide what alpha says.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
    """ReLU, depthwise (optionally dilated) convolution, pointwise convolution, BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    """Two depthwise-separable convolutions in a row (the first carries the stride), as in DARTS."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
                         DilConv(c_in, c_out, kernel, 1, padding, 1, affine))


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::self.stride, ::self.stride] * 0.0


class FactorizedReduce(nn.Module):
    """Halves the map with two 1x1 stride-2 convolutions, one shifted by a pixel, so no pixel is ignored."""

    def __init__(self, c_in: int, c_out: int, affine: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        a = self.a(x)
        b = self.b(nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1)))
        return self.bn(torch.cat([a, b], dim=1))


def _pool(kind: str, c: int, stride: int, affine: bool, with_bn: bool) -> nn.Module:
    pool: nn.Module = (nn.MaxPool2d(3, stride, padding=1) if kind == "max"
                       else nn.AvgPool2d(3, stride, padding=1, count_include_pad=False))
    # In the search network a BN after a pool puts its output on the scale of the convolutions'.
    return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False)) if with_bn else pool


OpFactory = Callable[[int, int, bool, bool], nn.Module]

#: name -> (channels, stride, affine, search) -> module
OPS: dict[str, OpFactory] = {
    "none": lambda c, stride, affine, search: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine, search: _pool("max", c, stride, affine, search),
    "avg_pool_3x3": lambda c, stride, affine, search: _pool("avg", c, stride, affine, search),
    "skip_connect": lambda c, stride, affine, search: (nn.Identity() if stride == 1
                                                       else FactorizedReduce(c, c, affine)),
    "sep_conv_3x3": lambda c, stride, affine, search: SepConv(c, c, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c, stride, affine, search: SepConv(c, c, 5, stride, 2, affine),
    "dil_conv_3x3": lambda c, stride, affine, search: DilConv(c, c, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine, search: DilConv(c, c, 5, stride, 4, 2, affine),
}


def reduction_layers(layers: int) -> set[int]:
    """Cells that halve the map: at a third and two thirds of the depth, as in DARTS."""
    return {layers // 3, 2 * layers // 3} if layers >= 3 else {layers - 1}


CellFactory = Callable[[int, int, int, bool, bool], nn.Module]


def stack_cells(layers: int, channels: int, c_stem: int, make: CellFactory,
                multiplier: Callable[[bool], int]) -> tuple[nn.ModuleList, int]:
    """`layers` cells made by make(c_pp, c_p, c, reduction, reduction_prev), channels doubled at each
    reduction; returns them and the channels of the last one's output (multiplier(reduction) * c)."""
    c_pp, c_p, c = c_stem, c_stem, channels
    reductions = reduction_layers(layers)
    cells = nn.ModuleList()
    reduction_prev = False
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            c *= 2
        cells.append(make(c_pp, c_p, c, reduction, reduction_prev))
        reduction_prev = reduction
        c_pp, c_p = c_p, multiplier(reduction) * c
    return cells, c_p
