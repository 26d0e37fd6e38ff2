"""Chain-structured networks: the layers one after the other, then the classifier head."""

from __future__ import annotations

import torch
from nestor.architecture import Chain
from torch import nn

from nestor_executor.nas.ops import head, make_op


class ChainNet(nn.Module):
    def __init__(self, arch: Chain, in_channels: int, num_classes: int) -> None:
        super().__init__()
        layers = []
        c = in_channels
        for layer in arch.layers:
            op, c = make_op(layer.op, c, layer.filters, layer.stride, layer.kernel_size)
            layers.append(op)
        self.body = nn.Sequential(*layers)
        self.head = head(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
