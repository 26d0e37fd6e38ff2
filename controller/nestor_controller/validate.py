"""Checks a StudySpec once, at CreateStudy, into the parts the study runs on."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2
from nestor.v1 import study_pb2
from nestor.values import params_from_proto

from nestor_controller.constraints import ConstraintDef, parse_constraints
from nestor_controller.errors import SpecError
from nestor_controller.limits import (
    MAX_ENQUEUE,
    MAX_FIDELITY,
    MAX_LABELS,
    MAX_NAME_CHARS,
    MAX_OBJECTIVES,
    MAX_SETTINGS_DEPTH,
    MAX_TEXT_CHARS,
    MAX_USER_ATTRS,
    MAX_USER_ATTRS_BYTES,
    MAX_VALUE_CHARS,
    MIN_FIDELITY,
    check_count,
    check_length,
)
from nestor_controller.objectives import ObjectiveDef, parse_objectives
from nestor_controller.samplers import SAMPLERS, STORED_DEFAULT, sampler_class
from nestor_controller.schedulers import FidelityDef, scheduler_class
from nestor_controller.space import Space, parse_space
from nestor_controller.warmstart import check_warm_start, resolve_mode


@dataclass
class ParsedSpec:
    space: Space
    objectives: list[ObjectiveDef]
    fidelity: FidelityDef | None
    algorithm: str
    algorithm_settings: dict[str, Any]
    scheduler: str
    scheduler_settings: dict[str, Any]
    trainable_config: dict[str, Any]
    constraints: list[ConstraintDef] = field(default_factory=list)
    #: The warm start's mode (warmstart.py), "" for a cold study.
    warm_mode: str = ""


def check_value(v: struct_pb2.Value, where: str, depth: int = 0) -> None:
    """A JSON-like value the store and every client can hold: finite numbers, bounded strings and nesting."""
    if depth > MAX_SETTINGS_DEPTH:
        raise SpecError(f"{where}: nested deeper than {MAX_SETTINGS_DEPTH} levels")
    kind = v.WhichOneof("kind")
    if kind == "number_value" and not math.isfinite(v.number_value):
        # JSON has no NaN or infinity: the spec could not even be stored.
        raise SpecError(f"{where}: must be a finite number, got {v.number_value}")
    if kind == "string_value":
        check_length(v.string_value, where, MAX_TEXT_CHARS)
    elif kind == "struct_value":
        check_struct(v.struct_value, where, depth + 1)
    elif kind == "list_value":
        for i, item in enumerate(v.list_value.values):
            check_value(item, f"{where}[{i}]", depth + 1)


def check_struct(s: struct_pb2.Struct, where: str, depth: int = 0) -> None:
    for key, value in s.fields.items():
        check_length(key, f"{where}: key {key[:40]!r}")
        check_value(value, f"{where}.{key}", depth)


def struct_dict(msg: Any, where: str = "") -> dict[str, Any]:
    if msg is None:
        return {}
    if where:
        check_struct(msg, where)
    return json_format.MessageToDict(msg)


def parse_fidelity(f: study_pb2.Fidelity) -> FidelityDef | None:
    if not f.name:
        if f.min or f.max:
            raise SpecError("spec.fidelity: min/max are set but the fidelity has no name")
        return None
    check_length(f.name, "spec.fidelity.name")
    for what, x in (("min", f.min), ("max", f.max)):
        if not math.isfinite(x) or x <= 0:
            raise SpecError(f"spec.fidelity.{what}: must be a finite number > 0, got {x}")
        if not MIN_FIDELITY <= x <= MAX_FIDELITY:
            raise SpecError(f"spec.fidelity.{what}: must be between {MIN_FIDELITY:g} and {MAX_FIDELITY:g}, got {x:g}")
    if f.min > f.max:
        raise SpecError(f"spec.fidelity: min ({f.min}) is greater than max ({f.max})")
    return FidelityDef(f.name, f.min, f.max)


def check_labels(labels: Any, where: str = "spec.labels") -> None:
    check_count(labels, where, MAX_LABELS, "labels")
    for key, value in labels.items():
        check_length(key, f"{where}: key {key[:40]!r}")
        if not key:
            raise SpecError(f"{where}: a label has an empty key")
        check_length(value, f"{where}[{key!r}]", MAX_VALUE_CHARS)


def check_objectives(objectives: Any) -> None:
    check_count(objectives, "spec.objectives", MAX_OBJECTIVES, "objectives")
    for i, o in enumerate(objectives):
        check_length(o.metric, f"spec.objectives[{i}].metric")


#: What an expired client-driven trial becomes ("" is the default, "fail").
EXPIRED_TRIAL_ACTIONS = ("", "fail", "requeue")


def checked_params(space: Space, params: Any, where: str) -> dict[str, Any]:
    """Parameters sent for a trial (EnqueueTrials, AddTrials, spec.enqueue): an assignment of the space."""
    if not params:
        raise SpecError(f"{where}.params: required")
    values = params_from_proto(params)
    for name in values:
        check_length(name, f"{where}.params: name {name[:40]!r}")
    space.check_assignment(values, f"{where}.params")
    return values


def user_attrs(s: struct_pb2.Struct, where: str, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """`s` merged into `current` (a null value removes a key), checked: bounded keys, values and size."""
    check_struct(s, where)
    out = dict(current or {})
    for key, value in json_format.MessageToDict(s).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    check_count(out, where, MAX_USER_ATTRS, "attributes")
    size = len(json.dumps(out))
    if size > MAX_USER_ATTRS_BYTES:
        raise SpecError(f"{where}: {size} bytes as JSON exceed the limit of {MAX_USER_ATTRS_BYTES}")
    return out


def check_enqueue(spec: study_pb2.StudySpec, space: Space) -> None:
    """spec.enqueue: at most MAX_ENQUEUE sets, each an assignment of the space."""
    check_count(spec.enqueue, "spec.enqueue", MAX_ENQUEUE, "parameter sets")
    for i, p in enumerate(spec.enqueue):
        checked_params(space, p.params, f"spec.enqueue[{i}]")
        user_attrs(p.user_attrs, f"spec.enqueue[{i}].user_attrs")


def parse_spec(spec: study_pb2.StudySpec) -> ParsedSpec:
    """Every part of the spec checked, so that nothing accepted here fails later; SpecError names the field."""
    check_length(spec.name, "spec.name", MAX_NAME_CHARS)
    check_length(spec.trainable, "spec.trainable")
    check_labels(spec.labels)
    if spec.seed < 0:
        raise SpecError(f"spec.seed: must be >= 0 (0 picks one), got {spec.seed}")
    check_objectives(spec.objectives)
    space = parse_space(spec.space)
    objectives = parse_objectives(spec.objectives)
    constraints = parse_constraints(spec.constraints)
    b = spec.budget
    if b.max_trials < 0:
        raise SpecError(f"spec.budget.max_trials: must be >= 0, got {b.max_trials}")
    if b.max_parallel < 0:
        raise SpecError(f"spec.budget.max_parallel: must be >= 0, got {b.max_parallel}")
    if b.HasField("max_failed") and b.max_failed < 0:
        raise SpecError(f"spec.budget.max_failed: must be >= 0, got {b.max_failed}")
    for name in ("trial_timeout_s", "heartbeat_timeout_s"):
        value = getattr(spec, name)
        if not math.isfinite(value) or value < 0:
            raise SpecError(f"spec.{name}: must be a finite number >= 0, got {value}")
    if spec.expired_trials not in EXPIRED_TRIAL_ACTIONS:
        raise SpecError(f"spec.expired_trials: must be one of {', '.join(repr(a) for a in EXPIRED_TRIAL_ACTIONS[1:])}"
                        f", got {spec.expired_trials[:64]!r}")
    fidelity = parse_fidelity(spec.fidelity)
    algorithm = spec.algorithm.name or STORED_DEFAULT
    check_length(spec.algorithm.name, "spec.algorithm.name")
    check_length(spec.scheduler.name, "spec.scheduler.name")
    algorithm_settings = struct_dict(spec.algorithm.settings, "spec.algorithm.settings")
    sampler_class(algorithm).check(space, objectives, algorithm_settings, b.max_trials)
    if constraints and not sampler_class(algorithm).accepts_constraints:
        takers = ", ".join(sorted(n for n, c in SAMPLERS.items() if c.accepts_constraints))
        raise SpecError(f"spec.constraints: algorithm {algorithm!r} does not model constraints; use one of {takers}")
    # BOHB is a sampler and a scheduler: with a fidelity and no scheduler named, it gets Hyperband's budgets.
    scheduler = spec.scheduler.name or (sampler_class(algorithm).default_scheduler if fidelity else "none")
    scheduler_settings = struct_dict(spec.scheduler.settings, "spec.scheduler.settings")
    scheduler_class(scheduler).check(objectives, fidelity, scheduler_settings)
    scheduler_class(scheduler).check_study(space, b, scheduler_settings)
    check_enqueue(spec, space)
    check_labels(spec.warm_start.labels, "spec.warm_start.labels")
    check_warm_start(spec)
    warm_mode = resolve_mode(spec, sampler_class(algorithm), objectives, constraints)
    return ParsedSpec(
        space, objectives, fidelity, algorithm, algorithm_settings, scheduler, scheduler_settings,
        struct_dict(spec.trainable_config, "spec.trainable_config"), constraints, warm_mode,
    )
