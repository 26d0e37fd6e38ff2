"""Learning-curve extrapolation: an ensemble of parametric curve families fitted to a partial curve.

Every family is y(x) = c + a * g(x; theta): a power law x^-alpha, an
exponential exp(-beta x / T), a logarithm log x, a hyperbola 1 / (x + kappa)
and a Weibull curve exp(-(x / lambda)^k), with T the horizon. For each family
theta runs over a fixed grid and (c, a) is the least-squares fit, which makes
the fit deterministic, vectorised and free of local optima. Each (family,
theta) is one model; the ensemble weighs them by exp(-BIC / 2) (Bayesian model
averaging with the grid as a flat prior over theta), and each predicts the
value at the horizon with the linear-regression predictive Student t
(residual noise plus the uncertainty of (c, a), which grows with the distance
extrapolated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Noise floor relative to the curve's range, so a perfectly fitting model is not infinitely sure.
NOISE_FLOOR = 1e-3


@dataclass(frozen=True)
class Forecast:
    """The ensemble's predictive distribution at the horizon: a mixture of Student t."""

    weights: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    dof: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.weights @ self.means)

    def prob_below(self, y: float) -> float:
        """P(value at the horizon < y)."""
        from scipy import stats  # here: loading scipy.stats costs every controller start a second

        return float(self.weights @ stats.t.cdf((y - self.means) / self.scales, self.dof))


def _bases(x: np.ndarray, horizon: float) -> list[tuple[np.ndarray, int]]:
    """(g of shape (models, points), nonlinear parameters per model) for every family."""
    alpha = np.geomspace(0.02, 4.0, 24)
    beta = np.geomspace(0.05, 50.0, 24)
    kappa = np.geomspace(0.01, 2.0, 16) * horizon
    lam = np.geomspace(0.02, 2.0, 12) * horizon
    k = np.array([0.5, 1.0, 2.0])
    weibull = np.exp(-(x[None, None, :] / lam[:, None, None]) ** k[None, :, None]).reshape(-1, len(x))
    return [
        (x[None, :] ** -alpha[:, None], 1),
        (np.exp(-beta[:, None] * x[None, :] / horizon), 1),
        (np.log(x)[None, :], 0),
        (1.0 / (x[None, :] + kappa[:, None]), 1),
        (weibull, 2),
    ]


def forecast(steps: np.ndarray, values: np.ndarray, horizon: float) -> Forecast | None:
    """The predictive distribution of the value at step `horizon`; None with too few points to fit."""
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    n = len(x)
    if n < 4 or horizon <= x.max():
        return None
    xs = np.append(x, horizon)
    floor = NOISE_FLOOR * max(float(np.ptp(y)), 1e-12 + 1e-6 * abs(float(y.mean())))
    means, scales, dofs, bics = [], [], [], []
    for g_all, extra in _bases(xs, horizon):
        g, g_t = g_all[:, :n], g_all[:, n]
        p = 2 + extra
        if n - p < 1:
            continue
        # Closed-form least squares of y = c + a g, one model per row.
        gm = g.mean(axis=1)
        sgg = ((g - gm[:, None]) ** 2).sum(axis=1)
        ok = sgg > 1e-12 * np.maximum(1.0, (g**2).sum(axis=1))
        if not ok.any():
            continue
        g, g_t, gm, sgg = g[ok], g_t[ok], gm[ok], sgg[ok]
        a = ((g - gm[:, None]) * (y - y.mean())[None, :]).sum(axis=1) / sgg
        c = y.mean() - a * gm
        rss = ((y[None, :] - c[:, None] - a[:, None] * g) ** 2).sum(axis=1)
        sigma2 = np.maximum(rss / (n - p), floor**2)
        # Predictive variance of a new point at the horizon under the fitted line in g.
        lever = 1.0 + 1.0 / n + (g_t - gm) ** 2 / sgg
        means.append(c + a * g_t)
        scales.append(np.sqrt(sigma2 * lever))
        dofs.append(np.full(len(a), float(n - p)))
        bics.append(n * np.log(np.maximum(rss, n * floor**2) / n) + p * np.log(n))
    if not means:
        return None
    bic = np.concatenate(bics)
    w = np.exp(-(bic - bic.min()) / 2)
    w /= w.sum()
    keep = w > 1e-8 * w.max()  # negligible models cost time and nothing else
    return Forecast(w[keep] / w[keep].sum(), np.concatenate(means)[keep], np.concatenate(scales)[keep],
                    np.concatenate(dofs)[keep])
