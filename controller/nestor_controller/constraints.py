"""Constraints of a study: limits on measured metrics, and how far a result breaks them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nestor.v1 import study_pb2

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_CONSTRAINTS, check_count, check_length


@dataclass(frozen=True)
class ConstraintDef:
    metric: str
    min: float | None = None
    max: float | None = None

    def violation(self, value: float) -> float:
        """How far the value lies outside [min, max]: > 0 outside, <= 0 inside (minus the distance to the
        nearer limit). Signed, so that a model of it (GP-BO) also learns how safely a result is feasible."""
        gaps = [x for x in (value - self.max if self.max is not None else None,
                            self.min - value if self.min is not None else None) if x is not None]
        return max(gaps)


def parse_constraints(constraints: Sequence[study_pb2.Constraint], where: str = "spec.constraints"
                      ) -> list[ConstraintDef]:
    check_count(constraints, where, MAX_CONSTRAINTS, "constraints")
    out: list[ConstraintDef] = []
    for i, c in enumerate(constraints):
        at = f"{where}[{i}]"
        check_length(c.metric, f"{at}.metric")
        if not c.metric:
            raise SpecError(f"{at}: constraint has no metric name")
        if any(x.metric == c.metric for x in out):
            raise SpecError(f"{at}: metric {c.metric!r} is constrained twice; give min and max in one constraint")
        lo = c.min if c.HasField("min") else None
        hi = c.max if c.HasField("max") else None
        if lo is None and hi is None:
            raise SpecError(f"{at} ({c.metric!r}): give min, max or both")
        for name, x in (("min", lo), ("max", hi)):
            if x is not None and not math.isfinite(x):
                raise SpecError(f"{at}.{name} ({c.metric!r}): must be a finite number, got {x}")
        if lo is not None and hi is not None and lo > hi:
            raise SpecError(f"{at} ({c.metric!r}): min ({lo:g}) is greater than max ({hi:g})")
        out.append(ConstraintDef(c.metric, lo, hi))
    return out


def violations(constraints: Sequence[ConstraintDef], metrics: Mapping[str, float] | None) -> tuple[float, ...]:
    """Each constraint's (signed) violation by these final metrics; empty without constraints or metrics (a failed
    trial: it has no values either, so nobody weighs its feasibility)."""
    if not constraints or metrics is None:
        return ()
    return tuple(c.violation(metrics[c.metric]) if c.metric in metrics else math.inf for c in constraints)


def missing_metric(constraints: Sequence[ConstraintDef], metrics: Mapping[str, float]) -> str | None:
    return next((c.metric for c in constraints if c.metric not in metrics), None)
