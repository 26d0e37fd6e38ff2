"""The "observations" warm start of the Parzen-estimator samplers (TPE, BOHB): prior results as extra centres.

Each prior study's results are split into good and bad by that study's own
ranking, with the sampler's own rule (values of different tasks are not
comparable, ranks within one task are), and join the good and the bad
estimators as extra components. Each weighs priors.prior_weight(decay, n)
against one of the study's own n results: at first the model is the priors',
and it fades as the study gathers its own. Once the study has a few results of
its own, each prior's weight is also scaled by how well it ranks them (the rank
correlation of its own good-to-bad density ratio with the study's results,
clipped at 0): a prior whose good regions are this task's bad ones (a
misleading prior) drops out, one that agrees keeps its full weight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.priors import OBSERVATIONS
from nestor_controller.samplers.tpe.kde import ParzenEstimator

#: Valid observations -> (indices of the good ones, indices of the bad ones).
Split = Callable[[Sequence[Observation]], tuple[np.ndarray, np.ndarray]]


#: Own results a study needs before its priors are weighed by how well they rank them.
MIN_AGREEMENT = 5


@dataclass(frozen=True)
class PriorRows:
    """The priors' good and bad results, encoded (rows, activity), with the prior each row comes from and each
    prior's own good and bad densities (what it predicts)."""

    good: tuple[np.ndarray, np.ndarray]
    bad: tuple[np.ndarray, np.ndarray]
    good_owner: np.ndarray
    bad_owner: np.ndarray
    densities: tuple[tuple[ParzenEstimator, ParzenEstimator], ...]

    def agreement(self, X: np.ndarray, act: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per prior, how well it ranks the study's own results (rows X, losses y): Spearman's rho of its
        log l - log g against -y, clipped to [0, 1]; 1 each before MIN_AGREEMENT results."""
        if len(y) < MIN_AGREEMENT:
            return np.ones(len(self.densities))
        out = []
        for l_p, g_p in self.densities:
            score = l_p.log_pdf(X, act) - g_p.log_pdf(X, act)
            out.append(max(0.0, spearman(score, -y)))
        return np.asarray(out)

    def weights(self, good: bool, weight: float, agreement: np.ndarray) -> np.ndarray:
        """Each good (or bad) row's weight: `weight` times its prior's agreement."""
        return weight * agreement[self.good_owner if good else self.bad_owner]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (ties broken by position); 0 when either side is constant."""
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def prior_rows(priors: Sequence[object], enc: Encoder, split: Split, prior_weight: float = 1.0,
               bandwidth_factor: float = 1.0) -> PriorRows | None:
    """Every prior's results split by its own ranking; None when no prior has a result."""
    good: list[tuple[np.ndarray, np.ndarray]] = []
    bad: list[tuple[np.ndarray, np.ndarray]] = []
    densities = []
    for p in priors:
        valid = [o for o in getattr(p, "observations", ()) if o.values is not None]
        if not valid:
            continue
        X, act = enc.encode([o.params for o in valid])
        g, b = split(valid)
        good.append((X[g], act[g]))
        bad.append((X[b], act[b]))
        densities.append(tuple(ParzenEstimator(enc, X[i], act[i], prior_weight=prior_weight,
                                               bandwidth_factor=bandwidth_factor) for i in (g, b)))
    if not good:
        return None
    owner = [np.repeat(np.arange(len(good)), [len(x) for x, _ in part]) for part in (good, bad)]
    return PriorRows(_stack(enc, good), _stack(enc, bad), owner[0], owner[1], tuple(densities))  # type: ignore[arg-type]


def _stack(enc: Encoder, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([np.zeros((0, enc.n_cols)), *[x for x, _ in parts]])
    act = np.vstack([np.zeros((0, enc.n_params), dtype=bool), *[a for _, a in parts]])
    return X, act


def with_priors(X: np.ndarray, act: np.ndarray, extra: tuple[np.ndarray, np.ndarray] | None,
                weight: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The study's rows (weight 1 each) and the priors' (`weight` each, or one per row): rows, activity,
    weights. Without priors (or with no weight left) the study's rows alone and no weights, exactly as a cold
    study has them."""
    w_extra = np.broadcast_to(np.asarray(weight, dtype=float), (0 if extra is None else len(extra[0]),))
    if extra is None or not len(extra[0]) or not (w_extra > 0).any():
        return X, act, None
    keep = w_extra > 0
    w = np.concatenate([np.ones(len(X)), w_extra[keep]])
    return np.vstack([X, extra[0][keep]]), np.vstack([act, extra[1][keep]]), w


def append_pending(X: np.ndarray, act: np.ndarray, w: np.ndarray | None, Xp: np.ndarray,
                   Ap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pending points (constant liars) after the rows, each weighing as much as one of the study's results."""
    w = None if w is None else np.concatenate([w, np.ones(len(Xp))])
    return np.vstack([X, Xp]), np.vstack([act, Ap]), w


class WarmRows:
    """The priors' split rows of a Parzen-estimator sampler: derived from the priors alone, built once per
    instance (and again when set_priors hands it others)."""

    def __init__(self, split: Split, prior_weight: float, bandwidth_factor: float = 1.0) -> None:
        self.split = split
        self.prior_weight = prior_weight
        self.bandwidth_factor = bandwidth_factor
        self._rows: PriorRows | None = None
        self._built_for: object = None

    def get(self, sampler: Any) -> PriorRows | None:
        """The rows when `sampler` is warm started with observations, else None."""
        if sampler.warm_mode != OBSERVATIONS or not sampler.priors:
            return None
        if self._built_for is not sampler.priors:
            self._rows = prior_rows(sampler.priors, sampler.encoder, self.split, self.prior_weight,
                                    self.bandwidth_factor)
            self._built_for = sampler.priors
        return self._rows
