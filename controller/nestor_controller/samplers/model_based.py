"""What the model-based samplers (GP, TPE, evolution) share: losses, checks, distinct picks, an initial design."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_CANDIDATE_VALUES
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.quasirandom import SobolDesign
from nestor_controller.samplers.sampling import rng_from_state, rng_state
from nestor_controller.space import Space


def losses(objectives: Sequence[ObjectiveDef], observations: Sequence[Observation]) -> np.ndarray:
    """The first objective of each (non-failed) observation as a value to minimise."""
    o = objectives[0]
    return np.asarray([o.loss(obs.values[0]) for obs in observations if obs.values is not None], dtype=float)


def smallest(y: np.ndarray, k: int) -> np.ndarray:
    """The first k of a stable argsort of y (ties: lower index first), without sorting all of y. y holds no NaN."""
    if k >= len(y):
        return np.argsort(y, kind="stable")
    threshold = np.partition(y, k - 1)[k - 1]
    below = np.flatnonzero(y < threshold)
    ties = np.flatnonzero(y == threshold)[:k - len(below)]
    idx = np.concatenate([below, ties])
    return idx[np.lexsort((idx, y[idx]))]


def standardize(y: np.ndarray) -> np.ndarray:
    sd = float(y.std())
    return (y - y.mean()) / (sd if sd > 0 else 1.0)


def warp(y: np.ndarray) -> np.ndarray:
    """Standardised, then a Yeo-Johnson power transform fitted by maximum likelihood, standardised again.

    Objectives with a heavy upper tail (a loss that explodes in part of the space) leave the interesting
    low values squeezed together after plain standardisation; the power transform spreads them out and
    compresses the tail, keeping the order. Nothing changes when the values are already near-normal."""
    return warp_with_log_jacobian(y)[0]


def warp_with_log_jacobian(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """warp(y), and per value the log of the warp's slope there against standardize(y) (zeros when it leaves
    the standardised values as they are): their sum is what a model's log likelihood of the warped values
    needs added to be compared with its log likelihood of the plain ones."""
    z = standardize(y)
    flat = np.zeros(len(z))
    if len(z) < 3 or float(z.std()) == 0.0:
        return z, flat
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from scipy import stats  # here: scipy.stats takes a second to import at every start

            t, lam = stats.yeojohnson(z)
        except (ValueError, FloatingPointError, OverflowError):
            return z, flat
        sd = float(t.std())
        if not np.isfinite(t).all() or not sd > 0:
            return z, flat
        # d/dz of Yeo-Johnson: (1 + z)^(lambda - 1) above zero, (1 - z)^(1 - lambda) below.
        log_slope = np.where(z >= 0, lam - 1.0, 1.0 - lam) * np.log1p(np.abs(z)) - np.log(sd)
    return (t - t.mean()) / sd, log_slope if np.isfinite(log_slope).all() else flat


def distinct_pick(X: np.ndarray, taken: np.ndarray, tol: float = 1e-9, *,
                  also: np.ndarray | None = None) -> int | None:
    """Index of the first row of X (best first) that is no row of `taken` (nor of `also`), or None.

    `also` (pending points) is checked apart so that a caller holding the history's rows need not copy them
    into one array with a few pending rows on every suggestion."""
    for i in range(len(X)):
        if _far(taken, X[i], tol) and (also is None or _far(also, X[i], tol)):
            return i
    return None


def _far(taken: np.ndarray, x: np.ndarray, tol: float) -> bool:
    """No row of `taken` within tol of x on every column. One column is looked at first: most rows fall out
    there, and the history's rows (100,000 of them in a long study) are then not all compared column by column."""
    if not len(taken):
        return True
    if taken.shape[1]:
        near = np.abs(taken[:, 0] - x[0]) <= tol
        if not near.any():
            return True
        taken = taken[near]
    return bool(np.abs(taken - x).max(axis=1).min() > tol)


def check_single_objective(name: str, objectives: Sequence[ObjectiveDef]) -> None:
    if len(objectives) > 1:
        raise SpecError(f"spec.objectives: algorithm {name!r} optimises a single objective, got "
                        f"{len(objectives)}; use nsga2, tpe, gp, random, quasirandom or grid for several")


def check_candidates(space: Space, settings: Mapping[str, Any], maximum: int, *,
                     max_columns: int | None = None) -> None:
    """`candidates` within its limit, and its candidate matrix (candidates x encoded columns) within memory's."""
    candidates = setting(settings, "candidates", int, minimum=1, maximum=maximum)
    columns = Encoder(space).n_cols
    if max_columns is not None and columns > max_columns:
        raise SpecError(f"spec.space: the space encodes to {columns} columns (a categorical takes one per choice), "
                        f"over this algorithm's limit of {max_columns}; use fewer or smaller parameters, or tpe")
    if candidates * columns > MAX_CANDIDATE_VALUES:
        raise SpecError(f"spec.algorithm.settings.candidates: {candidates} candidates x {columns} encoded columns "
                        f"exceed the limit of {MAX_CANDIDATE_VALUES} values; set candidates to at most "
                        f"{max(1, MAX_CANDIDATE_VALUES // columns)}")


def check_initial(settings: Mapping[str, Any], max_trials: int) -> None:
    """An explicit n_initial must leave the model some of the budget."""
    if "n_initial" in settings and max_trials:
        n = setting(settings, "n_initial", int, minimum=1)
        if n >= max_trials:
            raise SpecError(f"spec.algorithm.settings.n_initial: {n} initial points use the whole budget of "
                            f"max_trials={max_trials}, so the model would never choose a trial; "
                            f"set it below {max_trials}")


class DesignedSampler(Sampler):
    """A sampler that opens with a Sobol design and then draws from its own generator.

    Its state is the generator, the Sobol position and how many trials it suggested; subclasses add theirs.
    """

    def __init__(self, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
                 seed: int) -> None:
        super().__init__(space, objectives, settings, seed)
        self.design = SobolDesign(self.space, self.seed)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.suggested = 0

    def initial(self, count: int, n_valid: int, n_initial: int) -> list[Assignment]:
        """Sobol points while fewer than n_initial were suggested (or fewer than 2 trials succeeded). Results the
        sampler did not suggest (enqueued or added trials) count too: a study that already has n_initial results
        needs no design."""
        out: list[Assignment] = []
        while len(out) < count and (max(self.suggested, n_valid) < n_initial or n_valid < 2):
            out.extend(self.design.draw(1, defaults_first=self.design.drawn == 0))
            self.suggested += 1
        return out

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "suggested": self.suggested, "sobol": self.design.state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_state(state["rng"])
        self.suggested = int(state["suggested"])
        self.design.load(state["sobol"])
