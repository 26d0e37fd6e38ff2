"""Client-driven trials whose client is gone: `trial_timeout_s` and `heartbeat_timeout_s`.

A client that asked for a trial and then vanished (killed, crashed, lost its
network) would otherwise leave the trial RUNNING for ever, and a study with a
trial budget would never end. Every report or result from the client is its
heartbeat. An expired trial fails with the reason, or goes back to the queue
for the next SuggestTrials (`expired_trials: requeue`); the study goes on.

When the client was last heard of is kept in memory only: after a restart every
running trial gets a whole heartbeat window again (its client was retrying
against a controller that was away, so silence then says nothing).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from nestor.v1 import controller_pb2, study_pb2

if TYPE_CHECKING:
    from nestor_controller.model import TrialRecord
    from nestor_controller.store import Op
    from nestor_controller.study import StudyRuntime

#: How often running client trials are looked at.
CHECK_EVERY_S = 0.5
RUNNING, PENDING = study_pb2.TRIAL_RUNNING, study_pb2.TRIAL_PENDING


def watched(rt: StudyRuntime) -> bool:
    return rt.running and not rt.managed and bool(rt.spec.trial_timeout_s or rt.spec.heartbeat_timeout_s)


def heard(rt: StudyRuntime, trial_id: int, now: float | None = None) -> None:
    """The client of this trial is alive (it asked for it, reported or told a result)."""
    rt.last_heard[trial_id] = time.time() if now is None else now


def why_expired(rt: StudyRuntime, t: TrialRecord, now: float) -> str:
    """Why a running client trial has expired; empty while it has not."""
    spec = rt.spec
    if spec.trial_timeout_s and t.started is not None and now - t.started > spec.trial_timeout_s:
        return (f"expired: running for {now - t.started:.0f} s, longer than trial_timeout_s "
                f"({spec.trial_timeout_s:g} s)")
    if spec.heartbeat_timeout_s:
        last = rt.last_heard.setdefault(t.id, now)
        if now - last > spec.heartbeat_timeout_s:
            return (f"expired: no report from its client {t.executor or '(unknown)'} for {now - last:.0f} s "
                    f"(heartbeat_timeout_s {spec.heartbeat_timeout_s:g} s); the client is presumed gone")
    return ""


async def expire_stale(rt: StudyRuntime, now: float | None = None) -> int:
    """Fails or requeues every running trial of `rt` whose client is gone; how many."""
    if not rt.counts.get(RUNNING):
        return 0  # nothing runs: no need to look at a history of (perhaps) 100,000 trials twice a second
    now = time.time() if now is None else now
    stale = [(t, why) for t in rt.trials.values() if t.state == RUNNING and (why := why_expired(rt, t, now))]
    for t, why in stale:
        if t.state != RUNNING or not rt.running:
            continue  # the client told its result while an earlier expiry was being committed
        rt.last_heard.pop(t.id, None)
        if rt.spec.expired_trials == "requeue":
            await rt.requeue(t, why)
        else:
            await rt.finish_trial(t, error=why)
    return len(stale)


def hand_out_pending(rt: StudyRuntime, count: int, client: str, ops: list[Op],
                     evs: list[controller_pb2.StudyEvent]) -> list[TrialRecord]:
    """Requeued client trials go to the next client that asks, before any new trial."""
    out: list[TrialRecord] = []
    while rt.pending and len(out) < count:
        t = rt.trials[rt.pending.popleft()]
        rt.set_state(t, RUNNING)
        t.executor, t.started = client, time.time()
        t.attempt += 1
        heard(rt, t.id, t.started)
        ops.append(rt.trial_row(t))
        rt.event(ops, evs, controller_pb2.STUDY_EVENT_TRIAL_STARTED, t, message=f"by {client} (attempt {t.attempt})")
        out.append(t)
    return out
