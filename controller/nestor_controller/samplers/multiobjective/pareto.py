"""Pareto order on loss vectors (every objective minimised): ranks, crowding, feasibility first.

Everything here takes an (n, m) array of losses (ObjectiveDef.loss of each
value), so a maximised objective needs no special case.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Observation

#: Rows compared at once when counting dominators (bounds the n x chunk x m temporary).
CHUNK = 512


def loss_matrix(objectives: Sequence[ObjectiveDef], observations: Sequence[Observation]) -> np.ndarray:
    """The (n, m) losses of observations that have values."""
    rows = [[o.loss(v) for o, v in zip(objectives, obs.values, strict=True)]
            for obs in observations if obs.values is not None]
    return np.asarray(rows, dtype=float).reshape(len(rows), len(objectives))


def total_violation(observations: Sequence[Observation]) -> np.ndarray:
    """Sum of the positive constraint violations of each observation with values (0: feasible)."""
    return np.asarray([sum(max(0.0, v) for v in obs.violations) for obs in observations if obs.values is not None],
                      dtype=float)


def dominated_by_any(F: np.ndarray, by: np.ndarray) -> np.ndarray:
    """For each row of F, whether some row of `by` dominates it."""
    out = np.zeros(len(F), dtype=bool)
    if not len(by):
        return out
    for s in range(0, len(F), CHUNK):
        block = F[s:s + CHUNK, None, :]
        le = (by[None, :, :] <= block).all(axis=2)
        lt = (by[None, :, :] < block).any(axis=2)
        out[s:s + CHUNK] = (le & lt).any(axis=1)
    return out


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Rows no other row dominates (duplicates of a front point are on the front too)."""
    return ~dominated_by_any(F, F)


def non_dominated_ranks(F: np.ndarray, needed: int | None = None) -> np.ndarray:
    """Front index of each row (0 = the Pareto front), peeling fronts; rows left when `needed` rows are
    ranked get the next rank (a caller filling a population of `needed` never looks at them)."""
    n = len(F)
    rank = np.full(n, -1, dtype=int)
    left = np.arange(n)
    r = 0
    while len(left):
        front = left[pareto_mask(F[left])]
        rank[front] = r
        left = np.setdiff1d(left, front, assume_unique=True)
        r += 1
        if needed is not None and n - len(left) >= needed:
            rank[left] = r
            break
    return rank


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """Deb's crowding distance within one front: the sum over objectives of the normalised gap between each
    row's neighbours; the extremes of every objective get infinity, so they are always kept."""
    n, m = F.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        col = F[order, j]
        span = col[-1] - col[0]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (col[2:] - col[:-2]) / span
    return d


def constrained_ranks(F: np.ndarray, violation: np.ndarray, needed: int | None = None) -> np.ndarray:
    """Deb's constraint domination as ranks: every feasible row before every infeasible one; feasible rows by
    non-domination, infeasible ones by their total violation (each its own rank, least violated first)."""
    rank = np.empty(len(F), dtype=int)
    ok = violation <= 0
    feasible = np.flatnonzero(ok)
    rank[feasible] = non_dominated_ranks(F[feasible], needed) if len(feasible) else []
    top = int(rank[feasible].max()) + 1 if len(feasible) else 0
    bad = np.flatnonzero(~ok)
    order = np.argsort(violation[bad], kind="stable")
    rank[bad[order]] = top + np.arange(len(bad))
    return rank


def select(F: np.ndarray, violation: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` best rows: by constrained rank, the last front cut by crowding distance."""
    if len(F) <= count:
        return np.arange(len(F))
    rank = constrained_ranks(F, violation, count)
    chosen: list[int] = []
    for r in range(int(rank.max()) + 1):
        members = np.flatnonzero(rank == r)
        if len(chosen) + len(members) <= count:
            chosen.extend(members.tolist())
            continue
        crowd = crowding_distance(F[members])
        order = np.lexsort((members, -crowd))  # most isolated first; ties by index, for determinism
        chosen.extend(members[order[:count - len(chosen)]].tolist())
        break
    return np.asarray(sorted(chosen), dtype=int)
