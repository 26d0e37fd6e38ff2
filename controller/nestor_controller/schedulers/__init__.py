"""Schedulers by name. A new scheduler joins by being listed here."""

from __future__ import annotations

from nestor_controller.errors import SpecError
from nestor_controller.schedulers.asha import ASHA
from nestor_controller.schedulers.base import (
    ACTIVE,
    CONTINUE,
    DONE,
    FAILED,
    PAUSED,
    CurveView,
    FidelityDef,
    Plan,
    Promotion,
    Scheduler,
    Verdict,
)
from nestor_controller.schedulers.halving import Hyperband, SuccessiveHalving
from nestor_controller.schedulers.learning_curve import LearningCurveScheduler
from nestor_controller.schedulers.median import MedianScheduler
from nestor_controller.schedulers.none import NoScheduler
from nestor_controller.schedulers.pb2 import PB2
from nestor_controller.schedulers.pbt import PBT

SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls for cls in (NoScheduler, MedianScheduler, SuccessiveHalving, Hyperband, ASHA,
                              LearningCurveScheduler, PBT, PB2)}


def scheduler_class(name: str) -> type[Scheduler]:
    cls = SCHEDULERS.get(name or "none")
    if cls is None:
        raise SpecError(
            f"spec.scheduler.name: unknown scheduler {name!r} (known: {', '.join(sorted(SCHEDULERS))})"
        )
    return cls


__all__ = ["ACTIVE", "CONTINUE", "DONE", "FAILED", "PAUSED", "SCHEDULERS", "CurveView", "FidelityDef", "Plan",
           "Promotion", "Scheduler", "Verdict", "scheduler_class"]
