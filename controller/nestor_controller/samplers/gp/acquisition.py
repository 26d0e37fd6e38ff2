"""Log expected improvement, numerically stable however far below the incumbent.

EI = sigma * h(z) with z = (best - mu) / sigma and h(z) = z Phi(z) + phi(z).
Far from the incumbent (z very negative) h underflows to 0 and its gradient
with it, which leaves an optimiser on a flat plateau; log h stays finite and
sloped. For z < -1, h = phi(z) (1 - u m(u)) with u = -z and m the Mills ratio
Phi(-u) / phi(u) = sqrt(pi / 2) erfcx(u / sqrt 2), which scipy evaluates
without underflow; beyond u = 1e3 the cancellation in 1 - u m(u) is replaced
by its asymptotic series.
"""

from __future__ import annotations

import math

import numpy as np

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log h(z) and d log h / dz = Phi(z) / h(z)."""
    from scipy import special  # here, not at the top: a fifth of a second off every controller start
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    slope = np.empty_like(z)
    near = z > -1.0
    zn = z[near]
    cdf = special.ndtr(zn)
    h = zn * cdf + np.exp(-0.5 * zn * zn - HALF_LOG_2PI)
    out[near] = np.log(h)
    slope[near] = cdf / h
    u = -z[~near]
    log_phi = -0.5 * u * u - HALF_LOG_2PI
    mid = u < 1e3
    um = u[mid]
    m = math.sqrt(math.pi / 2) * special.erfcx(um / math.sqrt(2))
    t = 1.0 - um * m
    far = u[~mid]
    inv2 = 1.0 / (far * far)
    t_far = inv2 * (1.0 - 3.0 * inv2 + 15.0 * inv2 * inv2)
    tail = np.empty_like(u)
    tail_slope = np.empty_like(u)
    tail[mid] = np.log(t)
    tail_slope[mid] = m / t
    tail[~mid] = np.log(t_far)
    tail_slope[~mid] = far * (1.0 + 2.0 * inv2)
    out[~near] = log_phi + tail
    slope[~near] = tail_slope
    return out, slope


def log_ei(mu: np.ndarray, var: np.ndarray, best: float, dmu: np.ndarray | None = None,
           dvar: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """log EI for minimisation, and its gradient when the gradients of mu and var are given."""
    sigma = np.sqrt(var)
    z = (best - mu) / sigma
    lh, slope = log_h(z)
    value = np.log(sigma) + lh
    if dmu is None or dvar is None:
        return (value,)
    dsigma = dvar / (2.0 * sigma[:, None])
    dz = (-dmu - z[:, None] * dsigma) / sigma[:, None]
    return value, dsigma / sigma[:, None] + slope[:, None] * dz
