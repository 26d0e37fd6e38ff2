"""Which observations are "good" for a Parzen estimator when there are several objectives or constraints.

MOTPE's split (Ozaki et al. 2020): feasible results before infeasible ones
(these by how far they break the constraints), feasible ones by
non-domination rank, and the rank that does not fit whole cut by hypervolume
subset selection: greedily, the member that adds the most volume to what was
already chosen of it, so the good set spreads along the front instead of
bunching where results are dense. The volumes are exact for two objectives;
for three or more (where most results are non-dominated and exact volumes
cost seconds per suggestion) they are counted on GAIN_SAMPLES fixed
quasi-random points of the box, the same points every time, so the choice
stays deterministic.
"""

from __future__ import annotations

import math

import numpy as np

from nestor_controller.samplers.multiobjective.hypervolume import hypervolume, reference_point
from nestor_controller.samplers.multiobjective.pareto import non_dominated_ranks

#: Points of the box that estimate volume gains with three or more objectives.
GAIN_SAMPLES = 4096


def greedy_hypervolume_subset(F: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` rows of F chosen one at a time for the most hypervolume added (ties: lower index)."""
    ref = reference_point(F)
    if F.shape[1] > 2:
        return _greedy_sampled(F, ref, count)
    chosen: list[int] = []
    left = list(range(len(F)))
    while len(chosen) < count:
        base = hypervolume(F[chosen], ref) if chosen else 0.0
        gains = [hypervolume(F[[*chosen, i]], ref) - base for i in left]
        best = left[int(np.argmax(gains))]
        chosen.append(best)
        left.remove(best)
    return np.asarray(chosen, dtype=int)


def _greedy_sampled(F: np.ndarray, ref: np.ndarray, count: int) -> np.ndarray:
    from scipy.stats import qmc  # here: scipy.stats takes a second to import at every start

    lo = F.min(axis=0)
    points = lo + qmc.Halton(d=F.shape[1], scramble=False).random(GAIN_SAMPLES) * (ref - lo)
    dominates = (F[None, :, :] <= points[:, None, :]).all(axis=2)  # (samples, rows)
    covered = np.zeros(len(points), dtype=bool)
    chosen: list[int] = []
    left = np.ones(len(F), dtype=bool)
    while len(chosen) < count:
        gains = np.where(left, (dominates & ~covered[:, None]).sum(axis=0), -1)
        best = int(np.argmax(gains))
        chosen.append(best)
        left[best] = False
        covered |= dominates[:, best]
    return np.asarray(chosen, dtype=int)


def split_good_many(F: np.ndarray, violation: np.ndarray, gamma: float, max_good: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the good and the bad rows of F (losses) with their total constraint violations."""
    n = len(F)
    n_good = max(1, min(max_good, math.ceil(gamma * n)))
    feasible = np.flatnonzero(violation <= 0)
    infeasible = np.flatnonzero(violation > 0)
    infeasible = infeasible[np.argsort(violation[infeasible], kind="stable")]
    if len(feasible) < n_good:
        good = np.concatenate([feasible, infeasible[:n_good - len(feasible)]])
    elif F.shape[1] == 1:
        good = feasible[np.argsort(F[feasible, 0], kind="stable")[:n_good]]
    else:
        rank = non_dominated_ranks(F[feasible], needed=n_good)
        picked: list[int] = []
        for r in range(int(rank.max()) + 1):
            members = feasible[rank == r]
            room = n_good - len(picked)
            if len(members) <= room:
                picked.extend(members.tolist())
            else:
                picked.extend(members[greedy_hypervolume_subset(F[members], room)].tolist())
            if len(picked) >= n_good:
                break
        good = np.asarray(picked, dtype=int)
    good = np.sort(good)
    bad = np.setdiff1d(np.arange(n), good, assume_unique=True)
    return good, bad
