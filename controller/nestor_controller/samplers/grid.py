"""Grid search: the product of every parameter's values, conditional branches included."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from nestor.values import ParamValue

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.sampling import snap
from nestor_controller.space import ParamDef, Space

MAX_GRID = 1_000_000


def axis(p: ParamDef, points: int) -> list[ParamValue]:
    """The values of one parameter on the grid: all of them when few, else `points` spread evenly."""
    if p.kind == "categorical":
        return list(p.choices)
    if p.size <= points:
        n = int(p.size)
        return [snap(p, p.low + i * (p.step or 1)) for i in range(n)]
    if points == 1:
        return [snap(p, math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2)]
    lo, hi = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
    xs = np.linspace(lo, hi, points)
    if p.log:
        xs = np.exp(xs)
    values: list[ParamValue] = []
    for x in xs:
        v = snap(p, float(x))
        if v not in values:
            values.append(v)
    return values


def enumerate_grid(space: Space, points: int) -> list[Assignment]:
    axes = {p.name: axis(p, points) for p in space.params}
    grid: list[Assignment] = [{}]
    for p in space.params:
        nxt: list[Assignment] = []
        for partial in grid:
            if space.is_active(p, partial):
                nxt.extend({**partial, p.name: v} for v in axes[p.name])
            else:
                nxt.append(partial)
            if len(nxt) > MAX_GRID:
                raise SpecError(
                    f"spec.algorithm: the grid has more than {MAX_GRID} points; "
                    "lower points_per_dimension or use another algorithm"
                )
        grid = nxt
    return grid


class GridSampler(Sampler):
    name = "grid"
    defaults: Mapping[str, Any] = {"points_per_dimension": 5, "shuffle": False}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.points = setting(self.settings, "points_per_dimension", int, minimum=1)
        self.grid = enumerate_grid(self.space, self.points)
        if setting(self.settings, "shuffle", bool):
            order = np.random.Generator(np.random.PCG64(self.seed)).permutation(len(self.grid))
            self.grid = [self.grid[i] for i in order]
        self.cursor = 0

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        merged = {**cls.defaults, **settings}
        setting(merged, "shuffle", bool)
        enumerate_grid(space, setting(merged, "points_per_dimension", int, minimum=1))

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        out = self.grid[self.cursor:self.cursor + count]
        self.cursor += len(out)
        return [dict(a) for a in out]

    def exhausted(self) -> bool:
        return self.cursor >= len(self.grid)

    @property
    def size(self) -> int:
        return len(self.grid)

    def state(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.cursor = int(state["cursor"])
