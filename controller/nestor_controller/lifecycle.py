"""A study's lifecycle beyond ask and tell: enqueue parameter sets, add results from elsewhere, extend the
budget, and trials' user attributes.

Each call is checked whole before anything changes; its change is then made in memory and committed in one
transaction, as every other change of a study (study.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2
from nestor.v1 import controller_pb2, study_pb2

from nestor_controller.errors import PreconditionError, SpecError
from nestor_controller.limits import (
    MAX_ADD,
    MAX_ADDED_MEASUREMENTS,
    MAX_ENQUEUE,
    MAX_QUEUE,
    check_count,
    check_length,
)
from nestor_controller.model import ADDED, ENQUEUED, MeasurementRecord, QueuedSet, TrialRecord
from nestor_controller.requests import note_request
from nestor_controller.store import Op
from nestor_controller.store import queued as queued_table
from nestor_controller.study import COMPLETED, FAILED, STUDY_STATE_NAMES, StudyRuntime, check_measurement
from nestor_controller.validate import checked_params, user_attrs
from nestor_controller.warmstart import params_key

E = controller_pb2


def known_params(rt: StudyRuntime) -> set[str]:
    """Every parameter set the study tried, runs or holds in its queue."""
    return {params_key(t.params) for t in rt.trials.values()} | {params_key(q.params) for q in rt.queue}


def queue_ops(rt: StudyRuntime, sets: Sequence[tuple[dict[str, Any], str, dict[str, Any]]]) -> list[Op]:
    """Appends (params, origin, user attributes) to the study's queue; the rows that keep them."""
    ops: list[Op] = []
    for params, origin, attrs in sets:
        q = QueuedSet(rt.next_position, params, origin, attrs)
        rt.next_position += 1
        rt.queue.append(q)
        ops.append(rt.store.insert(queued_table, q.to_row(rt.id)))
    return ops


async def enqueue(rt: StudyRuntime,
                  request: controller_pb2.EnqueueTrialsRequest) -> controller_pb2.EnqueueTrialsResponse:
    rt.require_running()
    check_count(request.trials, "trials", MAX_ENQUEUE, "parameter sets")
    sets = [(checked_params(rt.parsed.space, p.params, f"trials[{i}]"), ENQUEUED,
             user_attrs(p.user_attrs, f"trials[{i}].user_attrs")) for i, p in enumerate(request.trials)]
    if request.skip_duplicates:
        seen = known_params(rt)
        unique = []
        for s in sets:
            if params_key(s[0]) not in seen:
                seen.add(params_key(s[0]))
                unique.append(s)
        sets = unique
    if len(rt.queue) + len(sets) > MAX_QUEUE:
        raise PreconditionError(f"study {rt.id}: its queue holds {len(rt.queue)} parameter sets; {len(sets)} more "
                                f"exceed the limit of {MAX_QUEUE}")
    rt.store.check_writable()
    ops = queue_ops(rt, sets)
    note_request(enqueued=len(sets), queued=len(rt.queue))
    rt.wake.set()
    await rt.commit(ops, [])
    return controller_pb2.EnqueueTrialsResponse(enqueued=len(sets), queued=len(rt.queue))


def added_trial(rt: StudyRuntime, a: study_pb2.AddedTrial, where: str) -> TrialRecord:
    """An added result checked and made a trial (its id given when it joins the study)."""
    params = checked_params(rt.parsed.space, a.params, where)
    check_length(a.error, f"{where}.error", 65_536)
    check_count(a.measurements, f"{where}.measurements", MAX_ADDED_MEASUREMENTS, "measurements")
    ms = [check_measurement(m, f"{where}.measurements[{j}]") for j, m in enumerate(a.measurements)]
    if any(b.step <= x.step for x, b in itertools.pairwise(ms)):
        raise SpecError(f"{where}.measurements: steps must increase")
    final: MeasurementRecord | None = None
    if a.HasField("final_measurement") and a.final_measurement.metrics:
        final = check_measurement(a.final_measurement, f"{where}.final_measurement")
    elif ms:
        final = ms[-1]
    if not a.error:
        if final is None:
            raise SpecError(f"{where}: no result; give final_measurement (or measurements), or an error")
        missing = [o.metric for o in rt.objectives if o.metric not in final.metrics]
        if missing:
            have = ", ".join(sorted(final.metrics)) or "none"
            raise SpecError(f"{where}.final_measurement: lacks objective metric {missing[0]!r} (has: {have})")
    t = TrialRecord(rt.id, 0, params, state=FAILED if a.error else COMPLETED, measurements=ms,
                    final=None if a.error else final, error=a.error, origin=ADDED,
                    user_attrs=user_attrs(a.user_attrs, f"{where}.user_attrs"))
    t.started = t.ended = t.created
    f = rt.parsed.fidelity
    t.budget = f.max if f is not None else 0.0
    return t


async def add_trials(rt: StudyRuntime, request: controller_pb2.AddTrialsRequest) -> list[TrialRecord]:
    """Results obtained elsewhere join the study as ended trials its sampler learns from; they count neither
    against max_trials nor against max_failed, and end nothing."""
    check_count(request.trials, "trials", MAX_ADD, "trials")
    made = [added_trial(rt, a, f"trials[{i}]") for i, a in enumerate(request.trials)]
    rt.store.check_writable()
    # No lock: nothing here awaits before the commit is queued, so no other change of the study interleaves.
    ops: list[Op] = []
    evs: list[controller_pb2.StudyEvent] = []
    for t in made:
        t.id = rt.next_trial_id
        rt.next_trial_id += 1
        rt.hold(t)
        rt.added[t.state] += 1
        values, broken = rt.observe(t, failed=t.state == FAILED)
        if values is not None:
            rt.finished_curve(t)
        rt.event(ops, evs, E.STUDY_EVENT_TRIAL_CREATED, t, message="added")
        rt.event(ops, evs, E.STUDY_EVENT_TRIAL_COMPLETED if values is not None else E.STUDY_EVENT_TRIAL_FAILED, t,
                 message=t.error or "added")
        rt.record_run(t, values, broken)
        ops.append(rt.trial_row(t))
        ops.extend(rt.measurement_row(t, m) for m in t.measurements)
    ops.append(rt.study_row())
    note_request(trials=[t.id for t in made])
    rt.wake.set()
    await rt.commit(ops, evs)
    return made


async def extend(rt: StudyRuntime, max_trials: int) -> None:
    """Raises max_trials to `max_trials`; a study that ended goes on, as if its budget had been that from the
    start (its sampler continues from its state). One the search space ran out of stays ended."""
    current = rt.max_trials
    if current == 0:
        raise PreconditionError(f"study {rt.id} has no trial budget (max_trials 0, unbounded); nothing to extend")
    if rt.scheduler.evolves_params:
        raise PreconditionError(f"study {rt.id} is population-based ({rt.scheduler.name}): its trials are its "
                                f"population of {current}, fixed at creation; start a new study (warm-started "
                                "from this one, or `nestor study replay` of its best schedule) to train more")
    if not current < max_trials <= 2**31 - 1:
        raise SpecError(f"max_trials: must be above the current {current}, got {max_trials}")
    if rt.exhausted:
        raise PreconditionError(f"study {rt.id}: its search space is exhausted; a larger budget finds nothing new")
    max_failed = rt.spec.budget.max_failed if rt.spec.budget.HasField("max_failed") else max_trials
    if rt.state == study_pb2.STUDY_FAILED and rt.failed_count() > max_failed:
        raise PreconditionError(f"study {rt.id} failed: {rt.failed_count()} trials failed, more than its "
                                f"max_failed={max_failed}; a larger budget does not change that")
    if not rt.running and rt.state not in (study_pb2.STUDY_COMPLETED, study_pb2.STUDY_STOPPED,
                                           study_pb2.STUDY_FAILED):
        raise PreconditionError(f"study {rt.id} is {STUDY_STATE_NAMES[rt.state]}")
    rt.store.check_writable()
    ops: list[Op] = []
    evs: list[controller_pb2.StudyEvent] = []
    rt.spec.budget.max_trials = max_trials
    rt.sampler.bind_study(max_trials, bool(rt.parsed.constraints))
    reopened = not rt.running
    if reopened:
        rt.state, rt.ended, rt.reason = study_pb2.STUDY_RUNNING, None, ""
    ops.append(rt.study_row())
    rt.event(ops, evs, E.STUDY_EVENT_STUDY_EXTENDED,
             message=f"max_trials {current} -> {max_trials}" + (", running again" if reopened else ""))
    note_request(study=rt.id)
    await rt.commit(ops, evs)
    if reopened:
        rt.engine.resume(rt)
    rt.wake.set()


async def set_user_attrs(rt: StudyRuntime, trial_id: int, attrs: struct_pb2.Struct) -> TrialRecord:
    t = rt.trial(trial_id)
    merged = user_attrs(attrs, "user_attrs", t.user_attrs)
    rt.store.check_writable()
    t.user_attrs = merged
    await rt.commit([rt.trial_row(t)], [])
    return t

