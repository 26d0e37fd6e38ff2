"""Checks a StudySpec once, at CreateStudy, into the parts the study runs on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from nestor.v1 import study_pb2

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef, parse_objectives
from nestor_controller.samplers import sampler_class
from nestor_controller.schedulers import FidelityDef, scheduler_class
from nestor_controller.space import Space, parse_space

MAX_NAME = 256


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


def struct_dict(msg: Any) -> dict[str, Any]:
    return json_format.MessageToDict(msg) if msg is not None else {}


def parse_fidelity(f: study_pb2.Fidelity) -> FidelityDef | None:
    if not f.name:
        if f.min or f.max:
            raise SpecError("spec.fidelity: min/max are set but the fidelity has no name")
        return None
    for what, x in (("min", f.min), ("max", f.max)):
        if not math.isfinite(x) or x <= 0:
            raise SpecError(f"spec.fidelity.{what}: must be a finite number > 0, got {x}")
    if f.min > f.max:
        raise SpecError(f"spec.fidelity: min ({f.min}) is greater than max ({f.max})")
    return FidelityDef(f.name, f.min, f.max)


def parse_spec(spec: study_pb2.StudySpec) -> ParsedSpec:
    if len(spec.name) > MAX_NAME:
        raise SpecError(f"spec.name: longer than {MAX_NAME} characters")
    space = parse_space(spec.space)
    objectives = parse_objectives(spec.objectives)
    b = spec.budget
    if b.max_trials < 0:
        raise SpecError(f"spec.budget.max_trials: must be >= 0, got {b.max_trials}")
    if b.max_parallel < 0:
        raise SpecError(f"spec.budget.max_parallel: must be >= 0, got {b.max_parallel}")
    if b.HasField("max_failed") and b.max_failed < 0:
        raise SpecError(f"spec.budget.max_failed: must be >= 0, got {b.max_failed}")
    if not math.isfinite(spec.trial_timeout_s) or spec.trial_timeout_s < 0:
        raise SpecError(f"spec.trial_timeout_s: must be a finite number >= 0, got {spec.trial_timeout_s}")
    fidelity = parse_fidelity(spec.fidelity)
    algorithm = spec.algorithm.name or "random"
    algorithm_settings = struct_dict(spec.algorithm.settings)
    sampler_class(algorithm).check(space, objectives, algorithm_settings, b.max_trials)
    # BOHB is a sampler and a scheduler: with a fidelity and no scheduler named, it gets Hyperband's budgets.
    scheduler = spec.scheduler.name or (sampler_class(algorithm).default_scheduler if fidelity else "none")
    scheduler_settings = struct_dict(spec.scheduler.settings)
    scheduler_class(scheduler).check(objectives, fidelity, scheduler_settings)
    return ParsedSpec(
        space, objectives, fidelity, algorithm, algorithm_settings, scheduler, scheduler_settings,
        struct_dict(spec.trainable_config),
    )
