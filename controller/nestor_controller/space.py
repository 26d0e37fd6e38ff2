"""Search spaces parsed from the proto and checked once, at CreateStudy.

Every later step (sampling, encoding, validation of told parameters) works on
these plain objects rather than on protobuf messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from nestor.architecture import PREFIX as ARCH_PREFIX
from nestor.v1 import space_pb2
from nestor.values import ParamValue, from_value

from nestor_controller.errors import SpecError
from nestor_controller.limits import (
    MAX_ABS_INT,
    MAX_CHOICES,
    MAX_PARAMETERS,
    MAX_STEPS,
    MAX_VALUE_CHARS,
    check_length,
)

Kind = Literal["double", "int", "categorical"]
SCALES = {v: k for k, v in space_pb2.Scale.items()}


@dataclass(frozen=True)
class Condition:
    parent: str
    values: frozenset[ParamValue]


@dataclass(frozen=True)
class ParamDef:
    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float = 0.0
    choices: tuple[ParamValue, ...] = ()
    ordered: bool = False
    conditions: tuple[Condition, ...] = ()
    default: ParamValue | None = None

    def contains(self, value: object) -> bool:
        if self.kind == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and (not float(value).is_integer()):
            return False
        return self.low <= float(value) <= self.high

    @property
    def size(self) -> float:
        """Number of distinct values (inf for a continuous parameter)."""
        if self.kind == "categorical":
            return len(self.choices)
        if self.kind == "int":
            return (self.high - self.low) // (self.step or 1) + 1
        if self.step > 0:
            return math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return math.inf


@dataclass
class Space:
    #: Parents come before the parameters that depend on them.
    params: list[ParamDef]
    architecture: space_pb2.ArchitectureSpace | None = None
    by_name: dict[str, ParamDef] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in self.params}

    def is_active(self, param: ParamDef, assignment: Mapping[str, ParamValue]) -> bool:
        return all(
            c.parent in assignment and assignment[c.parent] in c.values for c in param.conditions
        )

    def check_assignment(self, values: Mapping[str, ParamValue], where: str) -> None:
        """Raises SpecError unless `values` gives every active parameter a value of its domain, and no other."""
        for name in values:
            if name not in self.by_name:
                raise SpecError(f"{where}: unknown parameter {name!r}")
        for p in self.params:
            active = self.is_active(p, values)
            if active and p.name not in values:
                raise SpecError(f"{where}: parameter {p.name!r} is active but has no value")
            if not active and p.name in values:
                raise SpecError(f"{where}: parameter {p.name!r} is inactive (its condition does not hold)")
            if active and not p.contains(values[p.name]):
                raise SpecError(f"{where}: {values[p.name]!r} is outside the domain of {p.name!r}")


def _num(x: float, what: str, where: str) -> float:
    if not math.isfinite(x):
        raise SpecError(f"{where}: {what} must be finite, got {x}")
    return x


def _value(v: space_pb2.Value, where: str) -> ParamValue:
    """A value of a choice, default or condition; a string one bounded (it is stored with every trial)."""
    if v.WhichOneof("kind") == "string_value":
        check_length(v.string_value, where, MAX_VALUE_CHARS)
    return from_value(v)


def _check_bounds(d: space_pb2.DoubleDomain | space_pb2.IntDomain, domain: str, where: str) -> None:
    """Bounds every sampler can draw from, encode and step through without overflow or lost precision."""
    if d.scale not in SCALES:
        raise SpecError(f"{where}: scale {d.scale} is none of {', '.join(SCALES.values())}")
    if domain == "int":
        for what, x in (("min", d.min), ("max", d.max), ("step", d.step)):
            if abs(x) > MAX_ABS_INT:
                raise SpecError(f"{where}: {what} must be within ±2**53 ({MAX_ABS_INT}), got {x}")
        return
    if math.isfinite(d.min) and math.isfinite(d.max) and not math.isfinite(d.max - d.min):
        raise SpecError(f"{where}: max - min must be a finite number; [{d.min:g}, {d.max:g}] is wider than "
                        "any double")
    if d.step > 0 and math.isfinite(d.step) and (d.max - d.min) / d.step + 1 > MAX_STEPS:
        raise SpecError(f"{where}: step {d.step:g} gives more than 2**53 values between min and max")


def _parse_param(p: space_pb2.Parameter, where: str) -> ParamDef:
    domain = p.WhichOneof("domain")
    default = _value(p.default_value, f"{where}.default_value") if p.HasField("default_value") else None
    if domain is None:
        raise SpecError(f"{where}: no domain (set one of double, int, categorical)")
    if domain == "categorical":
        if len(p.categorical.choices) > MAX_CHOICES:
            raise SpecError(f"{where}: {len(p.categorical.choices)} choices exceed the limit of {MAX_CHOICES}")
        choices = tuple(_value(v, f"{where}.choices[{i}]") for i, v in enumerate(p.categorical.choices))
        if not choices:
            raise SpecError(f"{where}: categorical parameter has no choices")
        if any(c is None for c in choices):
            raise SpecError(f"{where}: a choice has no value set")
        if any(isinstance(c, float) and not math.isfinite(c) for c in choices):
            raise SpecError(f"{where}: choices must be finite numbers")
        seen: set[object] = set()
        for c in choices:
            key = (type(c).__name__, c)
            if key in seen:
                raise SpecError(f"{where}: choice {c!r} appears twice")
            seen.add(key)
        param = ParamDef(p.name, "categorical", choices=choices, ordered=p.categorical.ordered)  # type: ignore[arg-type]
    else:
        d = p.double if domain == "double" else p.int
        _check_bounds(d, domain, where)
        low = _num(float(d.min), "min", where)
        high = _num(float(d.max), "max", where)
        if low > high:
            raise SpecError(f"{where}: min ({d.min}) is greater than max ({d.max})")
        log = d.scale == space_pb2.SCALE_LOG
        if log and low <= 0:
            raise SpecError(f"{where}: log scale needs min > 0, got min={d.min}")
        step = float(d.step)
        if step < 0 or not math.isfinite(step):
            raise SpecError(f"{where}: step must be >= 0, got {d.step}")
        if domain == "int":
            step = max(step, 1.0)
        if log and domain == "double" and step > 0:
            raise SpecError(f"{where}: a stepped double cannot be log-scaled")
        if domain == "int" and log and step != 1.0:
            raise SpecError(f"{where}: a log-scaled int must have step 1")
        if step > 0 and (high - low) / step - math.floor((high - low) / step + 1e-9) > 1e-9:
            raise SpecError(f"{where}: max - min ({high - low}) is not a multiple of step {step}")
        param = ParamDef(p.name, domain, low=low, high=high, log=log, step=step)  # type: ignore[arg-type]
    if default is not None and not param.contains(default):
        raise SpecError(f"{where}: default {default!r} is outside the domain")
    return ParamDef(
        param.name, param.kind, param.low, param.high, param.log, param.step,
        param.choices, param.ordered, default=default,
    )


def parse_space(proto: space_pb2.SearchSpace, where: str = "spec.space") -> Space:
    """The space as plain objects, or SpecError naming the offending parameter."""
    if not proto.parameters and not proto.HasField("architecture"):
        raise SpecError(f"{where}: the search space is empty (no parameters and no architecture)")
    if len(proto.parameters) > MAX_PARAMETERS:
        raise SpecError(f"{where}: {len(proto.parameters)} parameters exceed the limit of {MAX_PARAMETERS}")
    parsed: dict[str, ParamDef] = {}
    raw_conditions: dict[str, Sequence[space_pb2.Condition]] = {}
    for i, p in enumerate(proto.parameters):
        at = f"{where}.parameters[{i}]" + (f" ({p.name[:64]!r})" if p.name else "")
        if not p.name:
            raise SpecError(f"{at}: parameter has no name")
        check_length(p.name, f"{where}.parameters[{i}].name")
        if p.name in parsed:
            raise SpecError(f"{at}: duplicate parameter name {p.name!r}")
        if p.name.startswith(ARCH_PREFIX):
            raise SpecError(f"{at}: names starting with {ARCH_PREFIX!r} are reserved for architecture decisions")
        parsed[p.name] = _parse_param(p, at)
        raw_conditions[p.name] = p.conditions
    with_conditions: dict[str, ParamDef] = {}
    for i, (name, param) in enumerate(parsed.items()):
        at = f"{where}.parameters[{i}] ({name!r})"
        conds = []
        for c in raw_conditions[name]:
            if c.parent == name:
                raise SpecError(f"{at}: a parameter cannot be conditional on itself")
            parent = parsed.get(c.parent)
            if parent is None:
                raise SpecError(f"{at}: condition on unknown parameter {c.parent!r}")
            if parent.kind == "double":
                raise SpecError(f"{at}: condition parent {c.parent!r} must be categorical or int, not double")
            values = [_value(v, f"{at}: condition value") for v in c.values]
            if not values:
                raise SpecError(f"{at}: condition on {c.parent!r} lists no values")
            for v in values:
                if not parent.contains(v):
                    raise SpecError(
                        f"{at}: condition value {v!r} can never be taken by {c.parent!r}, "
                        "so the parameter could never be active"
                    )
            conds.append(Condition(c.parent, frozenset(values)))  # type: ignore[arg-type]
        with_conditions[name] = ParamDef(
            param.name, param.kind, param.low, param.high, param.log, param.step,
            param.choices, param.ordered, tuple(conds), param.default,
        )
    ordered = _topological(with_conditions, where)
    arch = proto.architecture if proto.HasField("architecture") else None
    if arch is not None:
        # Imported here: the architecture module builds on ParamDef from this one.
        from nestor_controller.architecture import architecture_params, check_architecture

        check_architecture(arch, f"{where}.architecture")
        ordered += architecture_params(arch)
        if len(ordered) > MAX_PARAMETERS:
            raise SpecError(f"{where}.architecture: {len(ordered)} parameters and decisions exceed the limit "
                            f"of {MAX_PARAMETERS}")
    return Space(ordered, arch)


def _topological(params: dict[str, ParamDef], where: str) -> list[ParamDef]:
    order: list[ParamDef] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name):], name])
            raise SpecError(f"{where}: conditions form a cycle: {cycle}")
        state[name] = 1
        for c in params[name].conditions:
            visit(c.parent, [*path, name])
        state[name] = 2
        order.append(params[name])

    for name in params:
        visit(name, [])
    return order
