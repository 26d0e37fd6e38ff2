"""Maximising the acquisition over the encoded space.

Many cheap candidates first (uniform draws, and perturbations of the best
observed points, where improvement usually is), scored in one batch; the
best few are refined together by L-BFGS-B on their numeric columns (one
problem whose variables are all the starts: the sum separates, and one
batched evaluation replaces many small ones); integers and cells are then
snapped, and each categorical choice and neighbouring integer of the best
refined points is tried. Categorical columns never move continuously.
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
    cc = enc.continuous_cols
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


def neighbours(enc: Encoder, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every other choice of each categorical, and the next cell up and down of each stepped column."""
    rows = []
    for x in X:
        for sl in enc.onehot.values():
            for j in range(sl.start, sl.stop):
                if x[j] == 1.0 or not x[sl].any():
                    continue
                y = x.copy()
                y[sl] = 0.0
                y[j] = 1.0
                rows.append(y)
        for i, c in enc.numeric_col.items():
            cells = enc.numeric[i].cells
            if cells > 1 and not (c in enc.masked_cols and x[c] == 0.0):
                for step in (-1.0 / cells, 1.0 / cells):
                    if 0.0 < x[c] + step < 1.0:
                        y = x.copy()
                        y[c] += step
                        rows.append(y)
    if not rows:
        return np.zeros((0, enc.n_cols)), np.zeros((0, enc.n_params), dtype=bool)
    Y = np.asarray(rows)
    _wake_children(enc, Y)
    return enc.repair(Y)


def refine(enc: Encoder, acq: Acquisition, X: np.ndarray, act: np.ndarray, maxiter: int) -> np.ndarray:
    """L-BFGS-B on the numeric columns of all rows at once; inactive columns stay fixed."""
    from scipy import optimize  # here, not at import: it would slow every controller start

    cc = enc.continuous_cols
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
    best = np.argsort(-vo, kind="stable")[:3]
    Xn, An = neighbours(enc, Xo[best])
    vn = acq(Xn, enc.col_active(An), None)[0] if len(Xn) else np.zeros(0)
    return Candidates(np.vstack([Xo, Xn, pool.X]), np.vstack([Ao, An, pool.act]),
                      np.concatenate([vo, vn, pool.value])).sorted()
