"""A study's trials as columns (what the study page plots from), and the rows its table shows.

The table is loaded with one ListTrialColumns call (``Study.trial_columns``) and
kept as a list per field, so that 100,000 trials load in well under a second and
serialise straight to the page. A row (a dict per trial) is only made for what
a page shows: the table's page, a download, a live update.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from google.protobuf import timestamp_pb2
from nestor.columns import Columns
from nestor.records import objective_value
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import study_pb2
from nestor.values import params_from_proto

Row = dict[str, Any]


def clean(x: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    return x if not isinstance(x, float) or math.isfinite(x) else None


def seconds(ts: timestamp_pb2.Timestamp) -> float | None:
    """Seconds since the epoch; None when unset."""
    return ts.seconds + ts.nanos * 1e-9 if ts.seconds or ts.nanos else None


def trial_row(t: study_pb2.Trial, metrics: list[str]) -> Row:
    """A trial as a live update carries it (WatchStudy's events hold Trial messages)."""
    start, end = seconds(t.start_time), seconds(t.end_time)
    return {
        "id": t.id,
        "state": TRIAL_STATE_NAMES.get(t.state, str(t.state)),
        "params": params_from_proto(t.params),
        "values": [clean(objective_value(t, m)) for m in metrics],
        "start": start,
        "end": end,
        "executor": t.executor,
        "budget": t.budget,
        "attempt": t.attempt,
        "reason": t.error or t.stop_reason or t.decision,
        "created": seconds(t.create_time),
    }


def _latest(created: float | None, start: float | None, end: float | None) -> float:
    return max(created or 0.0, start or 0.0, end or 0.0)


#: Fields kept as a column each, by their name in a row.
SCALARS = ("state", "start", "end", "executor", "budget", "attempt", "reason", "created")


class TrialTable:
    """Column store of one study's trials, in id order. Not thread-safe: the study's cache locks it."""

    def __init__(self, columns: Columns, metrics: list[str]) -> None:
        self.metrics = metrics
        self.id: list[int] = columns["id"]
        self.cols: dict[str, list[Any]] = {
            "state": columns["state"], "start": columns["start_time"], "end": columns["end_time"],
            "executor": columns["executor"], "budget": columns["budget"], "attempt": columns["attempt"],
            "reason": columns["reason"], "created": columns["create_time"]}
        self.values: list[list[float | None]] = [columns["values"][m] for m in metrics]
        self.params: dict[str, list[Any]] = columns["params"]
        self.position = {trial_id: i for i, trial_id in enumerate(self.id)}
        #: The latest timestamp each trial carries: an event older than the row must not overwrite it.
        self.stamp = [_latest(*t) for t in zip(self.cols["created"], self.cols["start"], self.cols["end"], strict=True)]

    def __len__(self) -> int:
        return len(self.id)

    def upsert(self, row: Row) -> bool:
        """Applies a trial's newer state; False when the row is older than what is held or shows nothing new."""
        i = self.position.get(row["id"])
        stamp = _latest(row["created"], row["start"], row["end"])
        if i is None:
            i = self.position[row["id"]] = len(self.id)
            self.id.append(row["id"])
            self.stamp.append(stamp)
            for col in (*self.cols.values(), *self.values, *self.params.values()):
                col.append(None)
        elif stamp < self.stamp[i]:
            return False
        elif all(self.cols[k][i] == row[k] for k in SCALARS) and self.row_values(i) == row["values"]:
            return False  # a measurement that changes nothing a page shows
        self.stamp[i] = stamp
        for k in SCALARS:
            self.cols[k][i] = row[k]
        for col, v in zip(self.values, row["values"], strict=True):
            col[i] = v
        for name, v in row["params"].items():
            if name not in self.params:
                self.params[name] = [None] * len(self.id)
            self.params[name][i] = clean(v)
        return True

    def row_values(self, i: int) -> list[float | None]:
        return [col[i] for col in self.values]

    def row(self, i: int) -> Row:
        start, end = self.cols["start"][i], self.cols["end"][i]
        return {"id": self.id[i], **{k: self.cols[k][i] for k in SCALARS},
                "params": self._params(i),
                "values": self.row_values(i),
                "duration": None if start is None or end is None else max(0.0, end - start)}

    def rows(self) -> list[Row]:
        return [self.row(i) for i in range(len(self.id))]

    def plot_columns(self) -> dict[str, Any]:
        """What the study page plots from: a list per field (about half the bytes of a list of objects)."""
        return {"id": self.id, "state": self.cols["state"], "values": self.values, "params": self.params,
                "start": self.cols["start"], "end": self.cols["end"], "executor": self.cols["executor"]}

    def results(self, objective: int) -> list[tuple[dict[str, Any], float]]:
        """(parameters, value) of every finished trial with a value for the objective."""
        done = ("COMPLETED", "STOPPED")
        values, states = self.values[objective], self.cols["state"]
        return [(self._params(i), values[i]) for i in range(len(self.id))
                if states[i] in done and values[i] is not None]

    def _params(self, i: int) -> dict[str, Any]:
        return {n: col[i] for n, col in self.params.items() if col[i] is not None}

    # --- the table's pages ------------------------------------------------------------------

    def page(self, *, offset: int, limit: int, sort: str = "id", descending: bool = False,
             state: str = "", text: str = "") -> tuple[int, list[Row]]:
        """One page of the table, filtered and sorted here so the browser only ever holds ``limit`` rows."""
        chosen: list[int] | range = range(len(self.id))
        if state:
            wanted, states = state.upper(), self.cols["state"]
            chosen = [i for i in chosen if states[i] == wanted]
        for term in text.split():
            chosen = self._filter(chosen, term)
        if sort != "id" or descending:
            column = self._column(sort)
            present = [i for i in chosen if column[i] is not None]
            missing = [i for i in chosen if column[i] is None]
            chosen = sorted(present, key=lambda i: _order(column[i]), reverse=descending) + missing
        return len(chosen), [self.row(i) for i in chosen[offset:offset + limit]]

    def _filter(self, chosen: list[int] | range, term: str) -> list[int]:
        """``name<op>literal`` keeps the trials whose column compares so (numbers as numbers, anything else
        by ``=`` and ``!=``); any other term keeps those whose row mentions it."""
        match = FILTER.match(term)
        if match is None:
            needle = term.lower()
            return [i for i in chosen if needle in self._searchable(i)]
        name, op, literal = match.groups()
        column = self._named(name)
        compare = OPERATORS[op]
        try:
            wanted: Any = float(literal)
        except ValueError:
            if op not in ("=", "!="):
                raise ValueError(f"{term}: {op} compares numbers, and {literal!r} is none") from None
            wanted = literal.lower()
            return [i for i in chosen if column[i] is not None and compare(str(column[i]).lower(), wanted)]
        return [i for i in chosen if isinstance(column[i], int | float) and compare(column[i], wanted)]

    def _named(self, name: str) -> list[Any]:
        """A column by the name a reader knows it by: a parameter, an objective's metric (or ``value``, the
        first), or id, state, duration, executor, budget, attempt, reason."""
        if name in self.params:
            return self.params[name]
        if name in self.metrics:
            return self.values[self.metrics.index(name)]
        if name == "value" and self.values:
            return self.values[0]
        if name in ("id", "duration", *SCALARS):
            return self._column(name)
        known = [*self.params, *self.metrics, "id", "duration", *SCALARS]
        raise ValueError(f"no column {name!r} to filter on (one of: {', '.join(known)})")

    def _column(self, field: str) -> list[Any]:
        if field.startswith("param:"):
            return self.params.get(field[6:], [None] * len(self.id))
        if field.startswith("value:"):
            k = int(field[6:]) if field[6:].isdigit() else -1
            return self.values[k] if 0 <= k < len(self.values) else [None] * len(self.id)
        if field == "duration":
            return [None if s is None or e is None else e - s for s, e in zip(self.cols["start"], self.cols["end"],
                                                                              strict=True)]
        if field == "id":
            return self.id
        return self.cols.get(field, [None] * len(self.id))

    def _searchable(self, i: int) -> str:
        row = self.row(i)
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        return f"{row['id']} {row['state']} {params} {row['executor']} {row['reason']}".lower()


#: ``name<op>literal`` in the table's search box.
FILTER = re.compile(r"^([A-Za-z_][\w./-]*)(<=|>=|!=|=|<|>)(.+)$")
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq, "!=": operator.ne}


def _order(v: Any) -> tuple[int, Any, str]:
    """Numbers before text, so that a column mixing both still sorts."""
    return (0, v, "") if isinstance(v, int | float) else (1, 0, str(v))
