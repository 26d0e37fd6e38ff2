"""Drawing values of one parameter; shared by every sampler that draws at random."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from nestor.values import ParamValue

from nestor_controller.space import ParamDef, Space


def snap(p: ParamDef, x: float) -> float | int:
    """Round a numeric value onto the parameter's grid (step, integer) and into its bounds."""
    if p.step > 0:
        x = p.low + round((x - p.low) / p.step) * p.step
    x = min(max(x, p.low), p.high)
    if p.kind == "int":
        return round(x)
    return float(x)


def draw(p: ParamDef, rng: np.random.Generator) -> ParamValue:
    if p.kind == "categorical":
        return p.choices[int(rng.integers(len(p.choices)))]
    if p.kind == "int" and not p.log:
        n = int((p.high - p.low) // p.step) + 1
        return int(p.low + p.step * int(rng.integers(n)))
    if p.log:
        # Widen int bounds by half a unit so the end values are as likely as their neighbours.
        lo, hi = (p.low - 0.5, p.high + 0.5) if p.kind == "int" else (p.low, p.high)
        lo = max(lo, p.low / 2) if p.kind == "int" else lo
        return snap(p, math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return snap(p, float(rng.uniform(p.low, p.high)))


def draw_assignment(space: Space, rng: np.random.Generator,
                    fixed: Mapping[str, ParamValue] | None = None) -> dict[str, ParamValue]:
    """A full assignment: parents first, each parameter only when active; `fixed` values win."""
    out: dict[str, ParamValue] = {}
    for p in space.params:
        if not space.is_active(p, out):
            continue
        out[p.name] = fixed[p.name] if fixed and p.name in fixed else draw(p, rng)
    return out


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state  # plain dict of ints and strings: JSON-serialisable


def rng_from_state(state: Mapping) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = dict(state)
    return np.random.Generator(bit_generator)
