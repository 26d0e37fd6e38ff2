"""Prior studies as samplers see them: other studies' results, projected onto this study's space.

A warm-started study (see warmstart.py) hands its sampler the observations of
the prior studies it chose. Each prior study's parameters are mapped onto the
current space by one rule, the same for choosing priors and for using them:

- a prior parameter counts when the current space has one of the same name and
  kind (an int prior value also fits a double parameter);
- a numeric value outside the current bounds is clipped to them (and rounded
  for an int); a categorical value that is not a current choice drops the
  observation;
- a current parameter the prior lacks takes its default, else the centre of
  its range (the geometric centre on a log scale), else its first choice;
- parameters the current conditions leave inactive are dropped, and an
  observation that still does not fit the space is dropped.

A prior study is eligible when it shares at least half of the current
study's parameters (by that rule) and measured every objective metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nestor.values import ParamValue

from nestor_controller.errors import SpecError
from nestor_controller.samplers.base import Assignment, Observation
from nestor_controller.space import ParamDef, Space

#: Warm-start modes: the priors' best configurations run first; the priors' results enter the sampler's model
#: with a weight that decays; a model fitted on the priors and this study's model on its residuals.
TOP_K, OBSERVATIONS, TRANSFER = "top_k", "observations", "transfer"


@dataclass(frozen=True)
class PriorStudy:
    study_id: str
    name: str
    #: Its distance to this study's task by meta-features (similar: K), else None.
    distance: float | None
    #: Its finished trials projected onto this study's space; values in this study's objective order.
    observations: tuple[Observation, ...]


def prior_weight(decay: float, n_own: int) -> float:
    """The weight of one prior observation relative to one of the study's own: 1 before the study has any
    result, one half once it has `decay` of its own, and falling on as it gathers more."""
    return decay / (decay + n_own) if decay > 0 else 0.0


def matches(p: ParamDef, kind: str) -> bool:
    """A prior parameter of `kind` carries over to `p`."""
    return p.kind == kind or (p.kind == "double" and kind == "int")


def filler(p: ParamDef) -> ParamValue:
    """The value a parameter the prior lacks takes: its default, the centre of its range, or its first choice."""
    if p.default is not None:
        return p.default
    if p.kind == "categorical":
        return p.choices[0]
    mid = math.sqrt(p.low * p.high) if p.log and p.low > 0 else (p.low + p.high) / 2
    if p.step > 0 and p.kind == "double":
        mid = p.low + round((mid - p.low) / p.step) * p.step
    return fit(p, mid)


def fit(p: ParamDef, x: float) -> ParamValue:
    """A number clipped to a numeric parameter's bounds, on its step (an int: a whole number)."""
    x = min(max(x, p.low), p.high)
    if p.kind == "int":
        step = int(p.step) or 1
        return min(int(p.low) + round((x - p.low) / step) * step, int(p.high))
    return x


def project(space: Space, kinds: Mapping[str, str], params: Mapping[str, ParamValue]) -> Assignment | None:
    """A prior trial's parameters on `space` (the rule above), or None when it cannot be placed there.
    `kinds`: the prior space's parameter kinds by name."""
    out: Assignment = {}
    for p in space.params:
        if not space.is_active(p, out):
            continue
        if p.name in params and matches(p, kinds.get(p.name, "")):
            v = params[p.name]
            if p.kind == "categorical":
                if v not in p.choices:
                    return None
            elif isinstance(v, bool) or not isinstance(v, int | float):
                return None
            else:
                v = fit(p, float(v))
            out[p.name] = v
        else:
            out[p.name] = filler(p)
    try:
        space.check_assignment(out, "prior")
    except SpecError:
        return None
    return out


def shared_parameters(space: Space, kinds: Mapping[str, str]) -> int:
    return sum(1 for p in space.params if p.name in kinds and matches(p, kinds[p.name]))


def eligible(space: Space, kinds: Mapping[str, str]) -> bool:
    return shared_parameters(space, kinds) * 2 >= len(space.params) and shared_parameters(space, kinds) > 0


def own_count(history: Sequence[Observation]) -> int:
    return sum(1 for o in history if o.values is not None)
