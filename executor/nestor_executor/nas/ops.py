"""The operations an architecture names, as PyTorch modules.

Convolutions are ReLU -> conv -> batch norm (the order of NASNet and DARTS, so
that sums of branches stay normalised). "Same" padding everywhere: a stride-2
operation maps a side of s pixels to ceil(s / 2), whatever its kernel, so the
branches of a cell always meet at the same size.
"""

from __future__ import annotations

import torch
from nestor.architecture import CONVOLUTIONS, kernel_of, parse_op
from torch import nn


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int = 1, groups: int = 1) -> None:
        pad = dilation * (kernel // 2)
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, pad, dilation=dilation, groups=groups,
                                              bias=False), nn.BatchNorm2d(c_out))


class SepConv(nn.Sequential):
    """Depthwise then pointwise convolution (dilated for dil_conv): far fewer weights than a full one."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int = 1) -> None:
        pad = dilation * (kernel // 2)
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_in, kernel, stride, pad, dilation=dilation, groups=c_in,
                                              bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


def make_op(name: str, c_in: int, c_out: int | None, stride: int, kernel_size: int | None = None
            ) -> tuple[nn.Module, int]:
    """(module, output channels) of operation `name`.

    `c_out` is the channel count a convolution produces (None: keep `c_in`);
    pools and identity always keep their input's channels. `kernel_size` is the
    layer's choice for an operation named without a size.
    """
    family, _ = parse_op(name)
    kernel = kernel_of(name, kernel_size)
    if family in CONVOLUTIONS:
        out = c_out or c_in
        assert kernel is not None
        if family == "conv":
            return ReLUConvBN(c_in, out, kernel, stride), out
        return SepConv(c_in, out, kernel, stride, dilation=2 if family == "dil_conv" else 1), out
    if family == "max_pool":
        return nn.MaxPool2d(kernel, stride, kernel // 2), c_in  # type: ignore[operator]
    if family == "avg_pool":
        return nn.AvgPool2d(kernel, stride, kernel // 2, count_include_pad=False), c_in  # type: ignore[operator]
    if stride == 1:
        return nn.Identity(), c_in
    # A skip connection across a reduction must shrink too: a learned 1x1 stride-2 projection.
    return ReLUConvBN(c_in, c_in, 1, stride), c_in


def project(c_in: int, c_out: int, stride: int = 1) -> nn.Module:
    """Brings a tensor to `c_out` channels (and down by `stride`), or passes it through when nothing changes."""
    if c_in == c_out and stride == 1:
        return nn.Identity()
    return ReLUConvBN(c_in, c_out, 1, stride)


def merge_sum(xs: list[torch.Tensor]) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def head(channels: int, num_classes: int) -> nn.Sequential:
    """Global average pooling and a linear classifier."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
