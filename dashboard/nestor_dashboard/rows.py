"""Trials as compact rows, and the column-wise form the study page plots from.

A row is what every view needs of a trial and nothing more (no measurement
history), so that 100,000 of them fit in memory and serialise quickly.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import timestamp_pb2
from nestor.records import objective_value
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import study_pb2
from nestor.values import params_from_proto

Row = dict[str, Any]


def clean(x: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    return x if not isinstance(x, float) or math.isfinite(x) else None


def seconds(ts: timestamp_pb2.Timestamp) -> float | None:
    """Seconds since the epoch; None when unset. The fields directly: a datetime per timestamp costs more
    than the rest of the row at 100,000 trials."""
    return ts.seconds + ts.nanos * 1e-9 if ts.seconds or ts.nanos else None


def trial_row(t: study_pb2.Trial, metrics: list[str]) -> Row:
    start, end = seconds(t.start_time), seconds(t.end_time)
    return {
        "id": t.id,
        "state": TRIAL_STATE_NAMES.get(t.state, str(t.state)),
        "params": params_from_proto(t.params),
        "values": [clean(objective_value(t, m)) for m in metrics],
        "start": start,
        "end": end,
        "duration": None if start is None or end is None else max(0.0, end - start),
        "executor": t.executor,
        "budget": t.budget,
        "attempt": t.attempt,
        "reason": t.error or t.stop_reason or t.decision,
        # The latest timestamp the trial carries: an event older than the row must not overwrite it.
        "_ts": max(seconds(t.create_time) or 0.0, start or 0.0, end or 0.0),
    }


def public(row: Row) -> Row:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def columns(rows: list[Row], param_names: list[str], n_objectives: int) -> dict[str, Any]:
    """The rows column by column (a list per field): about half the bytes of a list of objects."""
    return {
        "id": [r["id"] for r in rows],
        "state": [r["state"] for r in rows],
        "values": [[r["values"][i] for r in rows] for i in range(n_objectives)],
        "params": {name: [clean(r["params"].get(name)) for r in rows] for name in param_names},
        "start": [r["start"] for r in rows],
        "end": [r["end"] for r in rows],
        "executor": [r["executor"] for r in rows],
    }


def _sort_key(field: str) -> Any:
    """Missing values sort last whichever the direction: (missing?, value)."""
    def key(row: Row) -> tuple[bool, Any]:
        if field.startswith("param:"):
            v = row["params"].get(field[6:])
        elif field.startswith("value:"):
            v = row["values"][int(field[6:])]
        else:
            v = row.get(field)
        if v is None:
            return (True, 0)
        return (False, (0, v, "") if isinstance(v, int | float) else (1, 0, str(v)))
    return key


def page(rows: list[Row], *, offset: int, limit: int, sort: str = "id", descending: bool = False,
         state: str = "", text: str = "") -> tuple[int, list[Row]]:
    """One page of the table, filtered and sorted here so the browser only ever holds ``limit`` rows."""
    chosen = rows
    if state:
        chosen = [r for r in chosen if r["state"] == state.upper()]
    if text:
        needle = text.lower()
        chosen = [r for r in chosen if needle in _searchable(r)]
    if sort != "id" or descending:
        key = _sort_key(sort)
        present = [r for r in chosen if not key(r)[0]]
        missing = [r for r in chosen if key(r)[0]]
        chosen = sorted(present, key=key, reverse=descending) + missing
    return len(chosen), [public(r) for r in chosen[offset:offset + limit]]


def _searchable(row: Row) -> str:
    params = " ".join(f"{k}={v}" for k, v in row["params"].items())
    return f"{row['id']} {row['state']} {params} {row['executor']} {row['reason']}".lower()
