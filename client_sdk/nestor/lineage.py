"""Population-based studies (pbt, pb2) read back: each member's intervals, and the full schedule behind a result.

A member's lineage (``Trial.lineage``) lists its intervals: from ``step`` on it trained with ``params``,
starting from the weights of ``donor_trial_id`` at that step (exploit) or from its own. The weights a member
ends with were therefore shaped by its donors' earlier intervals too: ``schedule`` follows the donors back
and gives the parameters in force over the whole run, which ``replay_spec`` turns into a study that trains one
network with that schedule fixed (the ``pbt`` scheduler's ``schedule`` setting).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nestor.v1 import study_pb2
from nestor.values import ParamValue, params_from_proto, params_to_proto


@dataclass(frozen=True)
class Interval:
    """From ``step`` on, the weights trained with ``params`` (of ``trial``'s lineage)."""

    step: int
    params: dict[str, ParamValue]
    trial: int
    donor: int = 0
    reason: str = ""


def intervals(trial: study_pb2.Trial) -> list[Interval]:
    """A member's own intervals in order (empty for a trial of another scheduler)."""
    return [Interval(int(e.step), params_from_proto(e.params), trial.id, int(e.donor_trial_id), e.reason)
            for e in trial.lineage]


def schedule(trials: Mapping[int, study_pb2.Trial], trial_id: int, until: float = float("inf")) -> list[Interval]:
    """The parameters in force over the training of the weights `trial_id` has at `until` (its end by
    default): the intervals since its last copy of a donor, after the donor's own schedule up to that step."""
    own = [i for i in intervals(trials[trial_id]) if i.step < until]
    if not own:
        return []
    copied = max((k for k, i in enumerate(own) if i.donor), default=None)
    if copied is None:
        return own
    return schedule(trials, own[copied].donor, own[copied].step) + own[copied:]


def merged(steps: list[Interval]) -> list[Interval]:
    """Consecutive intervals with the same parameters as one, unless the later one began with a copy."""
    out: list[Interval] = []
    for i in steps:
        if not out or out[-1].params != i.params or i.donor:
            out.append(i)
    return out


def replay_spec(spec: study_pb2.StudySpec, steps: list[Interval], *, members: int = 1) -> study_pb2.StudySpec:
    """A study that trains `members` networks (seeds) with the schedule `steps` fixed: the first interval's
    parameters enqueued, the later ones as the pbt scheduler's `schedule`."""
    if not steps:
        raise ValueError("an empty schedule: the trial has no lineage (was its study pbt or pb2?)")
    out = copy.deepcopy(spec)
    out.name = f"{spec.name}-replay"[:200]
    del out.enqueue[:]
    out.ClearField("warm_start")
    out.algorithm.Clear()
    out.scheduler.Clear()
    out.scheduler.name = "pbt"
    out.scheduler.settings.update({"population_size": members, "schedule": [
        {"step": i.step, "params": dict(i.params)} for i in steps[1:]]})
    out.budget.max_trials = members
    first = steps[0].params
    for _ in range(members):
        entry = out.enqueue.add()
        for name, value in params_to_proto(first).items():
            entry.params[name].CopyFrom(value)
    return out


def describe(steps: list[Interval]) -> list[dict[str, Any]]:
    """JSON-ready: [{step, params, trial, donor, reason}]."""
    return [{"step": i.step, "params": i.params, "trial": i.trial, "donor": i.donor, "reason": i.reason}
            for i in steps]
