"""The "observations" warm start of the Parzen-estimator samplers (TPE, BOHB): prior results as extra centres.

Each prior study's results are split into good and bad by that study's own
ranking, with the sampler's own rule (values of different tasks are not
comparable, ranks within one task are), and join the good and the bad
estimators as extra components. Each weighs priors.prior_weight(decay, n)
against one of the study's own n results: at first the model is the priors',
and it fades as the study gathers its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.encoding import Encoder

#: Valid observations -> (indices of the good ones, indices of the bad ones).
Split = Callable[[Sequence[Observation]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PriorRows:
    """The priors' good and bad results, encoded (rows, activity)."""

    good: tuple[np.ndarray, np.ndarray]
    bad: tuple[np.ndarray, np.ndarray]


def prior_rows(priors: Sequence[object], enc: Encoder, split: Split) -> PriorRows | None:
    """Every prior's results split by its own ranking; None when no prior has a result."""
    good: list[tuple[np.ndarray, np.ndarray]] = []
    bad: list[tuple[np.ndarray, np.ndarray]] = []
    for p in priors:
        valid = [o for o in getattr(p, "observations", ()) if o.values is not None]
        if not valid:
            continue
        X, act = enc.encode([o.params for o in valid])
        g, b = split(valid)
        good.append((X[g], act[g]))
        bad.append((X[b], act[b]))
    if not good:
        return None
    return PriorRows(_stack(enc, good), _stack(enc, bad))


def _stack(enc: Encoder, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([np.zeros((0, enc.n_cols)), *[x for x, _ in parts]])
    act = np.vstack([np.zeros((0, enc.n_params), dtype=bool), *[a for _, a in parts]])
    return X, act


def with_priors(X: np.ndarray, act: np.ndarray, extra: tuple[np.ndarray, np.ndarray] | None,
                weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The study's rows (weight 1 each) and the priors' (`weight` each): rows, activity, weights. Without
    priors (or with a weight of 0) the study's rows alone and no weights, exactly as a cold study has them."""
    if extra is None or weight <= 0.0 or not len(extra[0]):
        return X, act, None
    w = np.concatenate([np.ones(len(X)), np.full(len(extra[0]), weight)])
    return np.vstack([X, extra[0]]), np.vstack([act, extra[1]]), w


def append_pending(X: np.ndarray, act: np.ndarray, w: np.ndarray | None, Xp: np.ndarray,
                   Ap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pending points (constant liars) after the rows, each weighing as much as one of the study's results."""
    w = None if w is None else np.concatenate([w, np.ones(len(Xp))])
    return np.vstack([X, Xp]), np.vstack([act, Ap]), w
