"""Maximising the acquisition over the encoded space.

Many cheap candidates first (uniform draws, and perturbations of the best
observed points, where improvement usually is), scored in one batch; the
best few are refined together by L-BFGS-B on their continuous columns (one
problem whose variables are all the starts: the sum separates, and one
batched evaluation replaces many small ones), and a local search over
one-coordinate discrete moves (another choice, another integer) alternates
with L-BFGS-B on the continuous columns until no move helps. Integers, stepped
values and categoricals never move continuously: every candidate sits on
their grid from its draw on (a log-scaled integer, whose values are not
evenly spaced, is refined and rounded). Relaxing integers (refined with the
rest, then snapped) ended the search where the smooth surrogate peaks, whose
nearest integer is often not where the acquisition does; on the development
split's problems with integers it left final regret 1.2 times higher
(geometric mean, 20 seeds), 1.9 times on levy-5-int2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nestor_controller.samplers.encoding import Encoder

#: (rows, column activity, gradient columns or None) -> value (and gradient when columns were given)
Acquisition = Callable[..., tuple[np.ndarray, ...]]


@dataclass
class Candidates:
    X: np.ndarray
    act: np.ndarray
    value: np.ndarray

    def sorted(self) -> Candidates:
        order = np.argsort(-self.value, kind="stable")
        return Candidates(self.X[order], self.act[order], self.value[order])


def perturb(enc: Encoder, centers: np.ndarray, count: int, rng: np.random.Generator,
            scales: tuple[float, ...] = (0.01, 0.05, 0.2)) -> tuple[np.ndarray, np.ndarray]:
    """`count` neighbours of each centre row: numeric columns jittered, categoricals sometimes switched."""
    if not len(centers):
        return np.zeros((0, enc.n_cols)), np.zeros((0, enc.n_params), dtype=bool)
    X = np.repeat(centers, count, axis=0)
    scale = rng.choice(np.asarray(scales), size=(len(X), 1))
    cc = enc.numeric_cols
    X[:, cc] = np.clip(X[:, cc] + scale * rng.standard_normal((len(X), len(cc))), 0.0, 1.0)
    flip = 1.0 / max(1, enc.n_params)
    for sl in enc.onehot.values():
        switch = rng.random(len(X)) < flip
        k = sl.stop - sl.start
        if switch.any() and k > 1:
            X[switch, sl] = 0.0
            X[np.flatnonzero(switch), sl.start + rng.integers(k, size=int(switch.sum()))] = 1.0
    _wake_children(enc, X)
    return enc.repair(X)


def _wake_children(enc: Encoder, X: np.ndarray) -> None:
    """Gives inactive numeric columns (all 0 after repair) the middle value, in case a switch activates them."""
    if len(enc.masked_cols):
        block = X[:, enc.masked_cols]
        block[block == 0.0] = 0.5
        X[:, enc.masked_cols] = block


#: A stepped column of at most this many values tries every one of them in a coordinate move; a longer one
#: tries steps of 1, 2, 4, ... cells either way.
ALL_CELLS = 16
#: Rounds of the discrete local search at most (each: every discrete parameter in turn, then the continuous
#: columns refined again where something moved).
LOCAL_ROUNDS = 4


def _cell_targets(cells: int, at: int) -> list[int]:
    if cells <= ALL_CELLS:
        return [k for k in range(cells) if k != at]
    out, step = [], 1
    while step < cells:
        out += [k for k in (at - step, at + step) if 0 <= k < cells]
        step *= 2
    return out


def coordinate_moves(enc: Encoder, X: np.ndarray, param: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows that differ from a row of X in discrete parameter `param` alone (every other choice of a
    categorical, other cells of a stepped column), their activity, and the row of X each came from."""
    rows, origin = [], []
    for r, x in enumerate(X):
        if param in enc.onehot:
            sl = enc.onehot[param]
            if not x[sl].any():  # inactive
                continue
            for j in range(sl.start, sl.stop):
                if x[j] != 1.0:
                    y = x.copy()
                    y[sl] = 0.0
                    y[j] = 1.0
                    rows.append(y)
                    origin.append(r)
        else:
            c, cells = enc.numeric_col[param], enc.numeric[param].cells
            if c in enc.masked_cols and x[c] == 0.0:
                continue
            for k in _cell_targets(cells, min(int(x[c] * cells), cells - 1)):
                y = x.copy()
                y[c] = (k + 0.5) / cells
                rows.append(y)
                origin.append(r)
    if not rows:
        return np.zeros((0, enc.n_cols)), np.zeros((0, enc.n_params), dtype=bool), np.zeros(0, dtype=int)
    Y = np.asarray(rows)
    _wake_children(enc, Y)
    Y, A = enc.repair(Y)
    return Y, A, np.asarray(origin)


def local_search(enc: Encoder, acq: Acquisition, X: np.ndarray, act: np.ndarray, value: np.ndarray,
                 maxiter: int) -> Candidates:
    """Coordinate ascent over the discrete parameters from each row (each in turn takes its best value given
    the others), alternating with L-BFGS-B on the continuous columns of the rows that moved, until a round
    moves nothing: the relaxation that refine optimises puts an integer or a choice where the smooth
    surrogate peaks, which after snapping is often not where the acquisition does. Every row scored on the
    way, best first."""
    X, act, value = X.copy(), act.copy(), value.copy()
    seen = [Candidates(X.copy(), act.copy(), value.copy())]
    for _ in range(LOCAL_ROUNDS):
        moved = np.zeros(len(X), dtype=bool)
        for param in enc.discrete_params:
            Y, AY, origin = coordinate_moves(enc, X, param)
            if not len(Y):
                continue
            vy = acq(Y, enc.col_active(AY), None)[0]
            seen.append(Candidates(Y, AY, vy))
            order = np.lexsort((-vy, origin))
            first = order[np.r_[True, origin[order][1:] != origin[order][:-1]]]
            better = first[vy[first] > value[origin[first]] + 1e-12]
            rows = origin[better]
            X[rows], act[rows], value[rows] = Y[better], AY[better], vy[better]
            moved[rows] = True
        if not moved.any():
            break
        rows = np.flatnonzero(moved)
        if len(enc.free_cols):
            Xr, Ar = enc.repair(refine(enc, acq, X[rows], act[rows], maxiter))
            vr = acq(Xr, enc.col_active(Ar), None)[0]
            up = vr > value[rows]
            X[rows[up]], act[rows[up]], value[rows[up]] = Xr[up], Ar[up], vr[up]
            seen.append(Candidates(Xr, Ar, vr))
    return Candidates(np.vstack([c.X for c in seen]), np.vstack([c.act for c in seen]),
                      np.concatenate([c.value for c in seen])).sorted()


def refine(enc: Encoder, acq: Acquisition, X: np.ndarray, act: np.ndarray, maxiter: int) -> np.ndarray:
    """L-BFGS-B on the continuous columns of all rows at once; inactive columns stay fixed."""
    from scipy import optimize  # here, not at import: it would slow every controller start

    cc = enc.free_cols
    if not len(cc) or not len(X):
        return X
    colact = enc.col_active(act)
    free = colact[:, cc] > 0
    shape = (len(X), len(cc))
    bounds = [(0.0, 1.0) if f else (x, x) for f, x in zip(free.ravel(), X[:, cc].ravel(), strict=True)]

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        Z = X.copy()
        Z[:, cc] = v.reshape(shape)
        value, grad = acq(Z, colact, cc)
        return -float(value.sum()), -(grad * free).ravel()

    res = optimize.minimize(f, X[:, cc].ravel(), jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": maxiter})
    out = X.copy()
    out[:, cc] = np.clip(res.x.reshape(shape), 0.0, 1.0)
    return out


def maximize(enc: Encoder, acq: Acquisition, rng: np.random.Generator, centers: np.ndarray, *,
             raw: int, starts: int, local: int, maxiter: int = 40) -> Candidates:
    """Every candidate scored on the way, best first."""
    Xr, Ar = enc.from_cube(rng.random((raw, enc.n_params)))
    Xl, Al = perturb(enc, centers, local, rng)
    X, act = np.vstack([Xr, Xl]), np.vstack([Ar, Al])
    value = acq(X, enc.col_active(act), None)[0]
    pool = Candidates(X, act, value).sorted()
    _, first = np.unique(pool.X[: 4 * starts], axis=0, return_index=True)
    top = np.sort(first)[:starts]
    Xo, Ao = enc.repair(refine(enc, acq, pool.X[top], pool.act[top], maxiter))
    vo = acq(Xo, enc.col_active(Ao), None)[0]
    found = local_search(enc, acq, Xo, Ao, vo, maxiter)
    return Candidates(np.vstack([found.X, pool.X]), np.vstack([found.act, pool.act]),
                      np.concatenate([found.value, pool.value])).sorted()
