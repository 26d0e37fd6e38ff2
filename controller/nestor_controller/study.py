"""One study in the controller's memory: its trials, its strategy and its events.

Every change follows the same path: compute it in memory (synchronously, so
that no other coroutine sees half of it), collect the store rows and the
events it produced, commit them in one transaction, and only then publish the
events and answer. A crash before the commit loses a change nobody was told
about; a crash after it loses nothing. A commit that fails answers
UNAVAILABLE and fences off the study's later writes; the engine then throws
this runtime away and rebuilds the study from what the store holds (a new
`generation`), so memory never keeps a change the store refused.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nestor.v1 import controller_pb2, study_pb2

from nestor_controller.constraints import missing_metric, violations
from nestor_controller.errors import PreconditionError, SpecError, StoreUnavailable
from nestor_controller.front import FrontTracker
from nestor_controller.limits import check_metrics
from nestor_controller.model import (
    ADDED,
    LineageEntry,
    MeasurementRecord,
    QueuedSet,
    TrialRecord,
    interval_ending_at,
    timestamp,
)
from nestor_controller.objectives import dominates, objective_values
from nestor_controller.requests import answer_op, note_request
from nestor_controller.samplers import Observation, Sampler, make_sampler
from nestor_controller.schedulers import ACTIVE, CONTINUE, DONE, Promotion, Scheduler, Verdict, scheduler_class
from nestor_controller.schedulers import FAILED as FAILED_PHASE
from nestor_controller.schedulers import PAUSED as PAUSED_PHASE
from nestor_controller.store import Op, studies, trials
from nestor_controller.store import events as events_table
from nestor_controller.store import measurements as measurements_table
from nestor_controller.validate import ParsedSpec
from nestor_controller.warmstart import TOP_K, WarmStart

if TYPE_CHECKING:
    from nestor_controller.engine import Engine

E = controller_pb2
RUNNING, PENDING = study_pb2.TRIAL_RUNNING, study_pb2.TRIAL_PENDING
COMPLETED, STOPPED, FAILED = study_pb2.TRIAL_COMPLETED, study_pb2.TRIAL_STOPPED, study_pb2.TRIAL_FAILED
PAUSED = study_pb2.TRIAL_PAUSED
PHASES = {PENDING: ACTIVE, RUNNING: ACTIVE, PAUSED: PAUSED_PHASE, COMPLETED: DONE, STOPPED: DONE,
          FAILED: FAILED_PHASE}
#: Budgets this close (relative) count as used up.
BUDGET_TOLERANCE = 1e-9
END_EVENT = {COMPLETED: E.STUDY_EVENT_TRIAL_COMPLETED, STOPPED: E.STUDY_EVENT_TRIAL_STOPPED,
             FAILED: E.STUDY_EVENT_TRIAL_FAILED}
STUDY_STATE_NAMES = {v: k.removeprefix("STUDY_") for k, v in study_pb2.StudyState.items()}


async def raise_later(e: BaseException) -> None:
    raise e


def check_measurement(m: study_pb2.Measurement, where: str, *, final: bool = False) -> MeasurementRecord:
    """A measurement with finite metrics, or SpecError naming the bad one. A `final` one may carry none (the
    last report is the result then)."""
    if m.step < 0:
        raise SpecError(f"{where}: step must be >= 0, got {m.step}")
    if not m.metrics and not final:
        raise SpecError(f"{where}: no metrics; a measurement carries at least one")
    check_metrics(m.metrics, m.metrics.keys(), where)
    for name, x in m.metrics.items():
        if not name:
            raise SpecError(f"{where}: a metric has an empty name")
        if not math.isfinite(x):
            raise SpecError(f"{where}: metric {name!r} at step {m.step} is {x}; metrics must be finite numbers")
    if not math.isfinite(m.elapsed_s) or m.elapsed_s < 0:
        raise SpecError(f"{where}: elapsed_s must be a finite number >= 0, got {m.elapsed_s}")
    return MeasurementRecord.from_proto(m)


class StudyRuntime:
    def __init__(self, engine: Engine, study_id: str, spec: study_pb2.StudySpec, parsed: ParsedSpec,
                 seed: int, created: float) -> None:
        self.engine = engine
        self.store = engine.store
        self.id = study_id
        self.spec = spec
        self.parsed = parsed
        self.objectives = parsed.objectives
        self.seed = seed
        self.created = created
        self.state = study_pb2.STUDY_RUNNING
        self.ended: float | None = None
        self.reason = ""
        self.sampler: Sampler = make_sampler(parsed.algorithm, parsed.space, parsed.objectives,
                                             parsed.algorithm_settings, seed)
        self.sampler.bind_study(spec.budget.max_trials, bool(parsed.constraints))
        self.scheduler: Scheduler = scheduler_class(parsed.scheduler)(
            parsed.objectives[0], parsed.fidelity, parsed.scheduler_settings, seed)
        self.scheduler.bind_space(parsed.space)
        self.trials: dict[int, TrialRecord] = {}
        #: The PENDING and RUNNING ones among them, so that a suggestion does not scan every trial.
        self.active: dict[int, TrialRecord] = {}
        self.next_trial_id = 1
        self.counts = dict.fromkeys((PENDING, RUNNING, COMPLETED, STOPPED, FAILED, PAUSED), 0)
        self.pending: deque[int] = deque()
        self.history: list[Observation] = []
        self.front = FrontTracker(parsed.objectives)
        self._finished_curves: list[list[tuple[int, float]]] = []
        self.last_seq = 0
        self.subscribers: set[asyncio.Queue[study_pb2.Study | controller_pb2.StudyEvent | None]] = set()
        #: [events, done] of each commit in submit order, until watchers have been given them.
        self._outbox: deque[list[Any]] = deque()
        #: The last commit submitted, durable or not yet: what an answer read from memory may depend on.
        self._tail: asyncio.Future[None] | None = None
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.runner: asyncio.Task[None] | None = None
        #: The sampler will suggest nothing more (the study's queue may still hold parameter sets).
        self.sampler_done = False
        #: Parameter sets to make trials of before asking the sampler (EnqueueTrials, warm start top_k).
        self.queue: deque[QueuedSet] = deque()
        self.next_position = 1
        #: Trials added from elsewhere (AddTrials) by state: no part of the budget or of max_failed.
        self.added = {COMPLETED: 0, FAILED: 0}
        #: What a warm start chose at creation (None: a cold study).
        self.warm: WarmStart | None = None
        self.last_error = ""
        #: Which incarnation of the study this is: its writes are fenced by it (see the module docstring).
        self.generation = 0
        #: A write failed: this runtime is being replaced and answers nothing more.
        self.broken = False
        #: Set after a restart or rebuild: why RUNNING trials with no stream of ours go back to the queue.
        self.orphan_reason = ""
        #: Checkpoint folders of population members removed as spent (spent_folders); memory only: after a
        #: restart they are listed again, and removing what is gone is no error.
        self.pruned: set[str] = set()
        #: When each running client-driven trial's client was last heard of (see expiry.py); memory only.
        self.last_heard: dict[int, float] = {}

    def use_warm_start(self, warm: WarmStart) -> None:
        """What the study chose at creation; its sampler models the priors unless it only runs their best."""
        self.warm = warm
        if warm.mode != TOP_K:
            self.sampler.set_priors(warm.priors, warm.mode, warm.decay)

    # --- views -----------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        """No trial can be made any more: the sampler is done and the queue is empty."""
        return self.sampler_done and not self.queue

    @property
    def managed(self) -> bool:
        return bool(self.spec.trainable)

    @property
    def running(self) -> bool:
        return self.state == study_pb2.STUDY_RUNNING

    @property
    def max_trials(self) -> int:
        return self.spec.budget.max_trials

    @property
    def max_failed(self) -> int | None:
        b = self.spec.budget
        if b.HasField("max_failed"):
            return b.max_failed
        return b.max_trials or None

    def counts_proto(self) -> study_pb2.TrialCounts:
        c = self.counts
        return study_pb2.TrialCounts(pending=c[PENDING], running=c[RUNNING], completed=c[COMPLETED],
                                     stopped=c[STOPPED], failed=c[FAILED], paused=c[PAUSED],
                                     added=sum(self.added.values()), queued=len(self.queue))

    def to_proto(self) -> study_pb2.Study:
        s = study_pb2.Study(id=self.id, spec=self.spec, state=self.state, create_time=timestamp(self.created),  # type: ignore[arg-type]
                            counts=self.counts_proto(), reason=self.reason, seed=self.seed)
        if self.ended is not None:
            s.end_time.CopyFrom(timestamp(self.ended))
        summary = self.front.summary(self.history)
        if summary is not None:
            s.hypervolume = summary[0]
            s.reference_point.extend(summary[1])
        if self.warm is not None:
            s.warm_start.CopyFrom(self.warm.summary(self.history))
        self.sampler.describe(s, self.history)
        return s

    def trial(self, trial_id: int) -> TrialRecord:
        t = self.trials.get(trial_id)
        if t is None:
            from nestor_controller.errors import NotFoundError

            raise NotFoundError(f"trial {trial_id} of study {self.id} not found")
        return t

    def curve(self, trial_id: int) -> list[tuple[int, float]]:
        metric = self.objectives[0].metric
        return [(m.step, m.metrics[metric]) for m in self.trials[trial_id].measurements if metric in m.metrics]

    def finished_curves(self) -> Sequence[list[tuple[int, float]]]:
        return self._finished_curves

    def finished_curve(self, t: TrialRecord) -> None:
        """Keeps an ended trial's curve for the schedulers that compare against ended trials."""
        if self.scheduler.compares_with_finished:
            self._finished_curves.append(self.curve(t.id))

    def budget_of(self, trial_id: int) -> float:
        return self.trials[trial_id].budget

    def phase(self, trial_id: int) -> str:
        return PHASES[self.trials[trial_id].state]

    def active_trials(self) -> list[int]:
        return sorted(self.active)

    def members(self) -> list[int]:
        return [t.id for t in self.trials.values() if t.origin != ADDED]

    def lineage(self, trial_id: int) -> list[LineageEntry]:
        return self.trials[trial_id].lineage

    def checkpointed(self, trial_id: int, step: int) -> bool:
        if not self.managed:
            return True  # a client keeps its own checkpoints; the lineage tells it whose weights to load
        entry = interval_ending_at(self.trials[trial_id].lineage, step)
        return entry is not None and entry.get("saved") == step

    def spent_folders(self) -> list[str]:
        """Checkpoint folders of population members that nothing will start from again (pbt's
        prune_checkpoints): those of intervals that ended before the step every member has moved past (every
        copy and every retry of a current interval seeds from a folder that ended at its start or later)."""
        if not self.scheduler.evolves_params or not self.scheduler.settings.get("prune_checkpoints"):
            return []
        members = [self.trials[m] for m in self.members()]
        moving = [t for t in members if t.lineage and t.state not in (FAILED, STOPPED)]
        if not moving:
            return []
        passed = min(t.lineage[-1]["step"] for t in moving)
        out = []
        for t in members:
            for entry, after in zip(t.lineage, t.lineage[1:], strict=False):
                if after["step"] < passed and entry["folder"] not in self.pruned:
                    self.pruned.add(entry["folder"])
                    out.append(entry["folder"])
        return out

    def checkpoint_saved(self, t: TrialRecord, step: int) -> None:
        """The trial's run checkpointed `step` in its folder (a population member may then be a donor there);
        stored with the run's end."""
        if t.lineage:
            t.lineage[-1]["saved"] = step

    def remaining_trials(self) -> int | None:
        """Trials the budget still allows to be created (None: no limit)."""
        if not self.max_trials:
            return None
        return max(0, self.max_trials - self.budget_used())

    def budget_used(self) -> int:
        """Trials that count against max_trials: every one made, less those added from elsewhere and failed."""
        c = self.counts
        return c[COMPLETED] + c[STOPPED] + c[PAUSED] + c[PENDING] + c[RUNNING] - self.added[COMPLETED]

    def more_trials(self) -> bool:
        return self.running and not self.exhausted and self.remaining_trials() != 0

    def sampler_history(self) -> list[Observation]:
        """What the sampler sees: every ended run, or (unless it models budgets) each trial's latest."""
        if self.sampler.multi_fidelity or not self.scheduler.multi_fidelity:
            return list(self.history)
        latest = {o.trial_id: i for i, o in enumerate(self.history)}
        return [o for i, o in enumerate(self.history) if latest[o.trial_id] == i]

    def checkpoint_name(self, t: TrialRecord) -> str:
        """The trial's checkpoint folder: the same one on every run, unless promotions restart trials, or
        each interval of a population member has its own (seeded from the one it continues)."""
        if t.lineage:
            return str(t.lineage[-1]["folder"])
        if self.scheduler.restart_promoted and t.runs:
            return f"trial-{t.id}-budget-{t.budget:g}"
        return f"trial-{t.id}"

    def best_trials(self, count: int) -> list[TrialRecord]:
        done = [t for t in self.trials.values()
                if t.state == COMPLETED and t.final is not None and self.sampler.scored(t.params)]
        scored = [(t, objective_values(self.objectives, t.final.metrics)) for t in done]  # type: ignore[union-attr]
        # An infeasible trial is never a best one, nor on the front.
        scored = [(t, v) for t, v in scored if v is not None and not t.infeasible]
        if len(self.objectives) == 1:
            o = self.objectives[0]
            scored.sort(key=lambda tv: (o.loss(tv[1][0]), tv[0].id))  # type: ignore[index]
            return [t for t, _ in scored[:max(1, count)]]
        front = [t for t, v in scored
                 if not any(dominates(self.objectives, w, v) for _, w in scored)]  # type: ignore[arg-type]
        return sorted(front, key=lambda t: t.id)

    # --- store rows and events ------------------------------------------

    def study_row(self) -> Op:
        from google.protobuf import json_format

        return self.store.upsert(studies, {
            "id": self.id, "name": self.spec.name, "spec": json_format.MessageToJson(self.spec, indent=None),
            "state": self.state, "seed": self.seed, "created": self.created, "ended": self.ended,
            "reason": self.reason, "sampler_state": json.dumps(self.sampler.state()),
            "scheduler_state": json.dumps(self.scheduler.state()), "next_trial_id": self.next_trial_id,
        })

    def trial_row(self, t: TrialRecord) -> Op:
        return self.store.upsert(trials, t.to_row())

    def measurement_row(self, t: TrialRecord, m: MeasurementRecord) -> Op:
        return self.store.insert(measurements_table, {
            "study_id": self.id, "trial_id": t.id, "step": m.step, "metrics": json.dumps(m.metrics),
            "elapsed": m.elapsed})

    def event(self, ops: list[Op], evs: list[controller_pb2.StudyEvent], type_: int, trial: TrialRecord | None = None,
              measurement: MeasurementRecord | None = None, message: str = "",
              outer: controller_pb2.OuterStep | None = None, *,
              unchanged: tuple[study_pb2.Trial, study_pb2.TrialCounts] | None = None) -> None:
        """`unchanged`: the trial's proto (without measurements) and the counts, built once for a run of events
        that changes neither (a batch of measurements)."""
        self.last_seq += 1
        trial_proto, counts = unchanged if unchanged is not None else (None, self.counts_proto())
        ev = controller_pb2.StudyEvent(
            seq=self.last_seq, study_id=self.id, type=type_, time=timestamp(time.time()),  # type: ignore[arg-type]
            study_state=self.state, counts=counts, message=message,  # type: ignore[arg-type]
        )
        if trial is not None:
            ev.trial_id = trial.id
            ev.trial.CopyFrom(trial_proto if trial_proto is not None else trial.to_proto(measurements=False))
            summary = self.front.summary(self.history) if trial.finished else None
            if summary is not None:
                ev.hypervolume = summary[0]
        if measurement is not None:
            ev.measurement.CopyFrom(measurement.to_proto())
        if outer is not None:
            ev.outer.CopyFrom(outer)
        ops.append(self.store.insert(events_table, {"study_id": self.id, "seq": self.last_seq,
                                                    "payload": ev.SerializeToString()}))
        evs.append(ev)

    @property
    def fence(self) -> tuple[str, int]:
        return self.id, self.generation

    async def commit(self, ops: list[Op], evs: list[controller_pb2.StudyEvent]) -> None:
        await self._publish_when_committed(*self._submit(ops, evs))

    def commit_soon(self, ops: list[Op], evs: list[controller_pb2.StudyEvent], *,
                    read_earlier: bool = False) -> asyncio.Task[None]:
        """Queues the commit now, so that it keeps its place in the store's order before any later one; the
        task ends when it is done. With `read_earlier` (an answer computed from memory, which may hold changes
        not written yet), a commit with nothing to write ends when the last one submitted before it does, and
        fails with it.

        Only the caller that answers for it may await a failed one (the store already fenced the study and the
        engine rebuilds it)."""
        try:
            committed, outgoing = self._submit(ops, evs)
        except StoreUnavailable as e:
            task = asyncio.ensure_future(raise_later(e))
        else:
            if committed is None and read_earlier and self._tail is not None and not self._tail.done():
                committed = asyncio.shield(self._tail)
            task = asyncio.ensure_future(self._publish_when_committed(committed, outgoing))
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def settled(self) -> None:
        """Returns once every change submitted so far is written, and raises as the first that failed did: an
        answer read from memory alone (the study has ended) may rest on a change that is not durable yet."""
        if self._tail is not None:
            await asyncio.shield(self._tail)

    def _submit(self, ops: list[Op], evs: list[controller_pb2.StudyEvent]
                ) -> tuple[asyncio.Future[None] | None, list[Any]]:
        if self.broken:
            raise self.store.unavailable(f"study {self.id} is being read back after a failed write")
        answer = answer_op(self.store)
        if answer is not None:
            ops.append(answer)
        committed = self.store.submit(ops, self.fence)
        if committed is not None:
            # Later answers may wait on it too: a cancelled caller must not cancel the outcome they wait for.
            committed.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._tail, committed = committed, asyncio.shield(committed)
        # Its events take their place among the watchers' now, in the store's order, committed or not yet.
        outgoing = [evs, False]
        self._outbox.append(outgoing)
        return committed, outgoing

    async def _publish_when_committed(self, committed: asyncio.Future[None] | None, outgoing: list[Any]) -> None:
        try:
            if committed is not None:
                await committed
        except BaseException:
            outgoing[0] = []  # never committed: nothing to tell, and no later commit waits behind it
            raise
        finally:
            outgoing[1] = True
            self._publish_ready()

    def _publish_ready(self) -> None:
        """Hands watchers the events of every done commit up to the first one not done yet, in submit order:
        a commit awaited at once (durability off, nothing to wait for) must not overtake one queued before it."""
        while self._outbox and self._outbox[0][1]:
            evs, _ = self._outbox.popleft()
            for ev in evs:
                for q in self.subscribers:
                    q.put_nowait(ev)

    def subscribe(self) -> asyncio.Queue[Any]:
        q: asyncio.Queue[Any] = asyncio.Queue()
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Any]) -> None:
        self.subscribers.discard(q)

    def hold(self, t: TrialRecord) -> None:
        """Takes a trial into memory (new, added or read back from the store), counted by its state."""
        self.trials[t.id] = t
        self.counts[t.state] += 1
        if t.state in (PENDING, RUNNING):
            self.active[t.id] = t

    def set_state(self, t: TrialRecord, state: int) -> None:
        self.counts[t.state] -= 1
        t.state = state
        self.counts[state] = self.counts.get(state, 0) + 1
        if state in (PENDING, RUNNING):
            self.active[t.id] = t
        else:
            self.active.pop(t.id, None)

    # --- creating trials ----------------------------------------------------

    def room(self) -> float:
        """How many more trials may be created now (budget and parallelism)."""
        c = self.counts
        active = c[PENDING] + c[RUNNING]
        room = math.inf
        if self.max_trials:
            room = self.max_trials - self.budget_used()
        if self.spec.budget.max_parallel:
            room = min(room, self.spec.budget.max_parallel - active)
        return max(0, room)

    async def new_trials(self, count: int, ops: list[Op], evs: list[controller_pb2.StudyEvent], *,
                         client: str | None = None) -> list[TrialRecord]:
        """New trials from the sampler: PENDING for executors, or RUNNING for the asking client.

        The caller commits `ops`, together with the other changes of the same step."""
        queued = list(itertools.islice(self.queue, min(count, len(self.queue))))
        wanted = count - len(queued)
        suggestions: list[dict[str, Any]] = []
        if wanted and not self.sampler_done:
            history = self.sampler_history()
            running = [self.active[i].params for i in sorted(self.active)]
            running += [q.params for q in queued]
            if self.sampler.heavy:
                suggestions = await asyncio.to_thread(self.sampler.suggest, wanted, history, running)
            else:
                suggestions = self.sampler.suggest(wanted, history, running)
            if self.sampler.exhausted() or (len(suggestions) < wanted and not self.sampler.waits_for_running):
                self.sampler_done = True
        # Taken off the queue only now: a sampler that failed above leaves the queue as it was.
        for _ in queued:
            self.queue.popleft()
        if queued:
            ops.append(self.store.delete_queued(self.id, [q.position for q in queued]))
        now = time.time()
        out = []
        note = self.sampler.decision_note if suggestions else ""
        made = ([(q.params, q.origin, q.user_attrs, "") for q in queued]
                + [(a, "", {}, note) for a in suggestions])
        for params, origin, attrs, decision in made:
            t = TrialRecord(self.id, self.next_trial_id, params, state=PENDING, created=now,
                            budget=self.scheduler.budget_for_new_trial(self.next_trial_id, self), origin=origin,
                            user_attrs=dict(attrs), decision=decision)
            self.next_trial_id += 1
            if self.scheduler.evolves_params:
                t.lineage.append({"step": 0, "params": dict(params), "donor": 0, "reason": "the initial population",
                                  "folder": f"trial-{t.id}", "source": "", "saved": None})
            self.hold(t)
            self.event(ops, evs, E.STUDY_EVENT_TRIAL_CREATED, t)
            if client is not None:
                self.set_state(t, RUNNING)
                t.executor, t.started = client, now
                self.last_heard[t.id] = now
                self.event(ops, evs, E.STUDY_EVENT_TRIAL_STARTED, t)
            else:
                self.pending.append(t.id)
            ops.append(self.trial_row(t))
            out.append(t)
        ops.append(self.study_row())
        note_request(trials=[t.id for t in out])
        return out

    # --- measurements and results ------------------------------------------

    async def record_measurement(self, t: TrialRecord, m: MeasurementRecord) -> Verdict:
        verdict, committed = self.record_measurement_soon(t, m)
        await committed
        return verdict

    def record_measurement_soon(self, t: TrialRecord, m: MeasurementRecord) -> tuple[Verdict, asyncio.Task[None]]:
        """Records a measurement and decides on it now; the returned task ends when both are committed.

        A stream of reports then shares commits instead of waiting for one per report; whoever acts on
        the verdict (answers it) waits for the task first.
        """
        (verdict,), ops, evs = self._record_measurements(t, [m])
        note_request(trial=t.id, stop=verdict.stop, reason=verdict.reason)
        return verdict, self.commit_soon(ops, evs)

    def record_measurements_soon(self, t: TrialRecord, ms: Sequence[MeasurementRecord]
                                 ) -> tuple[list[Verdict], asyncio.Task[None]]:
        """Records measurements in order, each decided on as if it came alone, with one commit for them all."""
        verdicts, ops, evs = self._record_measurements(t, ms)
        return verdicts, self.commit_soon(ops, evs)

    def _record_measurements(self, t: TrialRecord, ms: Sequence[MeasurementRecord]
                             ) -> tuple[list[Verdict], list[Op], list[controller_pb2.StudyEvent]]:
        ops: list[Op] = []
        evs: list[controller_pb2.StudyEvent] = []
        verdicts = []
        unchanged = None
        for m in ms:
            t.measurements.append(m)
            ops.append(self.measurement_row(t, m))
            unchanged = unchanged or (t.to_proto(measurements=False), self.counts_proto())
            self.event(ops, evs, E.STUDY_EVENT_TRIAL_MEASUREMENT, t, m, unchanged=unchanged)
            verdict = CONTINUE
            if t.stop_reason:
                verdict = Verdict(True, t.stop_reason)
            elif self.objectives[0].metric in m.metrics:
                verdict = self.scheduler.decide(t.id, self)
                # A run that used its rung's budget is told to stop, but the trial is not stopped: it may go on.
                if verdict.stop and not verdict.rung:
                    t.stop_reason = t.decision = verdict.reason
                    ops.append(self.trial_row(t))
                    ops.append(self.study_row())
                    self.event(ops, evs, E.STUDY_EVENT_TRIAL_DECISION, t, message=verdict.reason)
                    unchanged = None  # the trial has its decision now
            verdicts.append(verdict)
        return verdicts, ops, evs

    def new_measurements(self, t: TrialRecord, reported: Sequence[study_pb2.Measurement]
                         ) -> tuple[list[MeasurementRecord], str]:
        """The reported measurements to record, in order: without steps already recorded (a run resumed from
        its checkpoint sends them again: the first value stands), up to the first invalid one; and why that
        one is invalid ("" when none is)."""
        out: list[MeasurementRecord] = []
        steps: set[int] = set()
        for r in reported:
            if r.step in steps or self.known_step(t, r.step):
                continue
            try:
                out.append(check_measurement(r, f"measurement of {t.where()}"))
            except SpecError as e:
                return out, str(e)
            steps.add(r.step)
        return out, ""

    def known_step(self, t: TrialRecord, step: int) -> bool:
        """A step already stored for this trial (a resumed run or a restarted client sends it again): the first
        value stands."""
        ms = t.measurements
        if not ms or step > ms[-1].step:
            return False  # the usual case, steps in order: no scan
        return any(m.step == step for m in ms)

    def final_for(self, t: TrialRecord, final: MeasurementRecord | None) -> tuple[MeasurementRecord | None, str]:
        """The final measurement (given, or the last report) and, when unusable, why."""
        if final is None or not final.metrics:
            final = t.measurements[-1] if t.measurements else None
        if final is None:
            # A trial that is no candidate result (a DARTS search) may end without one.
            return None, f"{t.where()} ended with no measurement" if self.sampler.scored(t.params) else ""
        missing = [o.metric for o in self.objectives if o.metric not in final.metrics]
        if missing and self.sampler.scored(t.params):
            have = ", ".join(sorted(final.metrics)) or "none"
            return final, f"final measurement of {t.where()} lacks objective metric {missing[0]!r} (has: {have})"
        unmeasured = missing_metric(self.parsed.constraints, final.metrics)
        if unmeasured is not None and self.sampler.scored(t.params):
            have = ", ".join(sorted(final.metrics)) or "none"
            return final, f"final measurement of {t.where()} lacks constraint metric {unmeasured!r} (has: {have})"
        return final, ""

    async def finish_trial(self, t: TrialRecord, *, final: MeasurementRecord | None = None, error: str = "",
                           stopped: bool = False, measurements: Sequence[MeasurementRecord] = ()) -> None:
        """Ends the trial, after recording `measurements` (told with its result), in one commit."""
        ops: list[Op] = []
        evs: list[controller_pb2.StudyEvent] = []
        if measurements:
            _, ops, evs = self._record_measurements(t, measurements)
        self._end_trial(t, ops, evs, final=final, error=error, stopped=stopped)
        self._check_end(ops, evs, t)
        note_request(trial=t.id)
        await self.commit(ops, evs)

    def _end_trial(self, t: TrialRecord, ops: list[Op], evs: list[controller_pb2.StudyEvent], *,
                   final: MeasurementRecord | None, error: str, stopped: bool) -> None:
        if t.id in self.pending:
            self.pending.remove(t.id)
        if not error:
            final, error = self.final_for(t, final)
            if error and stopped and final is None:
                error = ""  # stopped before its first report: nothing to score, but nothing went wrong
        state = FAILED if error else self._outcome(t, stopped)
        if state in (PAUSED, COMPLETED) and self.scheduler.multi_fidelity:
            t.decision = self.scheduler.run_ended(t.id, self) or t.decision
            ops.append(self.study_row())
        self.set_state(t, state)
        t.final = final if state != FAILED else None
        t.error = error
        t.ended = time.time()
        if state == FAILED:
            self.last_error = error
        values, broken = self.observe(t, failed=state == FAILED)
        if state not in (FAILED, PAUSED):
            self.finished_curve(t)
        if state == PAUSED:
            self.event(ops, evs, E.STUDY_EVENT_TRIAL_PAUSED, t, message=t.decision)
        else:
            self.event(ops, evs, END_EVENT[state], t, message=error or t.stop_reason)
        self.record_run(t, values, broken)
        ops.append(self.trial_row(t))
        self.wake.set()

    def observe(self, t: TrialRecord, *, failed: bool) -> tuple[tuple[float, ...] | None, tuple[float, ...]]:
        """What the sampler sees of an ended run (its objective values, None when it failed, and how far it
        breaks each constraint), added to the history; marks the trial infeasible or not."""
        objectives = self.sampler.objectives_for(t.params) or self.objectives
        values = objective_values(objectives, t.final.metrics) if t.final and not failed else None
        broken = violations(self.parsed.constraints, t.final.metrics if t.final and values is not None else None)
        t.infeasible = any(v > 0 for v in broken)
        self.history.append(Observation(t.id, t.params_at(t.budget), values, t.budget, broken))
        return values, broken

    def record_run(self, t: TrialRecord, values: tuple[float, ...] | None, broken: tuple[float, ...]) -> None:
        """Keeps the run's end and its event's place in the study's order (the last event's seq): a restart
        rebuilds the history from them."""
        t.runs.append({"budget": t.budget, "values": list(values) if values is not None else None,
                       "seq": self.last_seq, **({"violations": list(broken)} if broken else {})})

    def _outcome(self, t: TrialRecord, stopped: bool) -> int:
        """How a run that did not fail ends the trial: COMPLETED, STOPPED, or PAUSED at a rung below the top."""
        if t.stop_reason:
            return STOPPED
        f = self.parsed.fidelity
        if not self.scheduler.multi_fidelity or f is None:
            return STOPPED if stopped else COMPLETED
        curve = self.curve(t.id)
        if stopped and not (curve and curve[-1][0] >= t.budget * (1 - BUDGET_TOLERANCE)):
            return STOPPED  # told to stop before its budget was used
        return PAUSED if t.budget < f.max * (1 - BUDGET_TOLERANCE) else COMPLETED

    # --- promotions (multi-fidelity schedulers) ---------------------------------------

    def settle(self, ops: list[Op], evs: list[controller_pb2.StudyEvent], free: int, *,
               client: str | None = None) -> list[TrialRecord]:
        """Applies the scheduler's plan: up to `free` paused trials go on (PENDING for executors, RUNNING for
        `client`), hopeless ones stop. When nothing runs, no trial can be created and none can be promoted,
        every paused trial stops, so the study can end."""
        if not self.scheduler.multi_fidelity or not self.running or not self.counts[PAUSED]:
            return []
        plan = self.scheduler.plan(self, free)
        for trial_id, reason in plan.drop:
            self._drop(self.trials[trial_id], reason, ops, evs)
        promoted = [self._promote(self.trials[p.trial_id], p, ops, evs, client) for p in plan.promote]
        c = self.counts
        if c[PAUSED] and not c[PENDING] + c[RUNNING] and not self.more_trials() \
                and not self.scheduler.plan(self, c[PAUSED]).promote:
            for t in [t for t in self.trials.values() if t.state == PAUSED]:
                self._drop(t, "not promoted: nothing runs, no trial can be created and no rung promotes it", ops, evs)
        return promoted

    def _drop(self, t: TrialRecord, reason: str, ops: list[Op], evs: list[controller_pb2.StudyEvent]) -> None:
        """A paused trial ends STOPPED at its rung; its result there (already observed) stands."""
        self.set_state(t, STOPPED)
        t.stop_reason = t.decision = reason
        t.ended = time.time()
        self.finished_curve(t)
        self.event(ops, evs, E.STUDY_EVENT_TRIAL_STOPPED, t, message=reason)
        ops.append(self.trial_row(t))
        self.wake.set()

    def _promote(self, t: TrialRecord, p: Promotion, ops: list[Op], evs: list[controller_pb2.StudyEvent],
                 client: str | None) -> TrialRecord:
        """The same trial goes on with a larger budget: queued for an executor, or handed to `client`."""
        self.set_state(t, PENDING)
        t.budget = p.budget
        t.decision = p.reason
        t.ended = None
        if p.params is not None and t.lineage:
            # The next interval in a folder of its own, seeded from the weights it continues: the donor's
            # folder of the interval that ended at the step (or its own), which nothing writes any more.
            # A folder with no checkpoint seeds nothing (a member that never saved starts over), so the
            # executor may refuse a source it cannot find: its artifact directory is not the one shared.
            source = interval_ending_at(self.trials[p.donor or t.id].lineage, p.step)
            t.lineage.append({"step": p.step, "params": dict(p.params), "donor": p.donor, "reason": p.reason,
                              "folder": f"trial-{t.id}-step-{p.step}",
                              "source": source["folder"] if source.get("saved") is not None else "",
                              "saved": None})
            t.params = dict(p.params)
        self.event(ops, evs, E.STUDY_EVENT_TRIAL_PROMOTED, t, message=p.reason)
        if client is None:
            self.pending.append(t.id)
        else:
            self.set_state(t, RUNNING)
            t.executor, t.started = client, time.time()
            t.attempt += 1
            self.event(ops, evs, E.STUDY_EVENT_TRIAL_STARTED, t, message=f"promoted, for {client}")
        ops.append(self.trial_row(t))
        return t

    def _check_end(self, ops: list[Op], evs: list[controller_pb2.StudyEvent], t: TrialRecord | None) -> None:
        if not self.running:
            return
        self.settle(ops, evs, 0)  # paused trials a finished rung leaves behind stop now, not at the end
        c = self.counts
        o = self.objectives[0]
        if (t is not None and t.state == COMPLETED and o.target is not None and t.final is not None
                and o.reached(t.final.metrics[o.metric])):
            sign = ">=" if o.maximize else "<="
            self._end_study(ops, evs, study_pb2.STUDY_COMPLETED,
                            f"target {o.metric} {sign} {o.target:g} reached by trial {t.id}")
        elif self.max_failed is not None and self.failed_count() > self.max_failed:
            self._end_study(ops, evs, study_pb2.STUDY_FAILED,
                            f"{self.failed_count()} trials failed, more than max_failed={self.max_failed}; "
                            f"last error: {self.last_error[:500]}")
        elif self.max_trials and self.ended_count() >= self.max_trials:
            self._end_study(ops, evs, study_pb2.STUDY_COMPLETED, f"budget of {self.max_trials} trials spent")
        elif self.exhausted and c[PENDING] + c[RUNNING] + c[PAUSED] == 0:
            self._end_study(ops, evs, study_pb2.STUDY_COMPLETED,
                            f"search space exhausted after {len(self.trials)} trials")

    def failed_count(self) -> int:
        """Failed trials the study ran (not those added from elsewhere)."""
        return self.counts[FAILED] - self.added[FAILED]

    def ended_count(self) -> int:
        """Trials the study ran to their end, COMPLETED or STOPPED (not those added from elsewhere)."""
        return self.counts[COMPLETED] + self.counts[STOPPED] - self.added[COMPLETED]

    def _end_study(self, ops: list[Op], evs: list[controller_pb2.StudyEvent], state: int, reason: str) -> None:
        self.state = state
        self.reason = reason
        self.ended = time.time()
        for t in list(self.trials.values()):
            if t.state == PAUSED:
                self._drop(t, f"study ended: {reason}", ops, evs)
            elif t.state in (PENDING, RUNNING):
                # Running trials end with the study; their executors are told to stop below.
                self.engine.cancel_trial_run(self, t.id)
                t.stop_reason = t.stop_reason or f"study ended: {reason}"
                self._end_trial(t, ops, evs, final=None, error="", stopped=True)
        ops.append(self.study_row())
        self.event(ops, evs, E.STUDY_EVENT_STUDY_ENDED, message=reason)
        self.wake.set()

    async def end(self, state: int, reason: str) -> None:
        if not self.running:
            raise PreconditionError(f"study {self.id} is already {STUDY_STATE_NAMES[self.state]}")
        ops: list[Op] = []
        evs: list[controller_pb2.StudyEvent] = []
        self._end_study(ops, evs, state, reason)
        await self.commit(ops, evs)

    async def check_end(self) -> None:
        ops: list[Op] = []
        evs: list[controller_pb2.StudyEvent] = []
        self._check_end(ops, evs, None)
        await self.commit(ops, evs)

    # --- managed trials ------------------------------------------------------

    def start_ops(self, t: TrialRecord, executor: str, checkpoint_dir: str, ops: list[Op],
                  evs: list[controller_pb2.StudyEvent]) -> None:
        """Marks a pending trial started on `executor`; the caller commits `ops` before dispatching it."""
        if t.id in self.pending:
            self.pending.remove(t.id)
        self.set_state(t, RUNNING)
        t.executor = executor
        t.started = time.time()
        t.attempt += 1
        t.checkpoint = checkpoint_dir
        ops.append(self.trial_row(t))
        self.event(ops, evs, E.STUDY_EVENT_TRIAL_STARTED, t, message=f"on {executor} (attempt {t.attempt})")

    async def requeue(self, t: TrialRecord, why: str, *, began: bool = True) -> None:
        """Puts a trial whose executor was lost back in the queue (it resumes from its checkpoint).

        `began=False`: the executor refused the run before starting it, so its attempt is given back (an
        attempt counts runs that really started)."""
        if t.state != RUNNING or not self.running:
            return
        self.set_state(t, PENDING)
        t.executor = ""
        if not began:
            t.attempt -= 1
        self.pending.appendleft(t.id)
        ops: list[Op] = [self.trial_row(t)]
        evs: list[controller_pb2.StudyEvent] = []
        self.event(ops, evs, E.STUDY_EVENT_TRIAL_REQUEUED, t, message=why)
        await self.commit(ops, evs)
        self.wake.set()

    # --- client-driven trials ------------------------------------------------

    def running_trial(self, trial_id: int) -> TrialRecord:
        t = self.trial(trial_id)
        if t.state != RUNNING:
            why = f" ({t.error or t.stop_reason})" if t.error or t.stop_reason else ""
            raise PreconditionError(f"{t.where()} is {t.state_name}{why}; it takes no more measurements or results")
        return t

    def require_running(self) -> None:
        if not self.running:
            raise PreconditionError(f"study {self.id} is {STUDY_STATE_NAMES[self.state]}: {self.reason}")
