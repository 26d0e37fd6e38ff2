"""A study's trials as columns (ListTrialColumns): one packed array per field instead of a message per trial."""

from __future__ import annotations

import math
from collections.abc import Sequence

from nestor.v1 import controller_pb2, study_pb2
from nestor.values import to_value

from nestor_controller.model import ParamValue, TrialRecord

NAN = math.nan


def _is_number(v: ParamValue) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def param_column(name: str, values: list[ParamValue | None], categorical: bool) -> controller_pb2.ParamColumn:
    """``values`` holds None where a trial has no value. Numbers stay numbers unless the space says the
    parameter is categorical (or a value is no number): then each value is a code into the labels."""
    if not categorical and all(v is None or _is_number(v) for v in values):
        return controller_pb2.ParamColumn(name=name, numbers=[NAN if v is None else float(v) for v in values],  # type: ignore[arg-type]
                                          integer=all(v is None or isinstance(v, int) for v in values))
    codes: dict[tuple[type, ParamValue], int] = {}
    column = []
    for v in values:
        if v is None:
            column.append(-1)
            continue
        key = (type(v), v)  # True and 1 are different labels
        code = codes.get(key)
        if code is None:
            code = codes[key] = len(codes)
        column.append(code)
    return controller_pb2.ParamColumn(name=name, codes=column, categorical=True,
                                      labels=[to_value(v) for _, v in codes])


def trial_columns(trials: Sequence[TrialRecord], metrics: Sequence[str],
                  space: Sequence[tuple[str, bool]]) -> controller_pb2.TrialColumns:
    """``trials`` in id order; ``space``: (name, categorical) of each parameter of the study's space."""
    names = [name for name, _ in space]
    known = set(names)
    for t in trials:
        for name in t.params:
            if name not in known:  # parameters outside the space (an architecture's choices): after the space's
                known.add(name)
                names.append(name)
    categorical = dict(space)
    finals = [t.final.metrics if t.final is not None else {} for t in trials]
    return controller_pb2.TrialColumns(
        id=[t.id for t in trials],
        state=[t.state for t in trials],
        values=[controller_pb2.ValueColumn(metric=m, values=[f.get(m, NAN) for f in finals]) for m in metrics],
        params=[param_column(n, [t.params.get(n) for t in trials], categorical.get(n, False)) for n in names],
        create_time=[t.created or 0.0 for t in trials],
        start_time=[t.started or 0.0 for t in trials],
        end_time=[t.ended or 0.0 for t in trials],
        executor=[t.executor for t in trials],
        budget=[t.budget for t in trials],
        attempt=[t.attempt for t in trials],
        reason=[t.error or t.stop_reason or t.decision for t in trials],
        infeasible=[t.infeasible for t in trials],
    )


def space_kinds(spec: study_pb2.StudySpec) -> list[tuple[str, bool]]:
    return [(p.name, p.WhichOneof("domain") == "categorical") for p in spec.space.parameters]
