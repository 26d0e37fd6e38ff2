"""What every method of bench/multifidelity.py is measured on: a log of evaluations and its incumbent.

A run's log lists each unit of budget spent (an epoch, a step of the synthetic
function) in the order it was spent, with the value measured then. The
incumbent is the best value among measurements at the full budget (a
configuration trained to the end), as Hyperband's papers count it; low-budget
values steer a search but are not results.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "executor"))

from nestor_executor.trainables import functions  # noqa: E402
from nestor_executor.trainables.synthetic import noise, slowness  # noqa: E402


@dataclass(frozen=True)
class Spent:
    cost: float  # budget spent up to and including this measurement
    wall: float  # seconds since the run started
    budget: float  # the step (epoch) this value was measured at
    value: float  # the error (lower is better)


def incumbent_at(log: list[Spent], max_budget: float, cost: float) -> float:
    """The best full-budget value spent within `cost` (inf if none)."""
    best = math.inf
    for e in log:
        if e.cost > cost + 1e-9:
            break
        if e.budget >= max_budget - 1e-9:
            best = min(best, e.value)
    return best


def reached(log: list[Spent], max_budget: float, target: float) -> tuple[float, float]:
    """(cost, seconds) when a full-budget value first reached `target`; (inf, inf) if it never did."""
    for e in log:
        if e.budget >= max_budget - 1e-9 and e.value <= target:
            return e.cost, e.wall
    return math.inf, math.inf


class SyntheticProblem:
    """The `synthetic` trainable's multi-fidelity function, for peers that run it in-process."""

    def __init__(self, function: str, max_budget: float, bias: float = 0.1, noise_sd: float = 0.05) -> None:
        self.f = functions.get(function)
        self.dim = self.f.fixed_dim or 2
        self.bounds = np.array(self.f.bounds(self.dim))
        self.optimum = self.f.optimum(self.dim)
        self.max_budget = max_budget
        self.bias = bias * self.f.scale(self.dim)
        self.noise_sd = noise_sd * self.f.scale(self.dim)

    def point(self, unit: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds.T
        return lo + np.clip(unit, 0.0, 1.0) * (hi - lo)

    def regret(self, x: np.ndarray, step: int, seed: int) -> float:
        """The value at `step` less the optimum, as the trainable reports it (same bias, same noise)."""
        remaining = max(0.0, 1.0 - step / self.max_budget)
        exact = self.f(x)
        value = exact + remaining * (self.bias * 2.0 * slowness(self.f, x) + self.noise_sd * noise(seed, x, step))
        return value - self.optimum
