"""Mutating an assignment: change one operation, one input or one hyperparameter.

The kind of change is drawn first, uniformly among the kinds the parent can
undergo, then one decision of that kind: so a chain with many hyperparameter
decisions still mutates its operations as often as its hyperparameters.
The new value of an unordered categorical (an operation, an input) is any
other choice; that of an ordered one or a number is near the old one
(mutate_value, the GA's too): a step of one or a few places, or a normal step
of NUMERIC_STEP of the range (in log space for a log parameter), so that a good
parent's children stay good while the search can still travel. Parameters
that a change switches on are drawn from their prior; those it switches off
are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from nestor.architecture import role_of
from nestor.values import ParamValue

from nestor_controller.samplers.sampling import draw, snap
from nestor_controller.space import ParamDef, Space

ROLES = ("op", "input", "hyperparameter")
REDRAWS = 32
NUMERIC_STEP = 0.3


def other_value(p: ParamDef, current: ParamValue, rng: np.random.Generator) -> ParamValue:
    """A value of `p` other than `current` (uniform among the rest for a categorical; a fresh draw otherwise)."""
    if p.kind == "categorical":
        rest = [c for c in p.choices if c != current]
        return rest[int(rng.integers(len(rest)))] if rest else current
    for _ in range(REDRAWS):
        value = draw(p, rng)
        if value != current:
            return value
    return current


def mutate_value(p: ParamDef, value: ParamValue, rng: np.random.Generator, scale: float) -> ParamValue:
    """A nearby value: a Gaussian step of `scale` (a fraction of the range, in log space for log
    parameters) reflected into the bounds; another choice for a categorical; an integer moves at least one."""
    if p.kind == "categorical":
        if not p.ordered or len(p.choices) < 2:
            return other_value(p, value, rng)
        # Ordered: a step to a neighbouring choice, more often than a jump.
        k = p.choices.index(value)
        size = max(1, round(abs(float(rng.standard_normal())) * scale * len(p.choices)))
        step = size if rng.random() < 0.5 else -size
        j = int(np.clip(k + step, 0, len(p.choices) - 1))
        if j == k:  # at an end: the other way, where there is room
            j = int(np.clip(k - step, 0, len(p.choices) - 1))
        return p.choices[j]
    lo, hi = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
    if hi <= lo:
        return value
    x = math.log(float(value)) if p.log else float(value)  # type: ignore[arg-type]
    x += scale * (hi - lo) * float(rng.standard_normal())
    width = hi - lo
    x = lo + abs(((x - lo) + width) % (2 * width) - width)  # reflect into [lo, hi]
    out = snap(p, math.exp(x) if p.log else x)
    if out == value and 1 < p.size < math.inf:  # a discrete step must change something
        unit = p.step or 1.0
        up, down = float(value) + unit, float(value) - unit  # type: ignore[arg-type]
        steps = [v for v in (up, down) if p.low <= v <= p.high]
        out = snap(p, steps[int(rng.integers(len(steps)))])
    return out


def complete(space: Space, partial: Mapping[str, ParamValue], rng: np.random.Generator) -> dict[str, ParamValue]:
    """`partial` made a full assignment: active parameters keep their value or are drawn, inactive ones go."""
    out: dict[str, ParamValue] = {}
    for p in space.params:
        if space.is_active(p, out):
            value = partial.get(p.name)
            out[p.name] = value if value is not None and p.contains(value) else draw(p, rng)
    return out


def mutate(space: Space, parent: Mapping[str, ParamValue],
           rng: np.random.Generator) -> tuple[dict[str, ParamValue], str]:
    """(child, name of the decision changed); the child is the parent when nothing can change."""
    mutable = [p for p in space.params if p.name in parent and p.size > 1]
    if not mutable:
        return dict(parent), ""
    kinds = [r for r in ROLES if any(role_of(p.name) == r for p in mutable)]
    kind = kinds[int(rng.integers(len(kinds)))]
    pool = [p for p in mutable if role_of(p.name) == kind]
    p = pool[int(rng.integers(len(pool)))]
    child = dict(parent)
    child[p.name] = mutate_value(p, parent[p.name], rng, NUMERIC_STEP)
    return complete(space, child, rng), p.name
