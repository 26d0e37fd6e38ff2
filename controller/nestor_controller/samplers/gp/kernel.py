"""The Matern-5/2 kernel with one lengthscale per parameter, over encoded rows.

Distances are weighted squared distances between encoded rows: a numeric
column counts (a - b)^2 / lengthscale^2; a categorical parameter counts 1 /
lengthscale^2 when the choices differ (its one-hot columns, weighted by a
half each); a conditional column where only one of the two rows is active
counts as the whole range apart, and where both are inactive as equal. All
of it is a handful of matrix products, so thousands of candidates against a
thousand observations cost milliseconds.
"""

from __future__ import annotations

import math

import numpy as np

from nestor_controller.samplers.encoding import Encoder

SQRT5 = math.sqrt(5.0)


def matern52(r2: np.ndarray, variance: float) -> tuple[np.ndarray, np.ndarray]:
    """k(r) and q with dk/d(r^2) = -q / 2 (the factor every gradient needs)."""
    r = np.sqrt(np.maximum(r2, 0.0))
    e = variance * np.exp(-SQRT5 * r)
    q = (5.0 / 3.0) * e * (1.0 + SQRT5 * r)
    k = e * (1.0 + SQRT5 * r + (5.0 / 3.0) * r2)
    return k, q


class Geometry:
    """How an encoder's columns enter the distance."""

    def __init__(self, enc: Encoder) -> None:
        self.enc = enc
        self.n_params = enc.n_params
        self.col_param = enc.col_param
        #: One-hot columns count half: two differ when the choices do.
        self.col_scale = np.ones(enc.n_cols)
        for sl in enc.onehot.values():
            self.col_scale[sl] = 0.5
        self.conditional = len(enc.masked_cols) > 0

    def col_weights(self, lengthscales: np.ndarray) -> np.ndarray:
        return self.col_scale / np.asarray(lengthscales)[self.col_param] ** 2

    def sq_dist(self, Z: np.ndarray, Az: np.ndarray, X: np.ndarray, Ax: np.ndarray, wc: np.ndarray) -> np.ndarray:
        """Weighted squared distances (m, n) between rows Z and X with column activity Az, Ax."""
        Zw = Z * wc
        if self.conditional:
            r2 = ((Zw * Z) @ Ax.T + Az @ (X * X * wc).T - 2.0 * Zw @ X.T
                  + (Az @ wc)[:, None] + (Ax @ wc)[None, :] - 2.0 * (Az * wc) @ Ax.T)
        else:
            r2 = (Zw * Z).sum(1)[:, None] + (X * X * wc).sum(1)[None, :] - 2.0 * Zw @ X.T
        return np.maximum(r2, 0.0)

    def param_sq_dists(self, X: np.ndarray, Ax: np.ndarray) -> np.ndarray:
        """(params, n, n) unweighted squared distances per parameter, exact (for fitting lengthscales)."""
        n = len(X)
        S = np.zeros((self.n_params, n, n))
        for c in range(X.shape[1]):
            d = X[:, c][:, None] - X[:, c][None, :]
            contrib = d * d * self.col_scale[c]
            if self.conditional:
                a = Ax[:, c]
                both = a[:, None] * a[None, :]
                contrib = contrib * both + (a[:, None] + a[None, :] - 2.0 * both) * self.col_scale[c]
            S[self.col_param[c]] += contrib
        return S
