"""Multivariate TPE: sample where good trials are dense and bad ones are not.

After `n_initial` Sobol points, the finished trials are split into the best
`gamma` fraction (at most `max_good`) and the rest; a Parzen estimator is
fitted to each (l for good, g for bad). Candidates drawn from l are scored
by log l - log g and the best one that is not already tried or running is
suggested. Trials still running count as bad (a constant liar), which sends
parallel workers to different places.

With several objectives or with constraints it is MOTPE: the split is
samplers/multiobjective/split.py's (feasible first, then non-domination rank,
then hypervolume contribution); with several objectives the good estimator
gives each centre its own bandwidths, from its neighbours
(kde.local_bandwidths).

Warm started in the "observations" mode, the priors' results join both
estimators with a decaying weight (tpe/warm.py) and replace the Sobol design.

The history is encoded once per observation (samplers/history.py), and g is
scored against at most `max_bad` bad observations (bad_subset), so a
suggestion costs about the same at 100 results as at 100,000.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nestor_controller.limits import MAX_KDE_CANDIDATES
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.blas import single_threaded
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.history import EncodedHistory
from nestor_controller.samplers.model_based import (
    DesignedSampler,
    check_candidates,
    check_initial,
    distinct_pick,
    losses,
    smallest,
)
from nestor_controller.samplers.multiobjective.pareto import loss_matrix, total_violation
from nestor_controller.samplers.multiobjective.split import split_good_many
from nestor_controller.samplers.priors import OBSERVATIONS, TOP_K, prior_weight
from nestor_controller.samplers.tpe.kde import ParzenEstimator
from nestor_controller.samplers.tpe.warm import PriorRows, WarmRows, append_pending, with_priors
from nestor_controller.space import Space


def split_good(y: np.ndarray, gamma: float, max_good: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the good (lowest y) and the bad observations."""
    n_good = max(1, min(max_good, math.ceil(gamma * len(y))))
    order = np.argsort(y, kind="stable")
    return order[:n_good], order[n_good:]


def split_capped(y: np.ndarray, gamma: float, max_good: int, max_bad: int) -> tuple[np.ndarray, np.ndarray]:
    """split_good, with at most max_bad bad ones (bad_subset's) once there are more.

    Up to the cap it is split_good itself. Above it the good ones are the same (found without sorting them all)
    and the bad ones come in the order they finished, not by loss: g's components are a set, so their order
    only moves the last bits of its sum."""
    n = len(y)
    n_good = max(1, min(max_good, math.ceil(gamma * n)))
    if n - n_good <= max_bad or np.isnan(y).any():
        return split_good(y, gamma, max_good)
    good = smallest(y, n_good)
    rest = np.ones(n, dtype=bool)
    rest[good] = False
    return good, bad_subset(np.flatnonzero(rest), max_bad)


def bad_subset(bad: np.ndarray, max_bad: int) -> np.ndarray:
    """The bad observations g is fitted on: all of them up to max_bad; above, the most recent half of max_bad
    (rounded up) and the rest spread evenly, by finishing order, over the older ones. `bad` is in finishing
    order. Deterministic and drawn from no generator: the same history gives the same g."""
    if len(bad) <= max_bad:
        return bad
    recent = (max_bad + 1) // 2
    older = bad[:len(bad) - recent]
    spread = np.round(np.linspace(0, len(older) - 1, max_bad - recent)).astype(int)
    return np.concatenate([older[spread], bad[len(bad) - recent:]])


class TPESampler(DesignedSampler):
    name = "tpe"
    heavy: ClassVar[bool] = True
    # Architecture decisions are conditional categorical parameters, which the encoding already models.
    searches_architectures = True
    accepts_constraints = True
    warm_modes: ClassVar[tuple[str, ...]] = (TOP_K, OBSERVATIONS)
    defaults: Mapping[str, Any] = {"n_initial": 10, "candidates": 24, "gamma": 0.1, "max_good": 25, "max_bad": 1000,
                                   "prior_weight": 1.0, "bandwidth_factor": 0.7, "constant_liar": True}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.n_initial = setting(s, "n_initial", int, minimum=1)
        self.candidates = setting(s, "candidates", int, minimum=1)
        self.gamma = setting(s, "gamma", float, minimum=0.0)
        self.max_good = setting(s, "max_good", int, minimum=1)
        self.max_bad = setting(s, "max_bad", int, minimum=1)
        self.prior_weight = setting(s, "prior_weight", float, minimum=0.0)
        self.bandwidth_factor = setting(s, "bandwidth_factor", float, minimum=0.0)
        self.constant_liar = setting(s, "constant_liar", bool)
        self.encoder = Encoder(self.space)
        self._warm = WarmRows(self._split, self.prior_weight, self.bandwidth_factor)
        # Derived from the history alone (rebuilt from it after a restart), so not part of state().
        self._history = EncodedHistory(self.encoder, self.objectives)

    def _warm_rows(self) -> PriorRows | None:
        return self._warm.get(self)

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        cls(space, objectives, settings, 0)  # every setting typed and in range
        check_candidates(space, {**cls.defaults, **settings}, MAX_KDE_CANDIDATES)
        gamma = float(settings.get("gamma", cls.defaults["gamma"]))
        if not 0.0 < gamma < 1.0:
            from nestor_controller.errors import SpecError

            raise SpecError(f"spec.algorithm.settings.gamma: the good fraction must be between 0 and 1, got {gamma}")
        check_initial(settings, max_trials)

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        with single_threaded():
            return self._suggest(count, history, running)

    def _split(self, valid: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray]:
        if not valid:  # a warm study before its first result: the model is the priors'
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        if len(self.objectives) == 1 and not any(o.violations for o in valid):
            return split_good(losses(self.objectives, valid), self.gamma, self.max_good)
        return split_good_many(loss_matrix(self.objectives, valid), total_violation(valid), self.gamma,
                               self.max_good)

    def _split_rows(self, h: EncodedHistory) -> tuple[np.ndarray, np.ndarray]:
        """_split of the encoded history, the bad ones capped at max_bad (bad_subset)."""
        if not h.n_valid:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        if len(self.objectives) == 1 and not h.with_violations:
            return split_capped(h.y, self.gamma, self.max_good, self.max_bad)
        good, bad = split_good_many(h.F, h.violation, self.gamma, self.max_good)
        return good, bad_subset(bad, self.max_bad)  # split_good_many gives the bad ones in finishing order

    def _suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        h = self._history.update(history)
        enc = self.encoder
        X, act = h.X, h.act
        warm = self._warm_rows()
        agreement = None
        if warm is not None and len(self.objectives) == 1:
            agreement = warm.agreement(X, act, h.y)
            if not agreement.any():
                warm = None  # every prior contradicted by the study's results: a cold study, design included
        out = [] if warm is not None else self.initial(count, h.n_valid, self.n_initial)
        if len(out) == count:
            return out
        good, bad = self._split_rows(h)
        wl_prior = wg_prior = prior_weight(self.prior_decay, h.n_valid)
        if warm is not None and agreement is not None:
            wl_prior, wg_prior = warm.weights(True, wl_prior, agreement), warm.weights(False, wg_prior, agreement)
        Xl, Al, wl = with_priors(X[good], act[good], None if warm is None else warm.good, wl_prior)
        Xg, Ag, wg = with_priors(X[bad], act[bad], None if warm is None else warm.bad, wg_prior)
        # With several objectives the good trials are spread along the front on purpose: their overall spread
        # says nothing about how wide each one's kernel should be, so l takes each from its neighbours.
        # g keeps one bandwidth per parameter: hundreds of narrow kernels would make it a bed of needles.
        local = len(self.objectives) > 1
        l_model = ParzenEstimator(enc, Xl, Al, prior_weight=self.prior_weight,
                                  bandwidth_factor=self.bandwidth_factor, weights=wl, local=local)
        taken = h.X_all
        pending = [*running, *out]
        while len(out) < count:
            Xb, Ab, wb = Xg, Ag, wg
            if self.constant_liar and pending:
                Xp, Ap = enc.encode(pending)
                Xb, Ab, wb = append_pending(Xb, Ab, wb, Xp, Ap)
            g_model = ParzenEstimator(enc, Xb, Ab, prior_weight=self.prior_weight,
                                      bandwidth_factor=self.bandwidth_factor, weights=wb)
            C, Ca = l_model.sample(self.rng, self.candidates)
            score = l_model.log_pdf(C, Ca) - g_model.log_pdf(C, Ca)
            order = np.argsort(-score, kind="stable")
            i = distinct_pick(C[order], taken, also=enc.encode(pending)[0] if pending else None)
            if i is None:  # every candidate was tried: a fresh random point
                C, Ca = enc.from_cube(self.rng.random((1, enc.n_params)))
                pick = 0
            else:
                pick = int(order[i])
            a = enc.decode(C[pick:pick + 1], Ca[pick:pick + 1])[0]
            out.append(a)
            pending.append(a)
            self.suggested += 1
        return out
