"""Mutating an assignment: change one operation, one input or one hyperparameter.

The kind of change is drawn first, uniformly among the kinds the parent can
undergo, then one decision of that kind: so a chain with many hyperparameter
decisions still mutates its operations as often as its hyperparameters.
Parameters that a change switches on are drawn from their prior; those it
switches off are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from nestor.architecture import role_of
from nestor.values import ParamValue

from nestor_controller.samplers.sampling import draw
from nestor_controller.space import ParamDef, Space

ROLES = ("op", "input", "hyperparameter")
REDRAWS = 32


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
    child[p.name] = other_value(p, parent[p.name], rng)
    return complete(space, child, rng), p.name
