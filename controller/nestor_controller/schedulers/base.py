"""The scheduler interface: how much budget a trial gets and when it stops.

Decisions are made when a measurement arrives. Like samplers, a scheduler reads
what it can derive (the curves of the study's trials) from the view it is
given and keeps as state only what it cannot derive.

Multi-fidelity schedulers (successive halving, Hyperband, ASHA) also end a
trial's run at its rung's budget without ending the trial: the study pauses it
(`run_ended` records its value there) and asks `plan` which paused trials go on
to the next rung with a larger budget and which will never be promoted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.space import Space

#: (step, objective value) pairs in report order.
Curve = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class FidelityDef:
    name: str
    min: float
    max: float


@dataclass(frozen=True)
class Verdict:
    stop: bool
    reason: str = ""
    #: The run ends because it used its rung's budget; the trial itself may be promoted later.
    rung: bool = False


CONTINUE = Verdict(False)


@dataclass(frozen=True)
class Promotion:
    trial_id: int
    budget: float
    reason: str
    #: A population-based scheduler's next interval: the parameters it trains with from `step` on (None: the
    #: promotion changes no parameter and keeps the trial's checkpoint folder), starting from the weights
    #: `donor` had at `step` (0: its own).
    params: Mapping[str, Any] | None = None
    donor: int = 0
    step: int = 0


@dataclass(frozen=True)
class Plan:
    """Paused trials to send on now (at most the free slots) and paused trials that will never go on."""

    promote: tuple[Promotion, ...] = ()
    drop: tuple[tuple[int, str], ...] = ()


#: Where a trial stands, as a scheduler sees it.
ACTIVE, PAUSED, DONE, FAILED = "active", "paused", "done", "failed"


class CurveView(Protocol):
    """What a scheduler may read of its study."""

    def curve(self, trial_id: int) -> Curve: ...

    def finished_curves(self) -> Sequence[Curve]: ...

    def budget_of(self, trial_id: int) -> float: ...

    def phase(self, trial_id: int) -> str:
        """ACTIVE (pending or running), PAUSED, DONE (completed or stopped) or FAILED."""
        ...

    def active_trials(self) -> Sequence[int]:
        """Trials pending or running."""
        ...

    def more_trials(self) -> bool:
        """Whether the study may still create trials."""
        ...

    def remaining_trials(self) -> int | None:
        """How many more trials the study may create (None: no limit)."""
        ...

    def members(self) -> Sequence[int]:
        """The trials the study ran (not those added from elsewhere), oldest first."""
        ...

    def lineage(self, trial_id: int) -> Sequence[Mapping[str, Any]]:
        """A population member's intervals in order ({step, params, donor, ...}, see model.LineageEntry)."""
        ...

    def checkpointed(self, trial_id: int, step: int) -> bool:
        """Whether the trial's weights at `step` were checkpointed, so another trial may start from them."""
        ...


class Scheduler(ABC):
    name: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}
    needs_fidelity: ClassVar[bool] = False
    #: Decides on a trial's reports as they come (stops it, pauses it at a rung): its measurements must then
    #: come one report at a time, not all with the result.
    stops_early: ClassVar[bool] = True
    #: Trials pause at rungs and may be promoted (the study then calls run_ended and plan).
    multi_fidelity: ClassVar[bool] = False
    #: Compares running trials with the curves of ended ones (view.finished_curves()); the study keeps those
    #: curves in memory only for a scheduler that does.
    compares_with_finished: ClassVar[bool] = False
    #: Changes the parameters of trials as they go (population-based training): the study keeps each
    #: trial's lineage, and a new checkpoint folder per interval seeded from the one it continues.
    evolves_params: ClassVar[bool] = False

    def __init__(self, objective: ObjectiveDef, fidelity: FidelityDef | None, settings: Mapping[str, Any],
                 seed: int):
        self.objective = objective
        self.fidelity = fidelity
        self.settings = {**self.defaults, **settings}
        self.seed = seed

    @classmethod
    def check(cls, objectives: Sequence[ObjectiveDef], fidelity: FidelityDef | None,
              settings: Mapping[str, Any]) -> None:
        unknown = sorted(set(settings) - set(cls.defaults))
        if unknown:
            known = ", ".join(sorted(cls.defaults)) or "none"
            raise SpecError(
                f"spec.scheduler.settings: unknown setting {unknown[0]!r} for scheduler {cls.name!r} (known: {known})"
            )
        if cls.needs_fidelity and fidelity is None:
            raise SpecError(f"spec.fidelity: scheduler {cls.name!r} needs a fidelity (name, min, max)")

    @classmethod
    def check_study(cls, space: Space, budget: Any, settings: Mapping[str, Any]) -> None:
        """Checks that need the space or the budget (spec.budget; a scheduler may fill in max_trials)."""
        return None

    def bind_space(self, space: Space) -> None:
        """The study's space, for a scheduler that proposes parameters."""
        return None

    def budget_for_new_trial(self, trial_id: int, view: CurveView) -> float:
        """Resource granted to a new trial; the full fidelity unless the scheduler allocates it."""
        return self.fidelity.max if self.fidelity else 0.0

    @abstractmethod
    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        """Called after each measurement of a running trial."""

    def run_ended(self, trial_id: int, view: CurveView) -> str:
        """A run that used its budget ended (multi-fidelity only): record it; returns the decision's text."""
        return ""

    def plan(self, view: CurveView, free: int) -> Plan:
        """Promotions for up to `free` slots, and paused trials to give up on (multi-fidelity only).

        A pure function of the state and the view: promoting a trial raises its budget, which the
        next call sees."""
        return Plan()

    @property
    def restart_promoted(self) -> bool:
        """A promoted trial starts over with its new budget instead of resuming from its checkpoint."""
        return False

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        return None


def scheduler_setting(settings: Mapping[str, Any], name: str, kind: type, *, minimum: float | None = None,
                      maximum: float | None = None) -> Any:
    """A typed scheduler setting, or SpecError naming it (spec.scheduler.settings.NAME)."""
    from nestor_controller.samplers.base import setting

    try:
        return setting(settings, name, kind, minimum=minimum, maximum=maximum)
    except SpecError as e:
        raise SpecError(str(e).replace("spec.algorithm", "spec.scheduler", 1)) from None
