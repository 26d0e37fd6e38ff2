"""Trials as a table: one row per trial, for pandas (``Study.trials_dataframe``) and CSV (``--csv``).

Columns, in order: ``number``, ``state``, the objective value(s) (``value`` for
one objective, ``values_<metric>`` for several), ``datetime_start``,
``datetime_complete``, ``duration_s``, ``params_<name>`` in space order,
``metrics_<name>`` for every final metric (objectives first), then ``budget``, ``attempt``,
``executor``, ``infeasible``, ``error``, ``stop_reason`` and ``checkpoint``. A
parameter inactive in a trial (conditional spaces) or a metric it lacks is
empty. Users of Optuna's ``trials_dataframe`` will find the names they know.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import IO, Any

from google.protobuf import json_format

from nestor.errors import NestorError
from nestor.records import objective_value, objectives_of, trial_duration, when
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import study_pb2
from nestor.values import params_from_proto

TAIL_COLUMNS = ("budget", "attempt", "executor", "infeasible", "error", "stop_reason", "checkpoint", "origin")


def trial_table(trials: Sequence[study_pb2.Trial],
                spec: study_pb2.StudySpec) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): every trial's row as a dict of plain Python values (None where empty)."""
    metrics = [m for m, _ in objectives_of(spec)]
    value_columns = ["value"] if len(metrics) == 1 else [f"values_{m}" for m in metrics]
    param_names = [p.name for p in spec.space.parameters]
    seen = set(param_names)
    final_metrics: dict[str, None] = {}
    attrs: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for t in trials:
        params = params_from_proto(t.params)
        for name in params:  # architecture decisions and the like are not in spec.space.parameters
            if name not in seen:
                seen.add(name)
                param_names.append(name)
        final_metrics.update(dict.fromkeys(t.final_measurement.metrics))
        row: dict[str, Any] = {"number": t.id, "state": TRIAL_STATE_NAMES.get(t.state, str(t.state))}
        for column, metric in zip(value_columns, metrics, strict=True):
            row[column] = objective_value(t, metric) if t.state != study_pb2.TRIAL_FAILED else None
        row["datetime_start"] = when(t.start_time)
        row["datetime_complete"] = when(t.end_time)
        row["duration_s"] = trial_duration(t)
        row.update({f"params_{k}": v for k, v in params.items()})
        row.update({f"metrics_{k}": v for k, v in t.final_measurement.metrics.items()})
        user = json_format.MessageToDict(t.user_attrs) if t.user_attrs.fields else {}
        attrs.update(dict.fromkeys(user))
        row.update({f"user_attrs_{k}": v for k, v in user.items()})
        row.update({"budget": t.budget or None, "attempt": t.attempt, "executor": t.executor or None,
                    "infeasible": t.infeasible, "error": t.error or None, "stop_reason": t.stop_reason or None,
                    "checkpoint": t.checkpoint or None, "origin": t.origin or None})
        rows.append(row)
    columns = ["number", "state", *value_columns, "datetime_start", "datetime_complete", "duration_s",
               *(f"params_{n}" for n in param_names),
               # Objectives first, the others by name: a proto map has no order to keep.
               *(f"metrics_{m}" for m in sorted(final_metrics, key=lambda m: (m not in metrics, m))),
               *(f"user_attrs_{k}" for k in sorted(attrs)), *TAIL_COLUMNS]
    return columns, [{c: row.get(c) for c in columns} for row in rows]


def write_csv(trials: Sequence[study_pb2.Trial], spec: study_pb2.StudySpec, out: IO[str]) -> int:
    """Writes the table as CSV (a header line, then a line per trial; empty cells for None); rows written."""
    columns, rows = trial_table(trials, spec)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c].isoformat() if hasattr(row[c], "isoformat") else row[c]
                         for c in columns])
    return len(rows)


def dataframe(trials: Sequence[study_pb2.Trial], spec: study_pb2.StudySpec) -> Any:
    """The table as a pandas DataFrame (pandas is the SDK's optional extra ``nestor[pandas]``)."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtra("trials_dataframe() needs pandas: pip install 'nestor[pandas]' (or pandas); "
                           "`nestor study trials ID --csv` writes the same table without it") from None
    columns, rows = trial_table(trials, spec)
    frame = pd.DataFrame(rows, columns=columns)
    for c in ("datetime_start", "datetime_complete"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


class MissingExtra(NestorError, ImportError):
    """An optional dependency of the SDK is not installed."""

    code = None
