"""A GP posterior with fixed hyperparameters, grown one row at a time.

The model keeps W, the inverse of the Cholesky factor L of the kernel matrix
(K^-1 = W^T W): predictions are then two matrix products, with no triangular
solve per call (which the acquisition optimiser makes thousands of). Building
W is the expensive part (n^3). Between hyperparameter refits it only grows: a
new observation appends one row in n^2, and so do the fantasies for pending
trials, on a fork. W is always built the same way (one full factorisation of
the rows seen at the last refit, then one appended row per later
observation), so a controller that restarts and rebuilds it gets bit-for-bit
the same numbers as one that kept it in memory.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from nestor_controller.samplers.gp.fit import JITTER
from nestor_controller.samplers.gp.kernel import Geometry, matern52


class GPModel:
    def __init__(self, geometry: Geometry, theta: np.ndarray, X: np.ndarray, Ax: np.ndarray,
                 capacity: int = 0) -> None:
        """Factorises the kernel matrix of rows X (column activity Ax) under hyperparameters theta."""
        self.geo = geometry
        P = geometry.n_params
        self.theta = np.asarray(theta, dtype=float)
        self.lengthscales = np.exp(self.theta[:P])
        self.variance = math.exp(self.theta[P])
        self.noise = math.exp(self.theta[P + 1])
        self.wc = geometry.col_weights(self.lengthscales)
        n = len(X)
        cap = max(capacity, n, 8)
        C = X.shape[1]
        self.X = np.zeros((cap, C))
        self.Ax = np.ones((cap, C))
        self.W = np.zeros((cap, cap))
        self.n = n
        self.X[:n], self.Ax[:n] = X, Ax
        if n:
            r2 = geometry.sq_dist(X, Ax, X, Ax, self.wc)
            np.fill_diagonal(r2, 0.0)
            K, _ = matern52(r2, self.variance)
            K = 0.5 * (K + K.T)
            jitter = self.noise + JITTER
            for _ in range(8):
                try:
                    L = linalg.cholesky(K + jitter * np.eye(n), lower=True, check_finite=False)
                    break
                except linalg.LinAlgError:
                    jitter *= 10.0
            else:
                raise linalg.LinAlgError("kernel matrix is not positive definite")
            W, info = linalg.lapack.dtrtri(L, lower=1)
            if info:
                raise linalg.LinAlgError("Cholesky factor is singular")
            self.W[:n, :n] = W
        self.alpha = np.zeros(0)

    # --- growing ----------------------------------------------------------------

    def _grow(self, need: int) -> None:
        cap = len(self.W)
        if need <= cap:
            return
        new = max(need, 2 * cap)
        for name in ("X", "Ax"):
            old = getattr(self, name)
            buf = np.zeros((new, old.shape[1])) if name == "X" else np.ones((new, old.shape[1]))
            buf[:self.n] = old[:self.n]
            setattr(self, name, buf)
        W = np.zeros((new, new))
        W[:self.n, :self.n] = self.W[:self.n, :self.n]
        self.W = W

    def append(self, z: np.ndarray, az: np.ndarray) -> None:
        """Adds one row (an observation or a fantasy): L gains the row (l, d), W the row (-l W / d, 1 / d)."""
        self._grow(self.n + 1)
        n = self.n
        k, _ = self.cross(z[None, :], az[None, :])
        W = self.W[:n, :n]
        row = W @ k[0]  # the new row of L
        d = math.sqrt(max(self.variance + self.noise + JITTER - float(row @ row), JITTER))
        self.W[n, :n] = -(row @ W) / d
        self.W[n, n] = 1.0 / d
        self.X[n], self.Ax[n] = z, az
        self.n = n + 1

    def fork(self, extra: int) -> GPModel:
        """A copy with room for `extra` more rows (for fantasies), leaving this one untouched."""
        twin = object.__new__(GPModel)
        twin.__dict__.update(self.__dict__)
        n, cap = self.n, self.n + max(extra, 1)
        twin.X = np.zeros((cap, self.X.shape[1]))
        twin.Ax = np.ones((cap, self.X.shape[1]))
        twin.W = np.zeros((cap, cap))
        twin.X[:n], twin.Ax[:n], twin.W[:n, :n] = self.X[:n], self.Ax[:n], self.W[:n, :n]
        return twin

    # --- predicting ---------------------------------------------------------------

    def cross(self, Z: np.ndarray, Az: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r2 = self.geo.sq_dist(Z, Az, self.X[:self.n], self.Ax[:self.n], self.wc)
        return matern52(r2, self.variance)

    def set_targets(self, y: np.ndarray) -> None:
        """Targets (standardised) of the rows, in row order: the posterior mean follows them."""
        assert len(y) == self.n
        W = self.W[:self.n, :self.n]
        self.alpha = W.T @ (W @ y)

    def predict(self, Z: np.ndarray, Az: np.ndarray, grad_cols: np.ndarray | None = None
                ) -> tuple[np.ndarray, ...]:
        """Posterior mean and variance of the latent function at rows Z; with grad_cols, also their
        gradients with respect to those columns of Z."""
        n = self.n
        k, q = self.cross(Z, Az)
        W = self.W[:n, :n]
        B = k @ W.T  # rows: L^-1 k
        mu = k @ self.alpha
        var = np.maximum(self.variance - (B * B).sum(1), 1e-12 * self.variance)
        if grad_cols is None:
            return mu, var
        V = B @ W  # rows: K^-1 k
        X, Ax = self.X[:n][:, grad_cols], self.Ax[:n][:, grad_cols]
        wc = self.wc[grad_cols]
        Zc = Z[:, grad_cols]
        # dk/dz_j = -q * w_j * (z_j - x_j) over pairs where x is active in column j.
        qa = q * self.alpha[None, :]
        qv = q * V
        dmu = -wc * (Zc * (qa @ Ax) - qa @ X)
        dvar = 2.0 * wc * (Zc * (qv @ Ax) - qv @ X)
        return mu, var, dmu, dvar

    def mean(self, Z: np.ndarray, Az: np.ndarray, grad_cols: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """The posterior mean alone (and its gradient with grad_cols): a fixed prior layer of the transfer
        stack needs no variance, and skipping it saves the n^2 product per row."""
        k, q = self.cross(Z, Az)
        mu = k @ self.alpha
        if grad_cols is None:
            return mu, None
        n = self.n
        X, Ax = self.X[:n][:, grad_cols], self.Ax[:n][:, grad_cols]
        qa = q * self.alpha[None, :]
        return mu, -self.wc[grad_cols] * (Z[:, grad_cols] * (qa @ Ax) - qa @ X)
