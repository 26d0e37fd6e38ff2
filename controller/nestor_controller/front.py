"""The study's progress with several objectives: the hypervolume of its feasible Pareto front.

The reference point is the spec's where given (Objective.reference); each
objective without one takes the worst value among the first REFERENCE_TRIALS
feasible results, pushed out by a tenth of their range. That depends only on
the history, which a restarted controller rebuilds in the same order, so the
reference is derived again rather than stored, and it stops moving once those
trials are in (from then on a study's hypervolume only grows).

The front is kept up to date one result at a time (a result dominated by the
front changes nothing), so a study of 100,000 trials pays for its front, not
for its history, at every ended trial.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.multiobjective.hypervolume import hypervolume, reference_point

#: Feasible results the derived reference is taken from.
REFERENCE_TRIALS = 10


class FrontTracker:
    """Hypervolume and reference point of a growing history, updated with what was appended since."""

    def __init__(self, objectives: Sequence[ObjectiveDef]) -> None:
        self.objectives = list(objectives)
        self._seen = 0
        self._first: list[np.ndarray] = []
        self._front = np.zeros((0, len(self.objectives)))
        self._answer: tuple[float, list[float]] | None = None
        self._stale = False

    def summary(self, history: Sequence[Observation]) -> tuple[float, list[float]] | None:
        """(hypervolume, reference point in objective units), or None with one objective or before a feasible
        result."""
        if len(self.objectives) < 2:
            return None
        for o in history[self._seen:]:
            if o.values is not None and o.feasible:
                self._add(np.asarray([d.loss(v) for d, v in zip(self.objectives, o.values, strict=True)]))
        self._seen = len(history)
        if self._stale:
            self._answer = self._compute()
            self._stale = False
        return self._answer

    def _add(self, f: np.ndarray) -> None:
        if len(self._first) < REFERENCE_TRIALS:
            self._first.append(f)
            self._stale = True
        front = self._front
        if len(front) and ((front <= f).all(axis=1) & (front < f).any(axis=1)).any():
            return
        keep = ~((f <= front).all(axis=1) & (f < front).any(axis=1))
        self._front = np.vstack([front[keep], f[None]])
        self._stale = True

    def _compute(self) -> tuple[float, list[float]]:
        derived = reference_point(np.asarray(self._first))
        ref = np.asarray([derived[j] if o.reference is None else o.loss(o.reference)
                          for j, o in enumerate(self.objectives)])
        units = [o.loss(float(r)) for o, r in zip(self.objectives, ref, strict=True)]  # loss() is its own inverse
        return hypervolume(self._front, ref), units
