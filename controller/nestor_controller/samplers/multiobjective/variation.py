"""NSGA-II's variation on assignments: simulated binary crossover and polynomial mutation (Deb and Agrawal).

Numeric parameters move in their unit interval (log parameters in log space),
so one distribution index fits every range; integers and stepped values are
snapped afterwards. Categorical parameters cross over uniformly and mutate to
another choice. Conditions are honoured through mutation.complete.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from nestor.values import ParamValue

from nestor_controller.samplers.mutation import complete, other_value
from nestor_controller.samplers.sampling import snap
from nestor_controller.space import ParamDef, Space

Assignment = dict[str, ParamValue]


def to_unit(p: ParamDef, value: ParamValue) -> float:
    lo, hi, x = p.low, p.high, float(value)  # type: ignore[arg-type]
    if p.log:
        lo, hi, x = math.log(lo), math.log(hi), math.log(x)
    return 0.0 if hi <= lo else (x - lo) / (hi - lo)


def from_unit(p: ParamDef, u: float) -> ParamValue:
    lo, hi = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
    x = lo + min(max(u, 0.0), 1.0) * (hi - lo)
    return snap(p, math.exp(x) if p.log else x)


def sbx(a: float, b: float, eta: float, rng: np.random.Generator) -> float:
    """One child of parents a, b in [0, 1]: spread around them by a factor whose density peaks at 1."""
    u = float(rng.random())
    beta = (2 * u) ** (1 / (eta + 1)) if u <= 0.5 else (1 / (2 * (1 - u))) ** (1 / (eta + 1))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return min(max(0.5 * ((a + b) + sign * beta * (b - a)), 0.0), 1.0)


def polynomial(x: float, eta: float, rng: np.random.Generator) -> float:
    """A step from x in [0, 1] whose size shrinks near the bounds, so the bounds are reached but never passed."""
    u = float(rng.random())
    if u < 0.5:
        val = 2 * u + (1 - 2 * u) * (1 - x) ** (eta + 1)
        dq = val ** (1 / (eta + 1)) - 1
    else:
        val = 2 * (1 - u) + 2 * (u - 0.5) * x ** (eta + 1)
        dq = 1 - val ** (1 / (eta + 1))
    return min(max(x + dq, 0.0), 1.0)


def breed(space: Space, a: Mapping[str, ParamValue], b: Mapping[str, ParamValue], rng: np.random.Generator, *,
          crossover_rate: float, mutation_rate: float, eta_crossover: float, eta_mutation: float) -> Assignment:
    """A child of a and b: crossed over with probability crossover_rate (each variable then with probability
    1/2, as in Deb's SBX), then each parameter mutated with probability mutation_rate."""
    cross = rng.random() < crossover_rate
    pick: Assignment = {}
    for p in space.params:
        have = [x for x in (a, b) if p.name in x]
        if not have:
            continue
        value = have[int(rng.integers(len(have)))][p.name]
        if cross and len(have) == 2 and rng.random() < 0.5:
            if p.kind == "categorical":
                value = have[int(rng.integers(2))][p.name]
            else:
                value = from_unit(p, sbx(to_unit(p, a[p.name]), to_unit(p, b[p.name]), eta_crossover, rng))
        if rng.random() < mutation_rate:
            if p.kind == "categorical":
                value = other_value(p, value, rng)
            else:
                value = from_unit(p, polynomial(to_unit(p, value), eta_mutation, rng))
        pick[p.name] = value
    return complete(space, pick, rng)
