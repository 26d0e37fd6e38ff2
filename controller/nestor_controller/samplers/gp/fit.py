"""GP hyperparameters by maximum a posteriori: marginal likelihood times priors.

The vector is (log lengthscale per parameter, log signal variance, log noise
variance), over standardised outputs and unit-cube inputs. The priors keep a
fit on few points sane: lengthscales log-normal around a value that grows
with the dimension (in more dimensions a point's neighbours are further
away, so a short lengthscale would explain nothing), signal variance around
1 (the outputs are standardised), noise log-normal around a small value so
that deterministic objectives are interpolated and noisy ones still smoothed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from nestor_controller.samplers.gp.kernel import matern52

JITTER = 1e-9
LOG_LS_BOUNDS = (math.log(1e-3), math.log(1e2))
LOG_VAR_BOUNDS = (math.log(1e-2), math.log(1e2))
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(2.0))


@dataclass(frozen=True)
class Prior:
    """Normal priors on the log hyperparameters: (mean, sd) each."""

    lengthscale: tuple[float, float]
    variance: tuple[float, float] = (0.0, 1.0)
    noise: tuple[float, float] = (math.log(1e-3), 2.0)

    @classmethod
    def for_dimension(cls, n_params: int) -> Prior:
        return cls(lengthscale=(math.log(0.25) + 0.5 * math.log(max(1, n_params)), 1.0))

    def mode(self, n_params: int) -> np.ndarray:
        return np.array([self.lengthscale[0]] * n_params + [self.variance[0], self.noise[0]])

    def arrays(self, n_params: int) -> tuple[np.ndarray, np.ndarray]:
        mu = self.mode(n_params)
        sd = np.array([self.lengthscale[1]] * n_params + [self.variance[1], self.noise[1]])
        return mu, sd


def bounds(n_params: int) -> list[tuple[float, float]]:
    return [LOG_LS_BOUNDS] * n_params + [LOG_VAR_BOUNDS, LOG_NOISE_BOUNDS]


def neg_log_posterior(theta: np.ndarray, S: np.ndarray, y: np.ndarray, prior: Prior) -> tuple[float, np.ndarray]:
    P = S.shape[0]
    n = len(y)
    w = np.exp(-2.0 * theta[:P])
    variance, noise = math.exp(theta[P]), math.exp(theta[P + 1])
    r2 = np.tensordot(w, S, axes=1)
    k, q = matern52(r2, variance)
    K = k.copy()
    K[np.diag_indices(n)] += noise + JITTER
    try:
        L = linalg.cholesky(K, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = linalg.cho_solve((L, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * math.log(2 * math.pi)
    Kinv = linalg.cho_solve((L, True), np.eye(n), check_finite=False)
    W = np.outer(alpha, alpha) - Kinv
    grad = np.empty_like(theta)
    # d(log likelihood)/d(theta) = tr(W dK) / 2, with dK per lengthscale = q * w_p * S_p.
    grad[:P] = -0.5 * w * np.tensordot(S, W * q, axes=([1, 2], [0, 1]))
    grad[P] = -0.5 * float((W * k).sum())
    grad[P + 1] = -0.5 * noise * float(np.trace(W))
    mu, sd = prior.arrays(P)
    z = (theta - mu) / sd
    return nll + 0.5 * float(z @ z), grad + z / sd


def fit_map(S: np.ndarray, y: np.ndarray, starts: Sequence[np.ndarray], prior: Prior,
            maxiter: int = 200) -> np.ndarray:
    """The best of L-BFGS-B runs from each start (deterministic for given inputs)."""
    return fit_map_value(S, y, starts, prior, maxiter)[0]


def fit_map_value(S: np.ndarray, y: np.ndarray, starts: Sequence[np.ndarray], prior: Prior,
                  maxiter: int = 200) -> tuple[np.ndarray, float]:
    """fit_map's hyperparameters and the negative log posterior there."""
    from scipy import optimize  # here, not at import: it would slow every controller start

    P = S.shape[0]
    box = bounds(P)
    lo, hi = np.array(box).T
    best, best_value = None, math.inf
    for start in starts:
        x0 = np.clip(np.asarray(start, dtype=float), lo, hi)
        res = optimize.minimize(neg_log_posterior, x0, args=(S, y, prior), jac=True, method="L-BFGS-B",
                                bounds=box, options={"maxiter": maxiter})
        if res.fun < best_value:
            best, best_value = np.clip(res.x, lo, hi), float(res.fun)
    assert best is not None
    return best, best_value
