"""Hypergradient HPO: continuous hyperparameters tuned by gradient while a trial trains.

Each trial starts from a point of the space (the defaults first, then random draws, like `random`);
its continuous (double) parameters, or those named in `outer`, become outer variables: the trainable
computes the gradient of its validation loss with respect to them (implicit function theorem, or a short
unrolled inner loop), the controller takes an Adam step and sends the new values back. Adam works on an
unconstrained variable u per hyperparameter, mapped into its bounds by a sigmoid (on the log scale for
log parameters), so a step can never leave the domain and step sizes mean the same on any scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from nestor.values import ParamValue

from nestor_controller.bilevel.base import BilevelStrategy
from nestor_controller.bilevel.optim import Arrays, OuterSet
from nestor_controller.errors import SpecError
from nestor_controller.samplers.base import Assignment, Observation
from nestor_controller.samplers.sampling import draw_assignment, rng_from_state, rng_state
from nestor_controller.space import ParamDef

EDGE = 1e-6  # keeps the logit of a value on its bound finite


def continuous(p: ParamDef) -> bool:
    """A parameter a gradient can move: a double without a grid, active in every trial."""
    return p.kind == "double" and not p.step and not p.conditions


def _bounds(p: ParamDef) -> tuple[float, float]:
    return (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)


class HypergradStrategy(BilevelStrategy):
    name = "hypergrad"
    defaults: Mapping[str, Any] = {"learning_rate": 0.05, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0,
                                   "outer": []}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = list(self.settings["outer"]) or [p.name for p in self.space.params if continuous(p)]
        self.outer_params = [self.space.by_name[n] for n in names]
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.suggested = 0

    @classmethod
    def check(cls, space: Any, objectives: Any, settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        names = settings.get("outer", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SpecError(f"spec.algorithm.settings.outer: expected a list of parameter names, got {names!r}")
        for n in names:
            p = space.by_name.get(n)
            if p is None or not continuous(p):
                raise SpecError(f"spec.algorithm.settings.outer: {n!r} is not an unconditional continuous "
                                "(double, no step) parameter of the space")
        if not names and not any(continuous(p) for p in space.params):
            raise SpecError("spec.space: algorithm 'hypergrad' needs at least one continuous (double) parameter")

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        out = []
        for _ in range(count):
            defaults = {p.name: p.default for p in self.space.params if p.default is not None}
            out.append(draw_assignment(self.space, self.rng, defaults if self.suggested == 0 and defaults else None))
            self.suggested += 1
        return out

    # --- the parametrisation --------------------------------------------------------------------

    def initial_values(self, trial_id: int, params: Mapping[str, ParamValue]) -> Arrays | None:
        out = {}
        for p in self.outer_params:
            if p.name not in params:
                continue
            lo, hi = _bounds(p)
            x = math.log(float(params[p.name])) if p.log else float(params[p.name])  # type: ignore[arg-type]
            r = min(max((x - lo) / (hi - lo), EDGE), 1 - EDGE) if hi > lo else 0.5
            out[p.name] = np.asarray(math.log(r / (1 - r)))
        return out or None

    def exported(self, values: Arrays) -> Arrays:
        out = {}
        for p in self.outer_params:
            if p.name in values:
                lo, hi = _bounds(p)
                z = lo + (hi - lo) / (1 + math.exp(-float(values[p.name])))
                out[p.name] = np.asarray(min(max(math.exp(z) if p.log else z, p.low), p.high))
        return out

    def chain(self, values: Arrays, grads: Arrays) -> Arrays:
        natural = self.exported(values)
        out = {}
        for p in self.outer_params:
            if p.name in grads:
                lo, hi = _bounds(p)
                s = 1 / (1 + math.exp(-float(values[p.name])))
                dz_du = (hi - lo) * s * (1 - s)
                dx_dz = float(natural[p.name]) if p.log else 1.0
                out[p.name] = grads[p.name] * dx_dz * dz_du
        return out

    def summary(self, trial_id: int, outer: OuterSet) -> dict[str, Any]:
        return {"hyperparameters": {k: float(v) for k, v in self.exported(outer.values).items()}}

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "suggested": self.suggested, **self.outer_state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_state(state["rng"])
        self.suggested = int(state["suggested"])
        self.load_outer_state(state)
