"""BOHB's proposals (Falkner et al.): a kernel-density model per budget, plus a share of random points.

Paired with the `hyperband` scheduler (the default scheduler of `bohb`), which
allocates the budgets. The sampler sees every ended run, each with the budget
it ran to; it models the largest budget at which at least `min_points` + 2
runs ended: the best `top_fraction` of them (at least `min_points`) give the
good density l, the rest (at least `min_points`) the bad one g, both the Parzen
estimator TPE uses. Candidates are drawn from l widened by `bandwidth_factor`
and the one with the best l / g is proposed; running trials count as bad (so
parallel slots get different points). A `random_fraction` of proposals are
drawn at random whatever the model says, which keeps BOHB from being worse
than Hyperband when the model misleads. Before any budget has enough runs the
proposals come from a Sobol design.

Warm started in the "observations" mode, the priors' results (split each by
its own ranking with the same rule, and counted as full-budget results) join
both densities with a decaying weight (tpe/warm.py); before any budget has
enough runs the model is the priors' alone, and there is no Sobol design.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_KDE_CANDIDATES
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.blas import single_threaded
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.model_based import (
    DesignedSampler,
    check_candidates,
    check_single_objective,
    distinct_pick,
)
from nestor_controller.samplers.priors import OBSERVATIONS, TOP_K, prior_weight
from nestor_controller.samplers.sampling import draw_assignment
from nestor_controller.samplers.tpe.kde import ParzenEstimator
from nestor_controller.samplers.tpe.warm import PriorRows, WarmRows, append_pending, with_priors
from nestor_controller.space import Space


def budget_groups(history: Sequence[Observation]) -> dict[float, list[Observation]]:
    """Valid observations by budget (rounded, so 3.0000001 and 3 are one budget)."""
    groups: dict[float, list[Observation]] = {}
    for o in history:
        if o.values is not None:
            groups.setdefault(round(o.budget, 9), []).append(o)
    return groups


class BOHBSampler(DesignedSampler):
    name = "bohb"
    heavy: ClassVar[bool] = True
    searches_architectures = True
    multi_fidelity: ClassVar[bool] = True
    default_scheduler: ClassVar[str] = "hyperband"
    warm_modes: ClassVar[tuple[str, ...]] = (TOP_K, OBSERVATIONS)
    #: min_points: 0 means the number of parameters + 1.
    #: Lower random_fraction and bandwidth_factor than HpBandSter's (1/3 and 3): the estimator here already
    #: mixes in its prior and widens few points, and at budgets of tens of configurations the extra
    #: randomness cost more than it found (bench/multifidelity.py).
    defaults: Mapping[str, Any] = {"random_fraction": 0.1, "top_fraction": 0.15, "min_points": 0,
                                   "candidates": 64, "bandwidth_factor": 1.0, "prior_weight": 1.0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.random_fraction = setting(s, "random_fraction", float, minimum=0.0)
        self.top_fraction = setting(s, "top_fraction", float, minimum=0.0)
        self.candidates = setting(s, "candidates", int, minimum=1)
        self.bandwidth_factor = setting(s, "bandwidth_factor", float, minimum=0.0)
        self.prior_weight = setting(s, "prior_weight", float, minimum=0.0)
        self.encoder = Encoder(self.space)
        self.min_points = setting(s, "min_points", int, minimum=0) or self.encoder.n_params + 1
        self._warm = WarmRows(self._split_observations, self.prior_weight)

    def _warm_rows(self) -> PriorRows | None:
        return self._warm.get(self)

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best top_fraction (at least min_points) and the worst rest (at least min_points; the two
        overlap when there are few)."""
        order = np.argsort(y, kind="stable")
        n = len(y)
        n_good = max(self.min_points, math.ceil(self.top_fraction * n))
        n_bad = max(self.min_points, n - n_good)
        return order[:n_good], order[max(0, n - n_bad):]

    def _split_observations(self, observed: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray]:
        o = self.objectives[0]
        return self._split(np.asarray([o.loss(ob.values[0]) for ob in observed]))  # type: ignore[index]

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        check_single_objective(cls.name, objectives)
        s = cls(space, objectives, settings, 0)  # every setting typed and in range
        check_candidates(space, {**cls.defaults, **settings}, MAX_KDE_CANDIDATES)
        for name, x in (("random_fraction", s.random_fraction), ("top_fraction", s.top_fraction)):
            if not 0.0 <= x <= 1.0 or (name == "top_fraction" and x == 0.0):
                raise SpecError(f"spec.algorithm.settings.{name}: a fraction in (0, 1], got {x}")

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        with single_threaded():
            return self._suggest(count, history, running)

    def model_budget(self, history: Sequence[Observation]) -> list[Observation]:
        """The observations of the largest budget with enough of them (none: no model yet)."""
        groups = budget_groups(history)
        for budget in sorted(groups, reverse=True):
            if len(groups[budget]) >= self.min_points + 2:
                return groups[budget]
        return []

    def _suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        valid = [o for o in history if o.values is not None]
        warm = self._warm_rows()
        out = [] if warm is not None else self.initial(count, len(valid), 0)
        observed = self.model_budget(history)
        pending = [*running, *out]
        while len(out) < count:
            self.suggested += 1
            if not observed and warm is None:
                a = self.design.draw(1)[0]
            elif self.rng.random() < self.random_fraction:
                a = draw_assignment(self.space, self.rng)
            else:
                a = self._from_model(observed, pending, history)
            out.append(a)
            pending.append(a)
        return out

    def _from_model(self, observed: Sequence[Observation], pending: Sequence[Assignment],
                    history: Sequence[Observation]) -> Assignment:
        enc = self.encoder
        X, act = enc.encode([ob.params for ob in observed])
        good, bad = self._split_observations(observed) if observed else (np.zeros(0, int), np.zeros(0, int))
        warm = self._warm_rows()
        wl_prior = wb_prior = prior_weight(self.prior_decay, len(observed))
        if warm is not None:
            o = self.objectives[0]
            agreement = warm.agreement(X, act, np.asarray([o.loss(ob.values[0]) for ob in observed]))  # type: ignore[index]
            wl_prior, wb_prior = warm.weights(True, wl_prior, agreement), warm.weights(False, wb_prior, agreement)
        Xl, Al, wl = with_priors(X[good], act[good], None if warm is None else warm.good, wl_prior)
        Xb, Ab, wb = with_priors(X[bad], act[bad], None if warm is None else warm.bad, wb_prior)
        if pending:
            Xp, Ap = enc.encode(pending)
            Xb, Ab, wb = append_pending(Xb, Ab, wb, Xp, Ap)
        l_model = ParzenEstimator(enc, Xl, Al, prior_weight=self.prior_weight, weights=wl)
        wide = ParzenEstimator(enc, Xl, Al, prior_weight=self.prior_weight, bandwidth_factor=self.bandwidth_factor,
                               weights=wl)
        g_model = ParzenEstimator(enc, Xb, Ab, prior_weight=self.prior_weight, weights=wb)
        C, Ca = wide.sample(self.rng, self.candidates)
        score = l_model.log_pdf(C, Ca) - g_model.log_pdf(C, Ca)
        ranked = np.argsort(-score, kind="stable")
        taken = enc.encode([*[ob.params for ob in history], *pending])[0]
        i = distinct_pick(C[ranked], taken)
        if i is None:  # every candidate was tried or is running: a random point instead
            return draw_assignment(self.space, self.rng)
        pick = int(ranked[i])
        return enc.decode(C[pick:pick + 1], Ca[pick:pick + 1])[0]
