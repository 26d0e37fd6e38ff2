"""The scheduler interface: how much budget a trial gets and when it stops.

Decisions are made when a measurement arrives. Like samplers, a scheduler reads
what it can derive (the curves of the study's trials) from the view it is
given and keeps as state only what it cannot derive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef

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


CONTINUE = Verdict(False)


class CurveView(Protocol):
    """What a scheduler may read of its study."""

    def curve(self, trial_id: int) -> Curve: ...

    def finished_curves(self) -> Sequence[Curve]: ...


class Scheduler(ABC):
    name: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}
    needs_fidelity: ClassVar[bool] = False

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

    def budget_for_new_trial(self) -> float:
        """Resource granted to a new trial; the full fidelity unless the scheduler allocates it."""
        return self.fidelity.max if self.fidelity else 0.0

    @abstractmethod
    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        """Called after each measurement of a running trial."""

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        return None
