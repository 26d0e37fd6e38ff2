"""Multi-branch networks: each layer reads one or more earlier outputs, summed or concatenated.

With "sum", inputs whose channel count differs from the first input's are
projected to it by a 1x1 convolution (a residual connection); with "concat"
their channels stack (a dense connection). Outputs that no later layer reads
are merged the same way into the head, so no chosen layer is wasted.
"""

from __future__ import annotations

import torch
from nestor.architecture import MultiBranch
from torch import nn

from nestor_executor.nas.ops import head, make_op, merge_sum, project


class Merge(nn.Module):
    def __init__(self, channels: list[int], rule: str) -> None:
        super().__init__()
        self.rule = rule
        target = channels[0]
        self.projections = nn.ModuleList(project(c, target) for c in channels) if rule == "sum" else None
        self.channels = target if rule == "sum" else sum(channels)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.projections is None:
            return xs[0] if len(xs) == 1 else torch.cat(xs, dim=1)
        return merge_sum([p(x) for p, x in zip(self.projections, xs, strict=True)])


class MultiBranchNet(nn.Module):
    def __init__(self, arch: MultiBranch, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, arch.stem_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(arch.stem_channels))
        channels = {"stem": arch.stem_channels}
        self.sources: list[list[str]] = []
        self.merges = nn.ModuleList()
        self.ops = nn.ModuleList()
        read: set[str] = set()
        for i, layer in enumerate(arch.layers):
            unknown = [s for s in layer.inputs if s not in channels]
            if unknown or not layer.inputs:
                raise ValueError(f"layer{i} reads {unknown or 'nothing'}; it may read the stem or earlier layers")
            merge = Merge([channels[s] for s in layer.inputs], arch.merge)
            op, c = make_op(layer.op, merge.channels, layer.filters, 1)
            self.sources.append(list(layer.inputs))
            self.merges.append(merge)
            self.ops.append(op)
            channels[f"layer{i}"] = c
            read.update(layer.inputs)
        self.loose = [name for name in channels if name not in read]
        self.out_merge = Merge([channels[s] for s in self.loose], arch.merge)
        self.head = head(self.out_merge.channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = {"stem": self.stem(x)}
        for i, (sources, merge, op) in enumerate(zip(self.sources, self.merges, self.ops, strict=True)):
            outputs[f"layer{i}"] = op(merge([outputs[s] for s in sources]))
        return self.head(self.out_merge([outputs[s] for s in self.loose]))
