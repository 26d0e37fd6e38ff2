"""The space as a sequence of categorical choices: what a policy that emits decisions one by one sees.

Categorical parameters (architecture decisions among them) keep their
choices. A numeric hyperparameter becomes `bins` values spread evenly on its
scale (all of its values when it has fewer), so that architecture and
hyperparameters are emitted the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from nestor.values import ParamValue

from nestor_controller.samplers.grid import axis
from nestor_controller.space import ParamDef, Space


@dataclass(frozen=True)
class Choice:
    param: ParamDef
    values: tuple[ParamValue, ...]

    @property
    def name(self) -> str:
        return self.param.name

    def index(self, value: ParamValue) -> int:
        """Index of `value` among the values: exact for a categorical, the nearest (on its scale) for a number."""
        p = self.param
        if p.kind == "categorical":
            return self.values.index(value)

        def t(x: float) -> float:
            return math.log(x) if p.log else x

        return min(range(len(self.values)), key=lambda i: abs(t(float(self.values[i])) - t(float(value))))


def categorical_view(space: Space, bins: int) -> list[Choice]:
    """One Choice per parameter, in the space's order (parents first)."""
    return [Choice(p, tuple(axis(p, bins))) for p in space.params]


def actions(view: list[Choice], space: Space, params: Mapping[str, ParamValue]) -> list[tuple[Choice, int]]:
    """(choice, index) of each decision a policy would have made to produce `params`.

    Inactive parameters and one-value choices involve no decision and are left out.
    """
    out = []
    for c in view:
        if c.name in params and len(c.values) > 1 and space.is_active(c.param, params):
            out.append((c, c.index(params[c.name])))
    return out
