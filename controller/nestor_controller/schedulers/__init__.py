"""Schedulers by name. A new scheduler joins by being listed here."""

from __future__ import annotations

from nestor_controller.errors import SpecError
from nestor_controller.schedulers.base import CONTINUE, CurveView, FidelityDef, Scheduler, Verdict
from nestor_controller.schedulers.median import MedianScheduler
from nestor_controller.schedulers.none import NoScheduler

SCHEDULERS: dict[str, type[Scheduler]] = {cls.name: cls for cls in (NoScheduler, MedianScheduler)}


def scheduler_class(name: str) -> type[Scheduler]:
    cls = SCHEDULERS.get(name or "none")
    if cls is None:
        raise SpecError(
            f"spec.scheduler.name: unknown scheduler {name!r} (known: {', '.join(sorted(SCHEDULERS))})"
        )
    return cls


__all__ = ["CONTINUE", "SCHEDULERS", "CurveView", "FidelityDef", "Scheduler", "Verdict", "scheduler_class"]
