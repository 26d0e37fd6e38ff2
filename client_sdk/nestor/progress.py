"""Live progress of a study, fed by its WatchStudy events.

Events only update a small model (cheap, so thousands per second keep up);
on a terminal a rich Live display renders that model a few times a second.
Elsewhere (pipes, CI logs, tests) one plain line is printed per finished trial.

What the events must carry: ``counts`` and ``study_state`` on every event;
``trial`` (params, state, executor, start/end time, error, stop_reason,
final_measurement) on trial events; ``measurement`` on TRIAL_MEASUREMENT; and
a last STUDY_EVENT_STUDY_ENDED whose ``message`` says why the study ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from nestor.records import excerpt, fmt_duration, fmt_params, fmt_value, seconds
from nestor.study import STUDY_STATE_NAMES, Study
from nestor.tables import state_text
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import controller_pb2, study_pb2
from nestor.values import ParamValue, params_from_proto

E = controller_pb2
#: Trials shown in the live table.
RECENT = 8
#: Rows kept for trials that ended; older ones are dropped so a long study does not grow memory.
MAX_ROWS = 256
REFRESH_PER_SECOND = 4

END_EVENTS = {E.STUDY_EVENT_TRIAL_COMPLETED, E.STUDY_EVENT_TRIAL_STOPPED, E.STUDY_EVENT_TRIAL_FAILED}


@dataclass
class Row:
    id: int
    params: dict[str, ParamValue]
    state: str = "PENDING"
    value: float | None = None
    step: int = 0
    executor: str = ""
    start: float | None = None
    end: float | None = None
    note: str = ""

    def duration(self, now: float) -> float | None:
        if self.start is None:
            return None
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclass
class Best:
    value: float
    trial_id: int
    params: dict[str, ParamValue]


@dataclass
class ProgressModel:
    """Everything the display shows; ``apply`` one event at a time."""

    study_id: str
    name: str
    max_trials: int
    metric: str
    maximize: bool
    param_names: list[str]
    created: float = field(default_factory=time.time)
    ended: float | None = None
    state: int = study_pb2.STUDY_RUNNING
    counts: study_pb2.TrialCounts = field(default_factory=study_pb2.TrialCounts)
    best: Best | None = None
    #: Several objectives: the front's hypervolume, the study's progress measure (a single best means little).
    hypervolume: float | None = None
    several: bool = False
    rows: dict[int, Row] = field(default_factory=dict)
    events: int = 0
    end_message: str = ""
    finished: bool = False

    @classmethod
    def for_study(cls, s: study_pb2.Study) -> ProgressModel:
        objective = s.spec.objectives[0] if s.spec.objectives else study_pb2.Objective()
        return cls(
            study_id=s.id, name=s.spec.name, max_trials=s.spec.budget.max_trials, metric=objective.metric,
            maximize=objective.goal == study_pb2.GOAL_MAXIMIZE,
            param_names=[p.name for p in s.spec.space.parameters],
            created=seconds(s.create_time) or time.time(), state=s.state, counts=s.counts,
            hypervolume=s.hypervolume if s.HasField("hypervolume") else None, several=len(s.spec.objectives) > 1,
        )

    @property
    def done(self) -> int:
        """Trials that count against ``max_trials``: COMPLETED or STOPPED (a stopped trial's last result stands;
        one stopped before its first report has none, and still counts)."""
        return self.counts.completed + self.counts.stopped

    def elapsed(self, now: float) -> float:
        return max(0.0, (self.ended if self.ended is not None else now) - self.created)

    def rate_per_min(self, now: float) -> float:
        ended = self.done + self.counts.failed
        minutes = self.elapsed(now) / 60
        return ended / minutes if minutes > 0 else 0.0

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def apply(self, ev: controller_pb2.StudyEvent) -> Row | None:
        """Updates the model; returns the trial's row when this event ended a trial."""
        self.events += 1
        if ev.HasField("counts"):
            self.counts = ev.counts
        if ev.study_state:
            self.state = ev.study_state
        if ev.type == E.STUDY_EVENT_STUDY_ENDED:
            self.ended = seconds(ev.time) or time.time()
            self.end_message = ev.message
            self.finished = True
            return None
        if not ev.trial_id:
            return None
        if ev.HasField("hypervolume"):
            self.hypervolume = ev.hypervolume
        row = self._row(ev)
        if ev.type == E.STUDY_EVENT_TRIAL_MEASUREMENT:
            if self.metric in ev.measurement.metrics:
                row.value, row.step = ev.measurement.metrics[self.metric], ev.measurement.step
        elif ev.type in (E.STUDY_EVENT_TRIAL_REQUEUED, E.STUDY_EVENT_TRIAL_DECISION) and ev.message:
            row.note = ev.message
        elif ev.type in END_EVENTS:
            self._ended(ev, row)
            return row
        return None

    def _row(self, ev: controller_pb2.StudyEvent) -> Row:
        row = self.rows.get(ev.trial_id)
        if row is None:
            row = self.rows[ev.trial_id] = Row(ev.trial_id, self._ordered(params_from_proto(ev.trial.params)))
        if ev.HasField("trial"):
            t = ev.trial
            row.state = TRIAL_STATE_NAMES.get(t.state, row.state)
            row.executor = t.executor or row.executor
            row.start = seconds(t.start_time) or row.start
            row.end = seconds(t.end_time)
        return row

    def _ordered(self, params: dict[str, ParamValue]) -> dict[str, ParamValue]:
        # Only the shown parameters need an order; the rest keep theirs (cheaper than sorting all).
        first = {k: params[k] for k in self.param_names if k in params}
        return first | {k: v for k, v in params.items() if k not in first}

    def _ended(self, ev: controller_pb2.StudyEvent, row: Row) -> None:
        t = ev.trial
        final = t.final_measurement.metrics
        if self.metric in final:
            row.value = final[self.metric]
        row.end = row.end or seconds(ev.time) or time.time()
        row.note = t.error or t.stop_reason or t.decision or ev.message
        if t.infeasible:
            row.note = "infeasible" + (f"; {row.note}" if row.note else "")
        if (ev.type != E.STUDY_EVENT_TRIAL_FAILED and row.value is not None and not t.infeasible
                and (self.best is None or self.better(row.value, self.best.value))):
            self.best = Best(row.value, row.id, row.params)
        if len(self.rows) > MAX_ROWS:
            self._prune()

    def _prune(self) -> None:
        ended = sorted(i for i, r in self.rows.items() if r.end is not None)
        for i in ended[: len(self.rows) - MAX_ROWS // 2]:
            del self.rows[i]

    # --- text ----------------------------------------------------------------

    def progress_text(self) -> str:
        return f"{self.done}/{self.max_trials}" if self.max_trials else str(self.done)

    def line(self, row: Row) -> str:
        """One log line for a finished trial."""
        parts = [f"[{self.progress_text()}] trial {row.id} {row.state}"]
        if row.value is not None:
            parts.append(f"{self.metric}={fmt_value(row.value)}")
        if self.several and self.hypervolume is not None:
            parts.append(f"(hypervolume {fmt_value(self.hypervolume)})")
        elif self.best is not None:
            parts.append(f"(best {fmt_value(self.best.value)} in trial {self.best.trial_id})")
        parts.append(fmt_params(row.params, self.param_names))
        parts.append(f"in {fmt_duration(row.duration(time.time()))}")
        if row.executor:
            parts.append(f"on {row.executor}")
        if row.note:
            parts.append(f"- {excerpt(row.note, 120)}")
        return " ".join(p for p in parts if p)

    def end_line(self) -> str:
        state = STUDY_STATE_NAMES.get(self.state, str(self.state))
        why = f": {self.end_message}" if self.end_message else ""
        return (f"study {self.study_id} {state}{why} ({self.counts.completed} completed, {self.counts.stopped} "
                f"stopped, {self.counts.failed} failed, "
                f"{fmt_duration(self.elapsed(time.time()))})")


class LiveView:
    """Renders a ProgressModel; the lock keeps rendering (rich's refresh thread) and ``apply`` apart."""

    def __init__(self, model: ProgressModel) -> None:
        self.model = model
        self.lock = threading.Lock()

    def render(self) -> RenderableType:
        with self.lock:
            return self._render(time.time())

    def _render(self, now: float) -> RenderableType:
        m = self.model
        state = STUDY_STATE_NAMES.get(m.state, str(m.state))
        head = Text.assemble(("study ", "dim"), (m.name or m.study_id, "bold"), (f"  {m.study_id}  ", "dim"),
                             state_text(state))
        bar = Table.grid(padding=(0, 2))
        bar.add_row(
            ProgressBar(total=m.max_trials or None, completed=m.done, width=40),
            Text(f"{m.progress_text()} trials"),
            Text(f"{fmt_duration(m.elapsed(now))} · {m.rate_per_min(now):.1f} trials/min", style="dim"),
        )
        c = m.counts
        counts = Text.assemble(
            ("running ", "dim"), str(c.running), ("  pending ", "dim"), str(c.pending),
            *((("  paused ", "dim"), str(c.paused)) if c.paused else ()),
            ("  completed ", "dim"), (str(c.completed), "green"),
            ("  stopped ", "dim"), (str(c.stopped), "yellow"),
            ("  failed ", "dim"), (str(c.failed), "red" if c.failed else ""),
        )
        if m.several:
            best = Text.assemble(("hypervolume ", "dim"), (fmt_value(m.hypervolume), "bold green"),
                                 ("  of the feasible Pareto front", "dim"))
        elif m.best is not None:
            best = Text.assemble(("best ", "dim"), (f"{m.metric} {fmt_value(m.best.value)}", "bold green"),
                                 (f"  trial {m.best.trial_id}  ", "dim"), fmt_params(m.best.params))
        else:
            best = Text("best  -", style="dim")
        parts: list[RenderableType] = [head, bar, counts, best, self._table(now)]
        if m.finished and m.end_message:
            parts.append(Text(f"ended: {m.end_message}", style="dim"))
        return Group(*parts)

    def _table(self, now: float) -> Table:
        m = self.model
        table = Table(show_edge=False, pad_edge=False, expand=False)
        for col, justify in (("trial", "right"), ("state", "left"), (m.metric or "objective", "right"),
                             ("params", "left"), ("executor", "left"), ("time", "right"), ("note", "left")):
            # Only the free-text columns give way on a narrow terminal; a state is never cut to `COMPLE…`.
            table.add_column(col, justify=justify, no_wrap=True,  # type: ignore[arg-type]
                             overflow="ellipsis", max_width=60 if col in ("params", "note") else None,
                             min_width=len("COMPLETED") if col == "state" else None)
        for i in sorted(m.rows, reverse=True)[:RECENT]:
            r = m.rows[i]
            value = fmt_value(r.value)
            if r.value is not None and r.end is None and r.step:
                value += f" @{r.step}"
            table.add_row(str(r.id), state_text(r.state), value, fmt_params(r.params, m.param_names),
                          r.executor or "-", fmt_duration(r.duration(now)), excerpt(r.note, 60))
        return table


def follow_events(events: Iterable[controller_pb2.StudyEvent], model: ProgressModel, console: Console,
                  live: bool | None = None) -> ProgressModel:
    """Feeds ``events`` to the display until the study ends or the events run out."""
    use_live = console.is_terminal if live is None else live
    if not use_live:
        for ev in events:
            row = model.apply(ev)
            if row is not None:
                console.print(model.line(row), markup=False, highlight=False, soft_wrap=True)
            if model.finished:
                console.print(model.end_line(), markup=False, highlight=False, soft_wrap=True)
                break
        return model
    view = LiveView(model)
    with Live(get_renderable=view.render, console=console, refresh_per_second=REFRESH_PER_SECOND,
              transient=False, redirect_stdout=False, redirect_stderr=False):
        for ev in events:
            with view.lock:
                model.apply(ev)
            if model.finished:
                break
    return model


def follow(study: Study, console: Console | None = None, *, live: bool | None = None) -> ProgressModel:
    """Shows the study's progress until it ends; returns the final model (callers print the best trial)."""
    model = ProgressModel.for_study(study.info())
    return follow_events(study.watch(), model, console or Console(), live)
