"""Transfer from prior studies for the GP: a stack of GPs on the priors, this study's GP on its residuals.

The stacked residual approach of OSS Vizier. A GP is fitted on the first
prior's losses (standardised, warped, per prior: the tasks' scales are not
comparable), the next one's GP on its residuals against the mean of the stack
so far, and so on; the stack's mean m(x) is the sum of the layers' means. The
study's own model then only has to learn how its task differs from the stack.

The last layer has the last word wherever its prior has results (the stack
there reproduces that prior), so the priors, which come nearest first, are
stacked in reverse: the nearest one on top, just under the study, the farther
ones filling in where it has no results.

Its own values are on a scale of their own too, so the study regresses its
standardised losses on the stack's mean, z ~ a + b m(x), with a ridge pull
towards (a, b) = (0, 1) worth a couple of points, and b clipped at 0: a prior
that the study's data contradict (a negated one) is switched off rather than
followed backwards. The residual GP is fitted on z - a - b m(X); the
prediction is a + b m(x) plus its mean, with its variance.

The stack is fitted once per sampler instance from the persisted priors
(deterministically, so a restarted controller derives the same one) and is
never stored in the state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.gp.fit import Prior, fit_map
from nestor_controller.samplers.gp.kernel import Geometry
from nestor_controller.samplers.gp.model import GPModel
from nestor_controller.samplers.model_based import losses

#: Points of one prior the stack fits on: its best ones and an even subsample of the rest.
PRIOR_MAX = 300
PRIOR_BEST = 60
#: L-BFGS-B iterations of a prior's hyperparameter fit (one per prior, once per sampler instance).
PRIOR_MAXITER = 100
#: The weight, in points, of the pull of (a, b) towards (0, 1): the stack as it is.
RIDGE = 2.0
#: Prior rows whose neighbourhoods seed the acquisition's local candidates.
CENTERS = 5


def cap_rows(y: np.ndarray) -> np.ndarray:
    """Indices (sorted) of at most PRIOR_MAX rows: the PRIOR_BEST lowest y, then an even spread of the rest."""
    n = len(y)
    if n <= PRIOR_MAX:
        return np.arange(n)
    best = np.argsort(y, kind="stable")[:PRIOR_BEST]
    rest = np.setdiff1d(np.arange(n), best)
    pick = rest[np.linspace(0, len(rest) - 1, PRIOR_MAX - PRIOR_BEST).round().astype(int)]
    return np.union1d(best, pick)


@dataclass
class Layer:
    model: GPModel
    #: The constant the layer's GP sits on (the mean of its targets): residuals need not average 0.
    offset: float


class PriorStack:
    """The priors' GPs, each on the residuals of those before it."""

    def __init__(self, layers: list[Layer], centers: np.ndarray, best: float) -> None:
        self.layers = layers
        #: The nearest prior's best rows, and the lowest stack mean at the priors' rows (the incumbent before
        #: the study has results of its own).
        self.centers = centers
        self.best = best

    @property
    def theta(self) -> np.ndarray:
        return self.layers[-1].model.theta

    def mean(self, Z: np.ndarray, colact: np.ndarray,
             cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """m at rows Z, and with cols its gradient with respect to those columns."""
        mu = np.zeros(len(Z))
        grad = None if cols is None else np.zeros((len(Z), len(cols)))
        for layer in self.layers:
            m, g = layer.model.mean(Z, colact, cols)
            mu += m + layer.offset
            if grad is not None and g is not None:
                grad += g
        return mu, grad


def build_stack(priors: Sequence[object], objectives: Sequence[ObjectiveDef], encoder: Encoder,
                geometry: Geometry, prior: Prior, scale: Callable[[np.ndarray], np.ndarray]) -> PriorStack | None:
    """The stack over the priors with at least two results (None when none has): `scale` standardises a
    prior's losses (warped or not, as the study's own)."""
    layers: list[Layer] = []
    centers = np.zeros((0, encoder.n_cols))
    best = np.inf
    start = prior.mode(encoder.n_params)
    for p in reversed(priors):
        valid: list[Observation] = [o for o in getattr(p, "observations", ()) if o.values is not None]
        if len(valid) < 2:
            continue
        y = losses(objectives, valid)
        idx = cap_rows(y)
        X, act = encoder.encode([valid[i].params for i in idx])
        colact = encoder.col_active(act)
        y = scale(y[idx])
        stack = PriorStack(layers, centers, best)
        r = y - stack.mean(X, colact)[0] if layers else y
        offset = float(r.mean())
        S = geometry.param_sq_dists(X, colact)
        theta = fit_map(S, r - offset, [start], prior, maxiter=PRIOR_MAXITER)
        model = GPModel(geometry, theta, X, colact)
        model.set_targets(r - offset)
        layers.append(Layer(model, offset))
        centers = X[np.argsort(y, kind="stable")[:CENTERS]]  # the nearest prior's, once the loop is done
        best = min(best, float(PriorStack(layers, centers, best).mean(X, colact)[0].min()))
    return PriorStack(layers, centers, best) if layers else None


def regress(z: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """(a, b) of z ~ a + b m by least squares pulled towards (0, 1) with weight RIDGE, b at least 0."""
    n = len(z)
    A = np.array([[n + RIDGE, m.sum()], [m.sum(), m @ m + RIDGE]])
    rhs = np.array([z.sum(), m @ z + RIDGE])
    a, b = np.linalg.solve(A, rhs)
    if b < 0.0:  # the data say the prior points the wrong way: ignore it rather than follow it backwards
        return float(z.sum() / (n + RIDGE)), 0.0
    return float(a), float(b)
