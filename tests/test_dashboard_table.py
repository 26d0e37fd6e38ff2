"""The dashboard's trial table (nestor_dashboard.rows.TrialTable): column filters, sorting with missing values
last, live updates that never go back in time."""

from __future__ import annotations

from typing import Any

import pytest
from nestor_dashboard.rows import TrialTable


def columns() -> dict[str, Any]:
    return {"id": [1, 2, 3], "state": ["COMPLETED", "RUNNING", "FAILED"], "values": {"loss": [0.5, None, None]},
            "params": {"lr": [0.1, 0.01, 0.001], "opt": ["sgd", "adam", None]},
            "create_time": [1.0, 2.0, 3.0], "start_time": [1.0, 2.0, 3.0], "end_time": [3.0, None, 4.0],
            "executor": ["a:1", "b:2", "a:1"], "budget": [0.0] * 3, "attempt": [1, 1, 2],
            "reason": ["", "", "CUDA out of memory"], "infeasible": [False] * 3}


def update(trial_id: int, **fields: Any) -> dict[str, Any]:
    row = {"id": trial_id, "state": "RUNNING", "params": {"lr": 0.01, "opt": "adam"}, "values": [None],
           "start": 2.0, "end": None, "executor": "b:2", "budget": 0.0, "attempt": 1, "reason": "", "created": 2.0}
    return {**row, **fields}


def ids(table: TrialTable, **query: Any) -> list[int]:
    total, rows = table.page(offset=0, limit=50, **query)
    assert total == len(rows)
    return [r["id"] for r in rows]


@pytest.mark.parametrize(("text", "expected"), [
    ("lr<0.05", [2, 3]), ("lr>=0.01 opt=ADAM", [2]), ("opt!=sgd", [2]), ("loss<=0.5", [1]), ("value>0.4", [1]),
    ("state=failed", [3]), ("attempt>1", [3]), ("memory", [3]), ("executor=a:1", [1, 3]), ("duration>1.5", [1]),
    ("", [1, 2, 3])])
def test_filters_by_column(text: str, expected: list[int]) -> None:
    assert ids(TrialTable(columns(), ["loss"]), text=text) == expected


def test_a_filter_naming_no_column_or_comparing_text_says_so() -> None:
    table = TrialTable(columns(), ["loss"])
    with pytest.raises(ValueError, match=r"no column 'nope'.*lr, opt, loss"):
        table.page(offset=0, limit=5, text="nope<1")
    with pytest.raises(ValueError, match="< compares numbers"):
        table.page(offset=0, limit=5, text="opt<sgd")


def test_sorting_puts_missing_values_last_both_ways() -> None:
    table = TrialTable(columns(), ["loss"])
    assert ids(table, sort="param:opt") == [2, 1, 3]
    assert ids(table, sort="param:opt", descending=True) == [1, 2, 3]
    assert ids(table, sort="param:lr", descending=True) == [1, 2, 3]


def test_live_updates_add_change_and_never_go_back() -> None:
    table = TrialTable(columns(), ["loss"])
    assert table.upsert(update(2, state="COMPLETED", values=[0.2], end=5.0))
    assert not table.upsert(update(2))  # an event older than what is held
    assert not table.upsert(update(2, state="COMPLETED", values=[0.2], end=5.0))  # nothing new
    assert table.upsert(update(4, params={"lr": 0.3, "momentum": 0.9}, start=6.0, created=6.0))
    rows = {r["id"]: r for r in table.rows()}
    assert rows[2]["values"] == [0.2] and rows[2]["duration"] == 3.0
    assert rows[4]["params"] == {"lr": 0.3, "momentum": 0.9} and "momentum" not in rows[1]["params"]
    assert table.results(0) == [({"lr": 0.1, "opt": "sgd"}, 0.5), ({"lr": 0.01, "opt": "adam"}, 0.2)]
    assert len(table.plot_columns()["params"]["momentum"]) == 4
