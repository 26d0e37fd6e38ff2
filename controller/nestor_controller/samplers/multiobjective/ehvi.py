"""Expected hypervolume improvement of a Gaussian prediction (independent objectives), with its gradient.

The region a new point can add is what the front does not dominate, below
the reference point. It is cut into boxes: a grid on the first m-1
objectives at the front's coordinates, and in each cell the part below the
lowest last objective of the front points that dominate the cell's corner.
Within a box the improvement of y is a product over objectives of
(u_j - max(l_j, y_j))^+, and with independent objectives its expectation is a
product of one-dimensional ones, E[(u - max(l, Y))^+] = psi(u) - psi(l) with
psi(h) = E[(h - Y)^+] = (h - mu) Phi(z) + sigma phi(z), z = (h - mu) / sigma.
So the EHVI is exact for any number of objectives (the two-objective case is
a sum over the front's n + 1 stripes). The boxes number (n + 1)^(m - 1); a
front with more than MAX_BOXES is first thinned to the points of largest
hypervolume contribution, the only approximation. ehvi_monte_carlo is the
plain estimate that tests compare it against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nestor_controller.samplers.multiobjective.hypervolume import contributions, hypervolume
from nestor_controller.samplers.multiobjective.pareto import pareto_mask

#: Boxes of the decomposition; (n + 1)^(m - 1) for a front of n points in m objectives.
MAX_BOXES = 4096
#: Candidate rows scored at once (bounds the rows x boxes arrays).
BLOCK = 256
INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)


@dataclass
class Boxes:
    """Boxes [lower, upper) of the non-dominated region as indexes into per-objective grids of values."""

    grids: list[np.ndarray]     # objective j's boundary values, -inf first (j < m - 1)
    lower: np.ndarray           # (B, m - 1) indexes into grids
    upper: np.ndarray           # (B, m - 1)
    top: np.ndarray             # (B,) the last objective's upper bound (its lower one is -inf)


def thin(front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The front, cut to the points of largest hypervolume contribution when its boxes would be too many."""
    m = front.shape[1]
    if m == 1:
        return front
    keep = max(1, int(MAX_BOXES ** (1.0 / (m - 1))) - 1)
    if len(front) <= keep:
        return front
    order = np.argsort(-contributions(front, ref), kind="stable")[:keep]
    return front[np.sort(order)]


def decompose(front: np.ndarray, ref: np.ndarray) -> Boxes:
    front = front[(front < ref).all(axis=1)]
    front = front[pareto_mask(front)] if len(front) else front
    m = len(ref)
    grids = [np.concatenate([[-np.inf], np.unique(front[:, j]), [ref[j]]]) for j in range(m - 1)]
    if m == 1:  # one box: below the best value (EHVI is EI then)
        cells, corners = np.zeros((1, 0), dtype=int), np.zeros((1, 0))
    else:
        mesh = np.meshgrid(*[np.arange(len(g) - 1) for g in grids], indexing="ij")
        cells = np.stack(mesh, axis=-1).reshape(-1, m - 1)
        corners = np.stack([grids[j][cells[:, j]] for j in range(m - 1)], axis=1)
    top = np.full(len(corners), ref[-1])
    if len(front):
        covers = (front[None, :, : m - 1] <= corners[:, None, :]).all(axis=2)
        top = np.minimum(top, np.where(covers, front[None, :, -1], np.inf).min(axis=1))
    return Boxes(grids, cells, cells + 1, top)


def _psi(h: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """psi(h) and its derivatives in mu and sigma; 0 at h = -inf."""
    from scipy import special  # here, not at the top: a fifth of a second off every controller start
    with np.errstate(invalid="ignore"):
        z = (h - mu) / sigma
    finite = np.isfinite(h)
    z = np.where(finite, z, 0.0)
    cdf = special.ndtr(z)
    pdf = np.exp(-0.5 * z * z) * INV_SQRT_2PI
    value = np.where(finite, np.where(finite, h - mu, 0.0) * cdf + sigma * pdf, 0.0)
    return value, np.where(finite, -cdf, 0.0), np.where(finite, pdf, 0.0)


def ehvi(mu: np.ndarray, sigma: np.ndarray, boxes: Boxes, grad: bool = False) -> tuple[np.ndarray, ...]:
    """EHVI at predictions mu, sigma (C, m); with grad, also its derivatives in mu and in sigma (C, m) each."""
    C, m = mu.shape
    value = np.zeros(C)
    dmu, dsig = np.zeros((C, m)), np.zeros((C, m))
    for s in range(0, C, BLOCK):
        rows = slice(s, s + BLOCK)
        factors, d_mu, d_sig = [], [], []
        for j in range(m - 1):
            g = boxes.grids[j][None, :]
            v, a, b = _psi(g, mu[rows, j:j + 1], sigma[rows, j:j + 1])
            lo, up = boxes.lower[:, j], boxes.upper[:, j]
            factors.append(v[:, up] - v[:, lo])
            d_mu.append(a[:, up] - a[:, lo])
            d_sig.append(b[:, up] - b[:, lo])
        v, a, b = _psi(boxes.top[None, :], mu[rows, -1:], sigma[rows, -1:])
        factors.append(v)
        d_mu.append(a)
        d_sig.append(b)
        value[rows] = np.prod(factors, axis=0).sum(axis=1)
        if grad:
            for j in range(m):
                others = np.prod([f for i, f in enumerate(factors) if i != j], axis=0) if m > 1 else 1.0
                dmu[rows, j] = (d_mu[j] * others).sum(axis=1)
                dsig[rows, j] = (d_sig[j] * others).sum(axis=1)
    return (value, dmu, dsig) if grad else (value,)


def ehvi_monte_carlo(mu: np.ndarray, sigma: np.ndarray, front: np.ndarray, ref: np.ndarray, samples: int,
                     rng: np.random.Generator) -> float:
    """The plain estimate at one prediction: the mean hypervolume that `samples` draws add to the front."""
    base = hypervolume(front, ref)
    draws = mu + sigma * rng.standard_normal((samples, len(mu)))
    return float(np.mean([hypervolume(np.vstack([front, y]), ref) - base for y in draws]))
