"""A study's trials column by column (``Study.trial_columns``): a list per field, the i-th entry of each
the i-th trial by id. What tables and plots of many trials want; far cheaper than a Trial per trial."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nestor.records import objective_value, seconds
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import controller_pb2, study_pb2
from nestor.values import from_value

Columns = dict[str, Any]


def _seconds(x: float) -> float | None:
    return x or None


def _number(x: float, integer: bool) -> float | int | None:
    if math.isnan(x):
        return None
    return int(x) if integer else x


def param_values(p: controller_pb2.ParamColumn) -> list[Any]:
    if p.categorical:
        labels = [from_value(v) for v in p.labels]
        return [labels[c] if c >= 0 else None for c in p.codes]
    return [_number(x, p.integer) for x in p.numbers]


def from_proto(c: controller_pb2.TrialColumns) -> Columns:
    """The columns as plain lists: state names, None for a missing value or time."""
    return {
        "id": list(c.id),
        "state": [TRIAL_STATE_NAMES.get(s, str(s)) for s in c.state],
        "values": {v.metric: [None if math.isnan(x) else x for x in v.values] for v in c.values},
        "params": {p.name: param_values(p) for p in c.params},
        "create_time": [_seconds(x) for x in c.create_time],
        "start_time": [_seconds(x) for x in c.start_time],
        "end_time": [_seconds(x) for x in c.end_time],
        "executor": list(c.executor),
        "budget": list(c.budget),
        "attempt": list(c.attempt),
        "reason": list(c.reason),
        "infeasible": list(c.infeasible),
    }


def from_trials(trials: Sequence[study_pb2.Trial], metrics: Sequence[str], names: Sequence[str]) -> Columns:
    """The same columns built from Trial messages (a controller older than ListTrialColumns)."""
    trials = sorted(trials, key=lambda t: t.id)
    names = list(names)
    for t in trials:
        names += [n for n in t.params if n not in names]
    return {
        "id": [t.id for t in trials],
        "state": [TRIAL_STATE_NAMES.get(t.state, str(t.state)) for t in trials],
        "values": {m: [objective_value(t, m) for t in trials] for m in metrics},
        "params": {n: [from_value(t.params[n]) if n in t.params else None for t in trials] for n in names},
        "create_time": [seconds(t.create_time) for t in trials],
        "start_time": [seconds(t.start_time) for t in trials],
        "end_time": [seconds(t.end_time) for t in trials],
        "executor": [t.executor for t in trials],
        "budget": [t.budget for t in trials],
        "attempt": [t.attempt for t in trials],
        "reason": [t.error or t.stop_reason or t.decision for t in trials],
        "infeasible": [t.infeasible for t in trials],
    }
