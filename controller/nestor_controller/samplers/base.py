"""The sampler interface: what to try next.

A sampler proposes parameter assignments. Everything it can derive from the
study's history (told results) it reads from the history it is given; only
what it cannot derive (its random generator, a cursor, a population) is its
state, which must be JSON-serialisable and is persisted with the trial it
produced.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from nestor.values import ParamValue

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_SETTING_INT
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.space import Space

Assignment = dict[str, ParamValue]


@dataclass(frozen=True)
class Observation:
    """A finished trial as strategies see it."""

    trial_id: int
    params: Mapping[str, ParamValue]
    #: Objective values in objective order; None for a failed trial.
    values: tuple[float, ...] | None
    budget: float = 0.0
    #: How far each of the study's constraints is exceeded, in constraint order: > 0 broken, <= 0 met (minus
    #: the margin); empty when the study has none or the trial failed.
    violations: tuple[float, ...] = ()

    @property
    def feasible(self) -> bool:
        return not any(v > 0 for v in self.violations)


class Sampler(ABC):
    name: ClassVar[str]
    #: Setting names this sampler accepts, with their defaults.
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: Suggesting is slow enough (model fitting) to run off the event loop.
    heavy: ClassVar[bool] = False
    #: Searches architecture spaces: their decisions arrive as conditional categorical parameters.
    searches_architectures: ClassVar[bool] = False
    #: Fewer suggestions than asked mean "not now" (it waits for running trials to end), not the end of
    #: the search; exhausted() alone says when it is over. DARTS waits for its search to derive a genotype.
    waits_for_running: ClassVar[bool] = False
    #: Models budgets (BOHB): sees every ended run of a trial, each with its budget, not only its latest.
    multi_fidelity: ClassVar[bool] = False
    #: The scheduler a study with a fidelity gets when it names none (BOHB: hyperband).
    default_scheduler: ClassVar[str] = "none"
    #: Takes a study with constraints: it models feasibility (GP, TPE, NSGA-II) or needs no model of the
    #: results at all (random, grid). Others refuse constraints rather than ignore them.
    accepts_constraints: ClassVar[bool] = False
    #: Warm-start modes it takes (samplers/priors.py): every sampler runs the priors' best first (top_k, done
    #: by the study's queue); "observations" (weighted prior results in its model) and "transfer" (a model of
    #: the priors, this study's on its residuals) are for those that implement set_priors' use.
    warm_modes: ClassVar[tuple[str, ...]] = ("top_k",)
    #: Its trials start from one another's checkpoints (restores), so each gets a folder the controller names.
    shares_checkpoints: ClassVar[bool] = False

    def __init__(self, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any], seed: int):
        self.space = space
        self.objectives = list(objectives)
        self.settings = {**self.defaults, **settings}
        self.seed = seed
        #: Prior studies for the "observations" and "transfer" modes; empty for a cold study.
        self.priors: list[Any] = []
        self.warm_mode = ""
        self.prior_decay = 0.0
        #: What the trials of the last suggest() call should say of how they were chosen ("" when nothing out
        #: of the ordinary, e.g. a GP fitted on a subset of a long history); the study records it as their
        #: decision.
        self.decision_note = ""

    def set_priors(self, priors: Sequence[Any], mode: str, decay: float) -> None:
        """The prior studies (priors.PriorStudy) a warm-started study chose at its creation, with the mode and
        the decay of their weight (priors.prior_weight). Called once, before load_state, on every start: the
        priors are persisted with the study, so what the sampler derives from them is derived again the same."""
        self.priors = list(priors)
        self.warm_mode = mode
        self.prior_decay = decay

    def bind_study(self, max_trials: int, constrained: bool) -> None:
        """What the study is beyond its space and objectives (its budget, whether it has constraints), for a
        sampler that chooses by it (auto); called at every start and when the budget changes."""
        return None

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        """Raise SpecError when the settings or the space do not suit this sampler."""
        unknown = sorted(set(settings) - set(cls.defaults))
        if unknown:
            known = ", ".join(sorted(cls.defaults)) or "none"
            raise SpecError(
                f"spec.algorithm.settings: unknown setting {unknown[0]!r} for algorithm {cls.name!r} "
                f"(known: {known})"
            )
        if space.architecture is not None and not cls.searches_architectures:
            raise SpecError(f"spec.space.architecture: algorithm {cls.name!r} does not search architectures")

    @abstractmethod
    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        """Up to `count` new assignments; fewer means the search is exhausted."""

    def exhausted(self) -> bool:
        return False

    def scored(self, params: Mapping[str, ParamValue]) -> bool:
        """Whether a trial with these parameters is a candidate result; a DARTS search trial is not (it need
        not report the objective, and the best trial is the evaluation of the genotype it derived)."""
        return True

    def objectives_for(self, params: Mapping[str, ParamValue]) -> Sequence[ObjectiveDef] | None:
        """What a trial with these parameters is measured by, when not the study's objectives (a one-shot
        evaluation: its supernet score); its observation's values are read from these metrics."""
        return None

    def restores(self, params: Mapping[str, ParamValue]) -> int:
        """The trial whose checkpoint a run with these parameters starts from (a one-shot evaluation: its
        supernet's); 0 for none. Only for a sampler that shares_checkpoints."""
        return 0

    def describe(self, study: Any, history: Sequence[Observation]) -> None:
        """Adds what the algorithm knows of the study as a whole to its proto (study_pb2.Study; one-shot: its
        phases and how well its supernet ranked), from the stored results in `history`."""
        return None

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """JSON-serialisable state, enough to continue exactly where it stands."""

    @abstractmethod
    def load_state(self, state: Mapping[str, Any]) -> None: ...


def setting(settings: Mapping[str, Any], name: str, kind: type, *, minimum: float | None = None,
            maximum: float | None = None) -> Any:
    """A typed setting within [minimum, maximum], or SpecError naming it.

    An integer setting is never above MAX_SETTING_INT, nor a float one infinite or NaN, even when no maximum
    is given: every setting sizes some work, and none may be left unbounded."""
    value = settings[name]
    where = f"spec.algorithm.settings.{name}"
    ok = isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool))
    if kind is int and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or (kind is not bool and isinstance(value, bool)):
        raise SpecError(f"{where}: expected {kind.__name__}, got {value!r:.100}")
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(f"{where}: must be a finite number, got {value!r}")
    if kind is int and maximum is None:
        maximum = MAX_SETTING_INT
    if minimum is not None and value < minimum:
        raise SpecError(f"{where}: must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise SpecError(f"{where}: must be <= {maximum} (the limit), got {value!r}")
    return value
