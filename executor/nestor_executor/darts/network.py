"""The discrete network a genotype describes, trained from scratch to evaluate it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nestor_executor.darts.ops import OPS, FactorizedReduce, ReLUConvBN, stack_cells


class Cell(nn.Module):
    def __init__(self, pairs: list[list[Any]], concat: list[int], c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c, True) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, True)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, True)
        self.inputs = [int(j) for _, j in pairs]
        self.ops = nn.ModuleList(OPS[op](c, 2 if reduction and int(j) < 2 else 1, True, False) for op, j in pairs)
        self.concat = list(concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(0, len(self.ops), 2):
            states.append(self.ops[k](states[self.inputs[k]]) + self.ops[k + 1](states[self.inputs[k + 1]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


class GenotypeNetwork(nn.Module):
    def __init__(self, genotype: Mapping[str, Any], channels: int = 16, layers: int = 6, num_classes: int = 10,
                 in_channels: int = 1, stem_multiplier: int = 3) -> None:
        super().__init__()
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        def kind(reduction: bool) -> str:
            return "reduce" if reduction else "normal"

        self.cells, c_out = stack_cells(
            layers, channels, c_stem,
            lambda c_pp, c_p, c, red, red_prev: Cell(genotype[kind(red)], genotype[f"{kind(red)}_concat"], c_pp,
                                                      c_p, c, red, red_prev),
            lambda reduction: len(genotype[f"{kind(reduction)}_concat"]))
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))  # type: ignore[no-any-return]
