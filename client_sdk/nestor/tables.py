"""Rich renderables for the CLI: studies, trials, executors, the best trial."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nestor.records import (
    excerpt,
    fmt_duration,
    fmt_params,
    fmt_time,
    fmt_value,
    in_space_order,
    objective_value,
    objectives_of,
    one_shot_text,
    trial_duration,
    warm_start_text,
)
from nestor.spec import dump_spec
from nestor.study import STUDY_STATE_NAMES
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import controller_pb2, study_pb2
from nestor.values import params_from_proto

STATE_STYLES = {
    "RUNNING": "cyan", "PENDING": "dim", "COMPLETED": "green", "STOPPED": "yellow", "FAILED": "red",
}


def state_text(name: str) -> Text:
    return Text(name, style=STATE_STYLES.get(name, ""))


def study_state_text(s: study_pb2.Study) -> Text:
    return state_text(STUDY_STATE_NAMES.get(s.state, str(s.state)))


def trial_state_text(t: study_pb2.Trial) -> Text:
    return state_text(TRIAL_STATE_NAMES.get(t.state, str(t.state)))


def progress_text(s: study_pb2.Study) -> str:
    done = s.counts.completed + s.counts.stopped
    return f"{done}/{s.spec.budget.max_trials}" if s.spec.budget.max_trials else str(done)


def studies_table(studies: list[study_pb2.Study]) -> Table:
    table = Table(title=None, show_edge=False, pad_edge=False)
    for col in ("id", "name", "state", "trainable", "progress", "running", "failed", "created", "ended"):
        table.add_column(col, no_wrap=col in ("id", "created", "ended"),
                         justify="right" if col in ("progress", "running", "failed") else "left")
    for s in studies:
        table.add_row(s.id, s.spec.name, study_state_text(s), s.spec.trainable or "(ask/tell)",
                      progress_text(s), str(s.counts.running), str(s.counts.failed), fmt_time(s.create_time),
                      fmt_time(s.end_time))
    return table


def study_view(s: study_pb2.Study) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    c = s.counts
    rows: list[tuple[str, str | Text]] = [
        ("id", s.id), ("name", s.spec.name), ("state", study_state_text(s)),
        ("trials", f"{progress_text(s)} of the budget (completed or stopped) · {c.running} running · "
                   f"{c.pending} pending · "
                   + (f"{c.paused} paused at a rung · " if c.paused else "")
                   + f"{c.completed} completed · {c.stopped} stopped · {c.failed} failed"),
        ("seed", str(s.seed)), ("created", fmt_time(s.create_time)), ("ended", fmt_time(s.end_time)),
    ]
    if s.reason:
        rows.append(("reason", s.reason))
    if s.HasField("hypervolume"):
        rows.append(("hypervolume", hypervolume_text(s)))
    if c.added or c.queued:
        rows.append(("added, queued", f"{c.added} results added from elsewhere · {c.queued} parameter sets queued"))
    if s.HasField("warm_start"):
        rows.append(("warm start", warm_start_text(s.warm_start)))
    if s.HasField("one_shot"):
        rows.append(("one-shot", one_shot_text(s.one_shot)))
    for key, value in rows:
        grid.add_row(key, value)
    return Group(grid, Text(""), Text("spec:", style="bold"), Text(dump_spec(s.spec).rstrip()))


def hypervolume_text(s: study_pb2.Study) -> str:
    """The front's hypervolume and its reference point, named by objective."""
    ref = ", ".join(f"{o.metric} {fmt_value(r)}" for o, r in zip(s.spec.objectives, s.reference_point, strict=False))
    return f"{fmt_value(s.hypervolume)} (reference point: {ref})"


def trials_table(trials: list[study_pb2.Trial], spec: study_pb2.StudySpec, title: str | None = None) -> Table:
    metrics = [m for m, _ in objectives_of(spec)]
    table = Table(title=title, show_edge=False, pad_edge=False)
    table.add_column("trial", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True, min_width=len("COMPLETED"))
    for m in metrics:
        table.add_column(m, justify="right", no_wrap=True)
    table.add_column("params", overflow="fold")
    table.add_column("budget", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("executor", no_wrap=True)
    table.add_column("note", overflow="fold")
    now = time.time()
    for t in trials:
        table.add_row(
            str(t.id), trial_state_text(t), *(fmt_value(objective_value(t, m)) for m in metrics),
            fmt_params(in_space_order(params_from_proto(t.params), spec)),
            fmt_value(t.budget) if t.budget else "-",
            fmt_duration(trial_duration(t, now)), t.executor or "-",
            excerpt(("infeasible; " if t.infeasible else "") + lineage_note(t)
                    + (t.error or t.stop_reason or t.decision)),
        )
    return table


def lineage_note(t: study_pb2.Trial) -> str:
    """A population member's copies in short ("2 copies, last of trial 3 at 12; "), "" for other trials."""
    copies = [e for e in t.lineage if e.donor_trial_id]
    if not copies:
        return ""
    last = copies[-1]
    return f"{len(copies)} cop{'y' if len(copies) == 1 else 'ies'}, last of trial {last.donor_trial_id} " \
           f"at {last.step}; "


def lineage_table(t: study_pb2.Trial, spec: study_pb2.StudySpec) -> Table:
    """One member's intervals: from which step, from whose weights, with which parameters (changes in bold)."""
    table = Table(title=f"trial {t.id}", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("from step", justify="right", no_wrap=True)
    table.add_column("weights of", no_wrap=True)
    table.add_column("params", overflow="fold")
    before: dict[str, Any] = {}
    for e in t.lineage:
        params = in_space_order(params_from_proto(e.params), spec)
        shown = Text()
        for i, (name, value) in enumerate(params.items()):
            shown.append(("  " if i else "") + f"{name}={fmt_value(value)}",
                         style="bold" if before and before.get(name) != value else "")
        table.add_row(str(e.step), f"trial {e.donor_trial_id}" if e.donor_trial_id else "its own", shown)
        before = params
    return table


def best_view(t: study_pb2.Trial, spec: study_pb2.StudySpec, heading: str = "best trial",
              tuned: dict[str, float] | None = None) -> RenderableType:
    """The trial's objective values and every parameter, one per line; for a hypergradient study, ``tuned``
    (the values its training ended with) beside the starting ones."""
    results = ", ".join(f"{m} = {fmt_value(objective_value(t, m))}" for m, _ in objectives_of(spec))
    head = Text.assemble((f"{heading} {t.id}", "bold"), " (", trial_state_text(t), ")",
                         f": {results}" if results else "")
    params = Table.grid(padding=(0, 2))
    params.add_column(style="dim")
    params.add_column()
    tuned = tuned or {}
    for name, value in in_space_order(params_from_proto(t.params), spec).items():
        if name in tuned:
            params.add_row(f"  {name}", Text.assemble((fmt_value(tuned[name]), "bold"),
                                                       (f"  tuned by hypergradient, from {fmt_value(value)}", "dim")))
        else:
            params.add_row(f"  {name}", fmt_value(value))
    return Group(head, params)


def executors_table(executors: list[controller_pb2.ExecutorStatus]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col in ("address", "id", "healthy", "slots", "running", "trainables", "devices", "last seen"):
        table.add_column(col, overflow="fold", justify="right" if col in ("slots", "running") else "left")
    for e in executors:
        devices = ", ".join(d.name or d.kind for d in e.info.devices) if e.info.devices else "-"
        table.add_row(
            e.address, e.info.executor_id or "-", Text("yes", "green") if e.healthy else Text("no", "red"),
            f"{e.info.busy_slots}/{e.info.slots}", str(e.running_trials), ", ".join(e.info.trainables) or "-",
            devices, fmt_time(e.last_seen),
        )
    return table
