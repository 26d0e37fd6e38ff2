"""Grid search: the product of every parameter's values, conditional branches included.

The grid is held as one matrix of value indices (a row per point, -1 where a parameter is inactive), not
as a list of dicts: a million points of ten parameters take 40 MB, not gigabytes. It is counted at
CreateStudy and enumerated at the first suggestion, off the event loop (the sampler is `heavy`), and both
stop as soon as the grid passes its limits (README: Security, Limits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from nestor.values import ParamValue

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_GRID_POINTS, MAX_GRID_VALUES
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.space import ParamDef, Space

#: Kept for the samplers that import it: the most points a grid may have.
MAX_GRID = MAX_GRID_POINTS


def _snap_all(p: ParamDef, xs: np.ndarray) -> list[ParamValue]:
    """sampling.snap over an array, with the same arithmetic (so the values are the same to the bit)."""
    if p.step > 0:
        xs = p.low + np.round((xs - p.low) / p.step) * p.step
    xs = np.minimum(np.maximum(xs, p.low), p.high)
    if p.kind == "int":
        return [int(v) for v in np.round(xs)]
    return [float(v) for v in xs]


def axis_length_bound(p: ParamDef, points: int) -> int:
    """At most this many values on the parameter's axis (before equal values are merged)."""
    if p.kind == "categorical":
        return len(p.choices)
    return int(min(p.size, points)) if p.low < p.high else 1


def axis(p: ParamDef, points: int) -> list[ParamValue]:
    """The values of one parameter on the grid: all of them when few, else `points` spread evenly."""
    if p.kind == "categorical":
        return list(p.choices)
    if p.low == p.high:
        return _snap_all(p, np.asarray([p.low]))
    if p.size <= points:
        return _snap_all(p, p.low + np.arange(int(p.size)) * (p.step or 1))
    if points == 1:
        return _snap_all(p, np.asarray([math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2]))
    lo, hi = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
    xs = np.linspace(lo, hi, points)
    if p.log:
        xs = np.exp(xs)
    # Snapping keeps the order, so equal values are neighbours.
    values = _snap_all(p, xs)
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def _too_large(what: str) -> SpecError:
    return SpecError(f"spec.algorithm: the grid has more than {what}; lower points_per_dimension or use another "
                     "algorithm")


class Grid:
    """The points of a grid in the order of nested loops over the parameters (the first one slowest)."""

    def __init__(self, space: Space, points: int, *, count_only: bool = False) -> None:
        """Raises SpecError (naming the limit) as soon as the grid passes MAX_GRID_POINTS or MAX_GRID_VALUES."""
        params = space.params
        parents = {c.parent for p in params for c in p.conditions}
        position = {p.name: j for j, p in enumerate(params)}
        self.params = params
        self.axes: list[list[ParamValue]] = []
        # Each step adds a column for its parameter and, when the parameter has several values, repeats the
        # rows it is active in; `maps[j]` sends the rows after step j to the rows before it (None: unchanged).
        # Composing them at the end costs one pass per column, where copying the matrix at each step would
        # cost one per column and step.
        columns: list[np.ndarray] = []
        maps: list[np.ndarray | None] = []
        current: dict[str, np.ndarray] = {}  # the parents' columns, in the rows as they are now
        n, work = 1, 0
        for p in params:
            active = np.ones(n, dtype=bool)
            for c in p.conditions:
                parent_axis = self.axes[position[c.parent]]
                allowed = [i for i, v in enumerate(parent_axis) if v in c.values]
                active &= np.isin(current[c.parent], allowed)
            hits = int(active.sum())
            values: list[ParamValue] = []
            if hits:
                work += axis_length_bound(p, points)
                if work > MAX_GRID_VALUES:
                    raise _too_large(f"{MAX_GRID_VALUES} values on its axes")
                values = axis(p, points)
            self.axes.append(values)
            grown = n + hits * (len(values) - 1)
            if grown > MAX_GRID_POINTS:
                raise _too_large(f"{MAX_GRID_POINTS} points")
            if grown * len(params) > MAX_GRID_VALUES:
                raise _too_large(f"{MAX_GRID_VALUES} values (points x parameters: {grown} x {len(params)})")
            if grown == n:
                column, step_map = np.where(active, 0, -1).astype(np.int32), None
            else:
                repeats = np.where(active, len(values), 1)
                step_map = np.repeat(np.arange(n), repeats)
                starts = np.cumsum(repeats) - repeats
                offsets = np.arange(grown) - starts[step_map]
                column = np.where(active[step_map], offsets, -1).astype(np.int32)
                current = {name: col[step_map] for name, col in current.items()}
            if p.name in parents:
                current[p.name] = column
            columns.append(column)
            maps.append(step_map)
            n = grown
        self.size = n
        self.rows = np.zeros((0, len(params)), dtype=np.int32)
        if not count_only:
            self.rows = np.empty((n, len(params)), dtype=np.int32)
            to_step: np.ndarray | None = None  # final rows -> rows after step j
            for j in reversed(range(len(params))):
                self.rows[:, j] = columns[j] if to_step is None else columns[j][to_step]
                if maps[j] is not None:
                    to_step = maps[j] if to_step is None else maps[j][to_step]  # type: ignore[index]

    def point(self, row: np.ndarray) -> Assignment:
        return {p.name: self.axes[j][int(i)] for j, (p, i) in enumerate(zip(self.params, row, strict=True))
                if i >= 0}


def enumerate_grid(space: Space, points: int) -> list[Assignment]:
    """Every point of the grid (for tests and small grids; the sampler keeps the index matrix)."""
    grid = Grid(space, points)
    return [grid.point(row) for row in grid.rows]


class GridSampler(Sampler):
    name = "grid"
    accepts_constraints = True  # it models nothing, so constraints change nothing in what it draws
    #: Enumerating a grid of a million points takes a while: off the event loop.
    heavy: ClassVar[bool] = True
    defaults: Mapping[str, Any] = {"points_per_dimension": 5, "shuffle": False}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.points = setting(self.settings, "points_per_dimension", int, minimum=1, maximum=MAX_GRID_POINTS)
        self.shuffle = setting(self.settings, "shuffle", bool)
        self._grid: Grid | None = None
        self.cursor = 0

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        merged = {**cls.defaults, **settings}
        setting(merged, "shuffle", bool)
        Grid(space, setting(merged, "points_per_dimension", int, minimum=1, maximum=MAX_GRID_POINTS),
             count_only=True)

    @property
    def grid(self) -> Grid:
        if self._grid is None:
            grid = Grid(self.space, self.points)
            if self.shuffle:
                order = np.random.Generator(np.random.PCG64(self.seed)).permutation(grid.size)
                grid.rows = grid.rows[order]
            self._grid = grid
        return self._grid

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        grid = self.grid
        out = [grid.point(row) for row in grid.rows[self.cursor:self.cursor + count]]
        self.cursor += len(out)
        return out

    def exhausted(self) -> bool:
        return self.cursor >= self.grid.size

    @property
    def size(self) -> int:
        return self.grid.size

    def state(self) -> dict[str, Any]:
        return {"cursor": self.cursor}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.cursor = int(state["cursor"])
