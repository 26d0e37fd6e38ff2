"""Variation operators on assignments: mutation, crossover, tournament selection.

They work on plain assignments (parameter name -> value) and the space's
parameter definitions, so any search over choices can use them. A value
changes by mutation.mutate_value, a *local* step, which is what a GA on a
continuous space needs. Conditions are honoured through mutation.complete:
parents first, a parameter that becomes active is drawn, an inactive one
dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from nestor.values import ParamValue

from nestor_controller.samplers.mutation import complete, mutate_value
from nestor_controller.space import ParamDef, Space

Assignment = dict[str, ParamValue]


def mutate(space: Space, parent: Mapping[str, ParamValue], rng: np.random.Generator, rate: float,
           scale: float, params: Sequence[ParamDef] | None = None) -> Assignment:
    """Each parameter (of `params`, default all) changes with probability `rate`; at least one always does."""
    candidates = [p for p in (params if params is not None else space.params) if p.name in parent]
    changed = {p.name for p in candidates if rng.random() < rate}
    if not changed and candidates:
        changed = {candidates[int(rng.integers(len(candidates)))].name}
    pick = {name: (mutate_value(space.by_name[name], v, rng, scale) if name in changed else v)
            for name, v in parent.items()}
    return complete(space, pick, rng)


def crossover(space: Space, a: Mapping[str, ParamValue], b: Mapping[str, ParamValue],
              rng: np.random.Generator) -> Assignment:
    """Uniform crossover: each parameter from either parent (the one that has it, when only one does)."""
    pick: Assignment = {}
    for p in space.params:
        options = [x for x in (a, b) if p.name in x]
        if options:
            pick[p.name] = options[int(rng.integers(len(options)))][p.name]
    return complete(space, pick, rng)


def tournament(losses: Sequence[float], size: int, rng: np.random.Generator) -> int:
    """Index of the best (lowest loss) of `size` members drawn without replacement."""
    n = len(losses)
    entrants = rng.choice(n, size=min(size, n), replace=False)
    return int(min(entrants, key=lambda i: (losses[i], i)))
