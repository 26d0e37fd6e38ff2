"""Variation operators on assignments: mutation, crossover, tournament selection.

They work on plain assignments (parameter name -> value) and the space's
parameter definitions, so any search over choices can use them. Unlike the
architecture mutation (samplers/mutation.py: one decision redrawn), a
numeric hyperparameter here takes a *local* step, which is what a GA on a
continuous space needs. Conditions are honoured through mutation.complete:
parents first, a parameter that becomes active is drawn, an inactive one
dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from nestor.values import ParamValue

from nestor_controller.samplers.mutation import complete
from nestor_controller.samplers.sampling import snap
from nestor_controller.space import ParamDef, Space

Assignment = dict[str, ParamValue]


def mutate_value(p: ParamDef, value: ParamValue, rng: np.random.Generator, scale: float) -> ParamValue:
    """A nearby value: a Gaussian step of `scale` (a fraction of the range, in log space for log
    parameters) reflected into the bounds; another choice for a categorical; an integer moves at least one."""
    if p.kind == "categorical":
        if len(p.choices) < 2:
            return value
        if p.ordered:  # a step to a neighbouring choice, more often than a jump
            k = p.choices.index(value)
            size = max(1, round(abs(float(rng.standard_normal())) * scale * len(p.choices)))
            step = size if rng.random() < 0.5 else -size
            return p.choices[int(np.clip(k + step, 0, len(p.choices) - 1))]
        others = [c for c in p.choices if c != value]
        return others[int(rng.integers(len(others)))]
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
