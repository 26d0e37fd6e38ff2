"""The space as numbers: what every model-based sampler fits and searches in.

Each numeric parameter is one column in [0, 1] (log-scaled parameters in log
space); integers and stepped values are *cells* of equal width, stored at
their centre, so that rounding is a floor and every value is as wide as its
neighbours. An unordered categorical is one-hot (k columns); an ordered one
is a numeric column of k cells. A conditional parameter that is inactive
holds 0 in its columns and is flagged inactive, so that models can tell
"absent" from any real value instead of inventing one.

Everything is vectorised over rows: acquisition optimisers push thousands of
candidates through here per suggestion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from nestor.values import ParamValue

from nestor_controller.samplers.sampling import snap
from nestor_controller.space import ParamDef, Space


@dataclass(frozen=True)
class _Numeric:
    """Map between a numeric parameter's values and its column."""

    lo: float  # in transformed (log or linear) space
    hi: float
    log: bool
    cells: int  # 0: continuous; otherwise the number of values (int, stepped, ordered categorical)

    def to_unit(self, v: np.ndarray) -> np.ndarray:
        t = np.log(v) if self.log else v
        return np.clip((t - self.lo) / (self.hi - self.lo), 0.0, 1.0) if self.hi > self.lo else np.full_like(t, 0.5)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        t = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        return np.exp(t) if self.log else t


def _numeric(p: ParamDef) -> _Numeric:
    if p.kind == "categorical":  # ordered: cells of the index
        return _Numeric(0.0, float(len(p.choices)), False, len(p.choices))
    if p.log:
        if p.kind == "int":
            # Half a unit either side, as the random sampler draws, so the end values are not squeezed.
            return _Numeric(math.log(max(p.low - 0.5, p.low / 2)), math.log(p.high + 0.5), True, 0)
        return _Numeric(math.log(p.low), math.log(p.high), True, 0)
    if p.kind == "int" or p.step > 0:
        return _Numeric(0.0, 1.0, False, int(p.size))
    return _Numeric(p.low, p.high, False, 0)


class Encoder:
    """Columns for `params` (a subset of the space's, in its order; all of them by default)."""

    def __init__(self, space: Space, params: Sequence[ParamDef] | None = None) -> None:
        self.space = space
        self.params = list(params if params is not None else space.params)
        self.index = {p.name: i for i, p in enumerate(self.params)}
        self.numeric: dict[int, _Numeric] = {}
        self.onehot: dict[int, slice] = {}
        cols: list[int] = []
        for i, p in enumerate(self.params):
            if p.kind == "categorical" and not p.ordered:
                self.onehot[i] = slice(len(cols), len(cols) + len(p.choices))
                cols.extend([i] * len(p.choices))
            else:
                self.numeric[i] = _numeric(p)
                cols.append(i)
        #: The parameter of each column.
        self.col_param = np.asarray(cols, dtype=int)
        self.n_params = len(self.params)
        self.n_cols = len(cols)
        #: Column index of each numeric parameter (its only column).
        self.numeric_col = {i: int(np.flatnonzero(self.col_param == i)[0]) for i in self.numeric}
        #: Every numeric column, integers and cells among them (a perturbation jitters them all, then snaps).
        self.numeric_cols = np.asarray(sorted(self.numeric_col.values()), dtype=int)
        #: Parameters with a finite set of values on a grid (categoricals, integers, stepped values), in order.
        self.discrete_params = [i for i in range(self.n_params) if i in self.onehot or self.numeric[i].cells > 1]
        #: Numeric columns with no steps (log-scaled integers among them: their values are not evenly spaced).
        self.free_cols = np.asarray([c for i, c in sorted(self.numeric_col.items()) if self.numeric[i].cells <= 1],
                                    dtype=int)
        self.conditional = any(p.conditions for p in self.params)
        # A column is masked (0 when inactive, and flagged) only when it is numeric and conditional;
        # one-hot columns are all 0 when inactive, which already reads as "no choice".
        self.masked_cols = np.asarray([c for i, c in self.numeric_col.items() if self.params[i].conditions], dtype=int)

    # --- building rows ----------------------------------------------------------

    def _values(self, i: int, u: np.ndarray) -> np.ndarray:
        """Parameter values (as floats, or choice indices) of unit column values."""
        p, num = self.params[i], self.numeric[i]
        if p.kind == "categorical":
            return np.minimum(np.floor(u * num.cells), num.cells - 1)
        if num.cells:
            k = np.minimum(np.floor(np.clip(u, 0.0, 1.0) * num.cells), num.cells - 1)
            return np.minimum(p.low + k * (p.step or 1.0), p.high)
        v = num.from_unit(u)
        if p.kind == "int":
            v = np.round(v)
        return np.clip(v, p.low, p.high)

    def _unit(self, i: int, v: np.ndarray) -> np.ndarray:
        p, num = self.params[i], self.numeric[i]
        if num.cells:
            k = v if p.kind == "categorical" else np.round((v - p.low) / (p.step or 1.0))
            return (k + 0.5) / num.cells
        return num.to_unit(v)

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Rows whose numeric columns sit exactly on representable values (integers rounded, cells centred)."""
        X = np.array(X, dtype=float)
        for i, c in self.numeric_col.items():
            X[:, c] = self._unit(i, self._values(i, X[:, c]))
        for sl in self.onehot.values():
            block = X[:, sl]
            hot = np.argmax(block, axis=1)
            X[:, sl] = 0.0
            X[np.arange(len(X)), sl.start + hot] = 1.0
        return X

    def active(self, X: np.ndarray) -> np.ndarray:
        """(rows, params) activity implied by the parents' values in each row (parents come first)."""
        act = np.ones((len(X), self.n_params), dtype=bool)
        for i, p in enumerate(self.params):
            for cond in p.conditions:
                j = self.index.get(cond.parent)
                if j is None:  # a parent outside this encoder: treated as always satisfied
                    continue
                parent = self.params[j]
                values = self.choice_index(j, X) if j in self.onehot else self._values(j, X[:, self.numeric_col[j]])
                if parent.kind == "categorical":
                    allowed = [k for k, ch in enumerate(parent.choices) if ch in cond.values]
                else:
                    allowed = [float(v) for v in cond.values]  # type: ignore[arg-type]
                act[:, i] &= act[:, j] & np.isin(values, allowed)
        return act

    def choice_index(self, i: int, X: np.ndarray) -> np.ndarray:
        return np.argmax(X[:, self.onehot[i]], axis=1)

    def repair(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Snapped rows with inactive columns zeroed, and their activity."""
        X = self.snap(X)
        act = self.active(X)
        X[~act[:, self.col_param]] = 0.0
        return X, act

    def from_cube(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows from points of the unit hypercube, one coordinate per parameter (a uniform draw per parameter)."""
        U = np.asarray(U, dtype=float)
        X = np.zeros((len(U), self.n_cols))
        for i in range(self.n_params):
            u = U[:, i]
            if i in self.onehot:
                sl = self.onehot[i]
                k = np.minimum(np.floor(u * (sl.stop - sl.start)), sl.stop - sl.start - 1).astype(int)
                X[np.arange(len(U)), sl.start + k] = 1.0
            else:
                X[:, self.numeric_col[i]] = u
        return self.repair(X)

    def col_active(self, act: np.ndarray) -> np.ndarray:
        """Per-column activity as floats: 1 where the column carries a value or is one-hot."""
        out = np.ones((len(act), self.n_cols))
        if len(self.masked_cols):
            out[:, self.masked_cols] = act[:, self.col_param[self.masked_cols]]
        return out

    # --- assignments ------------------------------------------------------------

    def encode(self, assignments: Sequence[Mapping[str, ParamValue]]) -> tuple[np.ndarray, np.ndarray]:
        X = np.zeros((len(assignments), self.n_cols))
        act = np.zeros((len(assignments), self.n_params), dtype=bool)
        for r, a in enumerate(assignments):
            for i, p in enumerate(self.params):
                if p.name not in a:
                    continue
                act[r, i] = True
                v = a[p.name]
                if i in self.onehot:
                    X[r, self.onehot[i].start + p.choices.index(v)] = 1.0
                else:
                    value = p.choices.index(v) if p.kind == "categorical" else float(v)  # type: ignore[arg-type]
                    X[r, self.numeric_col[i]] = float(self._unit(i, np.asarray([value]))[0])
        return X, act

    def decode(self, X: np.ndarray, act: np.ndarray | None = None) -> list[dict[str, ParamValue]]:
        X = np.asarray(X, dtype=float)
        if act is None:
            X, act = self.repair(X)
        cols: dict[int, np.ndarray] = {}
        for i in range(self.n_params):
            cols[i] = self.choice_index(i, X) if i in self.onehot else self._values(i, X[:, self.numeric_col[i]])
        out = []
        for r in range(len(X)):
            a: dict[str, ParamValue] = {}
            for i, p in enumerate(self.params):
                if not act[r, i]:
                    continue
                v = cols[i][r]
                a[p.name] = p.choices[int(v)] if p.kind == "categorical" else snap(p, float(v))
            out.append(a)
        return out


def assignment_key(a: Mapping[str, ParamValue]) -> tuple:
    """A hashable identity of an assignment (types included: 1 and 1.0 and True differ)."""
    return tuple(sorted((k, type(v).__name__, v) for k, v in a.items()))
