"""Standard optimization test functions (numpy only), with their domains and known optima."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticFunction:
    name: str
    fn: Callable[[np.ndarray], float]
    lower: float | Sequence[float]
    upper: float | Sequence[float]
    #: argmin per dimension: one value repeated, or the whole point when the dimension is fixed.
    argmin_point: float | Sequence[float]
    #: optimum(dim)
    optimum_of: Callable[[int], float]
    fixed_dim: int | None = None
    min_dim: int = 1

    def check_dim(self, dim: int) -> int:
        if self.fixed_dim is not None and dim != self.fixed_dim:
            raise ValueError(f"function {self.name!r} has exactly {self.fixed_dim} dimensions, not {dim}")
        if dim < self.min_dim:
            raise ValueError(f"function {self.name!r} needs at least {self.min_dim} dimensions, not {dim}")
        return dim

    def bounds(self, dim: int) -> list[tuple[float, float]]:
        self.check_dim(dim)
        lo = self.lower if isinstance(self.lower, Sequence) else [self.lower] * dim
        hi = self.upper if isinstance(self.upper, Sequence) else [self.upper] * dim
        return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]

    def argmin(self, dim: int) -> np.ndarray:
        self.check_dim(dim)
        if isinstance(self.argmin_point, Sequence):
            return np.asarray(self.argmin_point, dtype=float)
        return np.full(dim, float(self.argmin_point))

    def optimum(self, dim: int) -> float:
        return self.optimum_of(self.check_dim(dim))

    def __call__(self, x: Sequence[float] | np.ndarray) -> float:
        arr = np.asarray(x, dtype=float)
        self.check_dim(arr.size)
        return float(self.fn(arr))

    def scale(self, dim: int) -> float:
        """Spread over the domain (std of a fixed sample): the unit of the fidelity bias and noise."""
        return _scale(self.name, dim)


def branin(x: np.ndarray) -> float:
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
])
_H6_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
])


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley(x: np.ndarray) -> float:
    a, b, c = 20.0, 0.2, 2 * math.pi
    return float(-a * np.exp(-b * np.sqrt(np.mean(x**2))) - np.exp(np.mean(np.cos(c * x))) + a + math.e)


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    body = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + body + tail)


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1) ** 2))


def styblinski_tang(x: np.ndarray) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


_ST_ARGMIN = -2.903534027771178
_ST_OPTIMUM_PER_DIM = styblinski_tang(np.array([_ST_ARGMIN]))  # -39.16616570...

FUNCTIONS: dict[str, SyntheticFunction] = {f.name: f for f in [
    SyntheticFunction("branin", branin, [-5.0, 0.0], [10.0, 15.0], [math.pi, 2.275],
                      lambda d: 5 / (4 * math.pi), fixed_dim=2, min_dim=2),
    SyntheticFunction("hartmann6", hartmann6, 0.0, 1.0,
                      [0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054],
                      lambda d: -3.32236801141551, fixed_dim=6, min_dim=6),
    SyntheticFunction("ackley", ackley, -32.768, 32.768, 0.0, lambda d: 0.0),
    SyntheticFunction("levy", levy, -10.0, 10.0, 1.0, lambda d: 0.0),
    SyntheticFunction("rosenbrock", rosenbrock, -5.0, 10.0, 1.0, lambda d: 0.0, min_dim=2),
    SyntheticFunction("styblinski_tang", styblinski_tang, -5.0, 5.0, _ST_ARGMIN,
                      lambda d: d * _ST_OPTIMUM_PER_DIM),
]}


def get(name: str) -> SyntheticFunction:
    try:
        return FUNCTIONS[name]
    except KeyError:
        known = ", ".join(sorted(FUNCTIONS))
        raise ValueError(f"unknown synthetic function {name!r} (known: {known})") from None


@functools.lru_cache(maxsize=64)
def _scale(name: str, dim: int) -> float:
    f = FUNCTIONS[name]
    lo, hi = np.array(f.bounds(dim)).T
    points = lo + (hi - lo) * np.random.default_rng(0).random((256, dim))
    values = np.array([f.fn(p) for p in points])
    return float(np.std(values)) or 1.0
