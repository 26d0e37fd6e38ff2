"""Where bilevel strategies meet the study engine: assignments, outer steps, and the outer-state API.

An outer step follows the rule of every change in the controller: the strategy updates its memory, the
new strategy state and an OUTER_UPDATE event (which carries the values: the alpha history) are committed in
one transaction, and only then are the values sent back to the trial.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from google.protobuf import struct_pb2
from nestor.v1 import controller_pb2, executor_pb2

from nestor_controller.bilevel.base import Applied, BilevelStrategy
from nestor_controller.bilevel.optim import Arrays
from nestor_controller.errors import PreconditionError, SpecError
from nestor_controller.model import TrialRecord, timestamp
from nestor_controller.requests import note_request

if TYPE_CHECKING:
    from nestor_controller.engine import Engine
    from nestor_controller.study import StudyRuntime

HISTORY_PAGE = 5000


def strategy_of(rt: StudyRuntime) -> BilevelStrategy | None:
    return rt.sampler if isinstance(rt.sampler, BilevelStrategy) else None


def tensors(values: Arrays) -> dict[str, executor_pb2.Tensor]:
    return {k: executor_pb2.Tensor(shape=list(np.shape(v)), values=np.ravel(v).tolist()) for k, v in values.items()}


def gradients_from_proto(grad: executor_pb2.OuterGradient, where: str) -> Arrays:
    out = {}
    for name, t in grad.gradients.items():
        try:
            out[name] = np.asarray(t.values, dtype=np.float64).reshape([int(d) for d in t.shape])
        except ValueError:
            raise SpecError(f"{where}: outer gradient {name!r} has {len(t.values)} values, which do not "
                            f"fill shape {list(t.shape)}") from None
    for name, x in grad.metrics.items():
        if not np.isfinite(x):
            raise SpecError(f"{where}: outer gradient metric {name!r} is {x}; metrics must be finite numbers")
    return out


def assignment_outer(rt: StudyRuntime, t: TrialRecord) -> executor_pb2.OuterVariables | None:
    """The outer variables a trial starts (or resumes) with: the controller's current ones."""
    strategy = strategy_of(rt)
    s = strategy.outer_set(t.id, t.params) if strategy is not None else None
    if strategy is None or s is None:
        return None
    return executor_pb2.OuterVariables(step=s.step, values=tensors(strategy.exported(s.values)))


async def apply_gradient(rt: StudyRuntime, t: TrialRecord, grad: executor_pb2.OuterGradient) -> Applied:
    """Applies one outer gradient and commits it with its event; SpecError when it does not fit."""
    strategy = strategy_of(rt)
    if strategy is None:
        raise SpecError(f"{t.where()} streamed an outer gradient, but algorithm {rt.parsed.algorithm!r} "
                        "has no outer variables")
    grads = gradients_from_proto(grad, t.where())
    applied = strategy.apply(t.id, t.params, grads, dict(grad.metrics), t.where())
    step = controller_pb2.OuterStep(
        trial_id=t.id, step=applied.step, gradient_step=grad.step, values=tensors(applied.values),
        metrics=dict(grad.metrics), time=timestamp(time.time()), attempt=t.attempt)
    ops = [rt.study_row()]
    evs: list[controller_pb2.StudyEvent] = []
    if applied.stop_reason and not t.stop_reason:
        t.stop_reason = applied.stop_reason
        ops.append(rt.trial_row(t))
    rt.event(ops, evs, controller_pb2.STUDY_EVENT_OUTER_UPDATE, t, message=applied.stop_reason, outer=step)
    note_request(trial=t.id, step=applied.step,
                 values={k: {"shape": list(np.shape(v)), "values": np.ravel(v).tolist()}
                         for k, v in applied.values.items()})
    await rt.commit(ops, evs)
    return applied


def values_proto(applied: Applied) -> executor_pb2.OuterVariables:
    return executor_pb2.OuterVariables(step=applied.step, values=tensors(applied.values))


# --- client-driven trials ----------------------------------------------------------------------------


async def report_outer_gradient(engine: Engine, study_id: str, trial_id: int,
                                grad: executor_pb2.OuterGradient) -> executor_pb2.OuterVariables:
    rt = engine.get(study_id)
    t = rt.running_trial(trial_id)
    if rt.managed:
        raise PreconditionError(f"{t.where()} runs on executor {t.executor}; it streams its outer gradient "
                                "over RunTrial")
    return values_proto(await apply_gradient(rt, t, grad))


def rebuild_values(note: dict[str, Any]) -> executor_pb2.OuterVariables:
    return executor_pb2.OuterVariables(step=int(note["step"]), values={
        k: executor_pb2.Tensor(shape=v["shape"], values=v["values"]) for k, v in note["values"].items()})


# --- the outer-state API ---------------------------------------------------------------------------


def _history(engine: Engine, study_id: str) -> dict[int, list[controller_pb2.OuterStep]]:
    out: dict[int, list[controller_pb2.OuterStep]] = {}
    last = 0
    while True:
        page = engine.store.events_after(study_id, last, HISTORY_PAGE)
        for payload in page:
            ev = controller_pb2.StudyEvent.FromString(payload)
            last = ev.seq
            if ev.type == controller_pb2.STUDY_EVENT_OUTER_UPDATE:
                out.setdefault(ev.outer.trial_id, []).append(ev.outer)
        if len(page) < HISTORY_PAGE:
            return out


def thin(steps: list[controller_pb2.OuterStep], every: int) -> list[controller_pb2.OuterStep]:
    """One step in `every`, and the last one always."""
    if every <= 1 or not steps:
        return steps
    kept = steps[::every]
    return kept if kept[-1] is steps[-1] else [*kept, steps[-1]]


async def outer_state(engine: Engine, request: controller_pb2.GetOuterStateRequest
                      ) -> controller_pb2.GetOuterStateResponse:
    rt = engine.get(request.study_id)
    strategy = strategy_of(rt)
    if strategy is None:
        raise PreconditionError(f"study {rt.id} uses algorithm {rt.parsed.algorithm!r}, which has no "
                                "outer variables")
    if request.history_every < 0:
        raise SpecError(f"history_every: must be >= 0, got {request.history_every}")
    trials = [rt.trial(request.trial_id)] if request.trial_id else sorted(rt.trials.values(), key=lambda t: t.id)
    history = await asyncio.to_thread(_history, engine, rt.id) if request.include_history else {}
    out = controller_pb2.GetOuterStateResponse()
    for t in trials:
        s = strategy.outer_set(t.id, t.params)
        if s is None:
            continue
        summary = struct_pb2.Struct()
        summary.update(strategy.summary(t.id, s))
        out.trials.append(controller_pb2.TrialOuterState(
            trial_id=t.id, strategy=strategy.name,
            values=executor_pb2.OuterVariables(step=s.step, values=tensors(strategy.exported(s.values))),
            summary=summary, history=thin(history.get(t.id, []), request.history_every)))
    return out
