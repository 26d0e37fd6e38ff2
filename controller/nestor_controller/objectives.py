"""Objectives of a study and the order they put trials in."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nestor.v1 import study_pb2

from nestor_controller.errors import SpecError


@dataclass(frozen=True)
class ObjectiveDef:
    metric: str
    maximize: bool
    target: float | None = None
    #: The hypervolume's reference value for this objective (several objectives); None: derived.
    reference: float | None = None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def reached(self, value: float) -> bool:
        if self.target is None:
            return False
        return value >= self.target if self.maximize else value <= self.target

    def loss(self, value: float) -> float:
        """The value as something to minimise, which lets strategies ignore the goal."""
        return -value if self.maximize else value


def parse_objectives(objectives: Sequence[study_pb2.Objective], where: str = "spec.objectives") -> list[ObjectiveDef]:
    if not objectives:
        raise SpecError(f"{where}: a study needs at least one objective (metric and goal)")
    out: list[ObjectiveDef] = []
    for i, o in enumerate(objectives):
        at = f"{where}[{i}]"
        if not o.metric:
            raise SpecError(f"{at}: objective has no metric name")
        if o.goal not in (study_pb2.GOAL_MINIMIZE, study_pb2.GOAL_MAXIMIZE):
            raise SpecError(f"{at} ({o.metric!r}): goal must be GOAL_MINIMIZE or GOAL_MAXIMIZE")
        if any(x.metric == o.metric for x in out):
            raise SpecError(f"{at}: metric {o.metric!r} is listed twice")
        target = o.target if o.HasField("target") else None
        if target is not None and not math.isfinite(target):
            raise SpecError(f"{at} ({o.metric!r}): target must be finite")
        if o.HasField("reference") and not math.isfinite(o.reference):
            raise SpecError(f"{at} ({o.metric!r}): reference must be a finite number, got {o.reference}")
        reference = o.reference if o.HasField("reference") else None
        out.append(ObjectiveDef(o.metric, o.goal == study_pb2.GOAL_MAXIMIZE, target, reference))
    if len(out) > 1 and any(o.target is not None for o in out):
        raise SpecError(f"{where}: a target can only be set on a single-objective study")
    return out


def objective_values(objectives: Sequence[ObjectiveDef], metrics: Mapping[str, float]) -> tuple[float, ...] | None:
    """The objective values in order, or None when a metric is missing."""
    try:
        return tuple(metrics[o.metric] for o in objectives)
    except KeyError:
        return None


def dominates(objectives: Sequence[ObjectiveDef], a: Sequence[float], b: Sequence[float]) -> bool:
    la = [o.loss(x) for o, x in zip(objectives, a, strict=True)]
    lb = [o.loss(x) for o, x in zip(objectives, b, strict=True)]
    return all(x <= y for x, y in zip(la, lb, strict=True)) and any(x < y for x, y in zip(la, lb, strict=True))
