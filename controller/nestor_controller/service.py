"""The Controller gRPC service: request checking and translation; the engine does the work."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from nestor.v1 import controller_pb2, controller_pb2_grpc, executor_pb2, study_pb2

from nestor_controller import lifecycle
from nestor_controller.bilevel import runtime as bilevel
from nestor_controller.columns import space_kinds, trial_columns
from nestor_controller.engine import Engine
from nestor_controller.errors import ControllerError, SpecError
from nestor_controller.limits import (
    MAX_ERROR_CHARS,
    MAX_METRICS,
    MAX_TEXT_CHARS,
    check_executor_info,
    check_length,
)
from nestor_controller.validate import check_labels
from nestor_controller.watch import event_batches

R = TypeVar("R")
TRIAL_STATES = frozenset(v for v in study_pb2.TrialState.values() if v != study_pb2.TRIAL_STATE_UNSPECIFIED)


def status_message(e: ControllerError) -> str:
    """The error's text, cut short: it may quote a request's megabyte-long field, and gRPC carries it in a header."""
    text = str(e)
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return f"{text[:MAX_ERROR_CHARS]}... ({len(text)} characters in all)"


def rpc(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Turns controller errors into gRPC statuses whose message says what was wrong and where."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await fn(self, request, context)
        except ControllerError as e:
            await context.abort(e.code, status_message(e))
            raise  # abort raises; this keeps type checkers content

    return wrapper


def require_id(value: str, what: str) -> str:
    if not value:
        raise SpecError(f"{what}: required")
    return value


class ControllerService(controller_pb2_grpc.ControllerServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @rpc
    async def CreateStudy(self, request: controller_pb2.CreateStudyRequest, context: Any) -> study_pb2.Study:
        async def create() -> study_pb2.Study:
            return (await self.engine.create_study(request.spec)).to_proto()

        def rebuild(note: dict[str, Any]) -> study_pb2.Study:
            return self.engine.get(note["study"]).to_proto()

        return await self.engine.once("CreateStudy", request.request_id, create, rebuild)

    @rpc
    async def GetStudy(self, request: controller_pb2.GetStudyRequest, context: Any) -> study_pb2.Study:
        return self.engine.get(require_id(request.study_id, "study_id")).to_proto()

    @rpc
    async def ListStudies(self, request: controller_pb2.ListStudiesRequest,
                          context: Any) -> controller_pb2.ListStudiesResponse:
        check_labels(request.labels, "labels")
        studies = sorted(self.engine.studies.values(), key=lambda rt: rt.created)
        wanted = request.labels.items()
        return controller_pb2.ListStudiesResponse(studies=[
            rt.to_proto() for rt in studies if (request.include_finished or rt.running)
            and all(rt.spec.labels.get(k) == v for k, v in wanted)])

    @rpc
    async def StopStudy(self, request: controller_pb2.StopStudyRequest, context: Any) -> study_pb2.Study:
        check_length(request.reason, "reason", MAX_TEXT_CHARS)
        rt = await self.engine.stop_study(require_id(request.study_id, "study_id"), request.reason)
        return rt.to_proto()

    @rpc
    async def DeleteStudy(self, request: controller_pb2.DeleteStudyRequest,
                          context: Any) -> controller_pb2.DeleteStudyResponse:
        purged, note = await self.engine.delete_study(require_id(request.study_id, "study_id"),
                                                      purge=request.purge_artifacts)
        return controller_pb2.DeleteStudyResponse(purged=purged, purge_note=note)

    @rpc
    async def EnqueueTrials(self, request: controller_pb2.EnqueueTrialsRequest,
                            context: Any) -> controller_pb2.EnqueueTrialsResponse:
        async def enqueue() -> controller_pb2.EnqueueTrialsResponse:
            return await lifecycle.enqueue(self.engine.get(require_id(request.study_id, "study_id")), request)

        def rebuild(note: dict[str, Any]) -> controller_pb2.EnqueueTrialsResponse:
            return controller_pb2.EnqueueTrialsResponse(enqueued=note["enqueued"], queued=note["queued"])

        return await self.engine.once("EnqueueTrials", request.request_id, enqueue, rebuild,
                                      study_id=request.study_id)

    @rpc
    async def AddTrials(self, request: controller_pb2.AddTrialsRequest,
                        context: Any) -> controller_pb2.AddTrialsResponse:
        async def add() -> controller_pb2.AddTrialsResponse:
            made = await lifecycle.add_trials(self.engine.get(require_id(request.study_id, "study_id")), request)
            return controller_pb2.AddTrialsResponse(trials=[t.to_proto() for t in made])

        def rebuild(note: dict[str, Any]) -> controller_pb2.AddTrialsResponse:
            rt = self.engine.get(request.study_id)
            return controller_pb2.AddTrialsResponse(trials=[rt.trial(i).to_proto() for i in note["trials"]])

        return await self.engine.once("AddTrials", request.request_id, add, rebuild, study_id=request.study_id)

    @rpc
    async def ExtendStudy(self, request: controller_pb2.ExtendStudyRequest, context: Any) -> study_pb2.Study:
        async def extend() -> study_pb2.Study:
            rt = self.engine.get(require_id(request.study_id, "study_id"))
            await lifecycle.extend(rt, request.max_trials)
            return rt.to_proto()

        def rebuild(note: dict[str, Any]) -> study_pb2.Study:
            return self.engine.get(request.study_id).to_proto()

        return await self.engine.once("ExtendStudy", request.request_id, extend, rebuild, study_id=request.study_id)

    @rpc
    async def SetTrialUserAttrs(self, request: controller_pb2.SetTrialUserAttrsRequest,
                                context: Any) -> study_pb2.Trial:
        rt = self.engine.get(require_id(request.study_id, "study_id"))
        return (await lifecycle.set_user_attrs(rt, request.trial_id, request.user_attrs)).to_proto()

    @rpc
    async def SuggestTrials(self, request: controller_pb2.SuggestTrialsRequest,
                            context: Any) -> controller_pb2.SuggestTrialsResponse:
        check_length(request.client_id, "client_id")

        async def suggest() -> controller_pb2.SuggestTrialsResponse:
            made, done = await self.engine.suggest(require_id(request.study_id, "study_id"), request.count,
                                                   request.client_id)
            return controller_pb2.SuggestTrialsResponse(trials=[t.to_proto() for t in made], study_done=done)

        def rebuild(note: dict[str, Any]) -> controller_pb2.SuggestTrialsResponse:
            rt = self.engine.get(request.study_id)
            return controller_pb2.SuggestTrialsResponse(trials=[rt.trial(i).to_proto() for i in note["trials"]],
                                                        study_done=self.engine.suggest_done(rt))

        return await self.engine.once("SuggestTrials", request.request_id, suggest, rebuild,
                                      study_id=request.study_id)

    @rpc
    async def ReportMeasurement(self, request: controller_pb2.ReportMeasurementRequest,
                                context: Any) -> controller_pb2.ReportMeasurementResponse:
        async def report() -> controller_pb2.ReportMeasurementResponse:
            if not request.HasField("measurement"):
                raise SpecError("measurement: required")
            verdict = await self.engine.report(require_id(request.study_id, "study_id"), request.trial_id,
                                               request.measurement)
            decision = study_pb2.DECISION_STOP if verdict.stop else study_pb2.DECISION_CONTINUE
            return controller_pb2.ReportMeasurementResponse(decision=decision, reason=verdict.reason)

        def rebuild(note: dict[str, Any]) -> controller_pb2.ReportMeasurementResponse:
            decision = study_pb2.DECISION_STOP if note["stop"] else study_pb2.DECISION_CONTINUE
            return controller_pb2.ReportMeasurementResponse(decision=decision, reason=note["reason"])

        return await self.engine.once("ReportMeasurement", request.request_id, report, rebuild,
                                      study_id=request.study_id, trial_id=request.trial_id)

    @rpc
    async def CompleteTrial(self, request: controller_pb2.CompleteTrialRequest, context: Any) -> study_pb2.Trial:
        check_length(request.error, "error", MAX_TEXT_CHARS)

        async def complete() -> study_pb2.Trial:
            final = request.final_measurement if request.HasField("final_measurement") else None
            t = await self.engine.complete(require_id(request.study_id, "study_id"), request.trial_id, final,
                                           request.error, request.measurements)
            return t.to_proto()

        def rebuild(note: dict[str, Any]) -> study_pb2.Trial:
            return self.engine.get(request.study_id).trial(note["trial"]).to_proto()

        return await self.engine.once("CompleteTrial", request.request_id, complete, rebuild,
                                      study_id=request.study_id, trial_id=request.trial_id)

    @rpc
    async def GetTrial(self, request: controller_pb2.GetTrialRequest, context: Any) -> study_pb2.Trial:
        return self.engine.get(require_id(request.study_id, "study_id")).trial(request.trial_id).to_proto()

    @rpc
    async def ListTrials(self, request: controller_pb2.ListTrialsRequest,
                         context: Any) -> controller_pb2.ListTrialsResponse:
        rt = self.engine.get(require_id(request.study_id, "study_id"))
        states = set(request.states)
        bad = sorted(states - TRIAL_STATES)
        if bad:
            raise SpecError(f"states: {bad[0]} is no trial state (one of {', '.join(study_pb2.TrialState.keys()[1:])})")
        chosen = [t for t in rt.trials.values() if not states or t.state in states]

        def build() -> controller_pb2.ListTrialsResponse:
            return controller_pb2.ListTrialsResponse(
                trials=[t.to_proto(measurements=request.include_measurements) for t in chosen])

        # Seconds at 100,000 trials: off the event loop, so that other studies' calls go on meanwhile.
        return await asyncio.to_thread(build)

    @rpc
    async def ListTrialColumns(self, request: controller_pb2.ListTrialColumnsRequest,
                               context: Any) -> controller_pb2.TrialColumns:
        rt = self.engine.get(require_id(request.study_id, "study_id"))
        if len(request.metrics) > MAX_METRICS:
            raise SpecError(f"metrics: at most {MAX_METRICS}, got {len(request.metrics)}")
        for i, m in enumerate(request.metrics):
            check_length(m, f"metrics[{i}]")
        metrics = list(request.metrics) or [o.metric for o in rt.objectives]
        trials = sorted(rt.trials.values(), key=lambda t: t.id)
        return await asyncio.to_thread(trial_columns, trials, metrics, space_kinds(rt.spec))

    @rpc
    async def GetBestTrials(self, request: controller_pb2.GetBestTrialsRequest,
                            context: Any) -> controller_pb2.GetBestTrialsResponse:
        rt = self.engine.get(require_id(request.study_id, "study_id"))
        if request.count < 0:
            raise SpecError(f"count: must be >= 0, got {request.count}")
        return controller_pb2.GetBestTrialsResponse(trials=[t.to_proto() for t in rt.best_trials(request.count or 1)])

    @rpc
    async def WatchStudy(self, request: controller_pb2.WatchStudyRequest, context: grpc.aio.ServicerContext) -> None:
        async with contextlib.aclosing(event_batches(self.engine, request.study_id, request.after_seq)) as batches:
            async for batch in batches:
                for ev in batch:
                    await context.write(ev)

    @rpc
    async def WatchStudyBatches(self, request: controller_pb2.WatchStudyRequest,
                                context: grpc.aio.ServicerContext) -> None:
        async with contextlib.aclosing(event_batches(self.engine, request.study_id, request.after_seq)) as batches:
            async for batch in batches:
                await context.write(controller_pb2.StudyEventBatch(events=batch))

    @rpc
    async def ReportOuterGradient(self, request: controller_pb2.ReportOuterGradientRequest,
                                  context: Any) -> executor_pb2.OuterVariables:
        async def report() -> executor_pb2.OuterVariables:
            if not request.HasField("gradient"):
                raise SpecError("gradient: required")
            return await bilevel.report_outer_gradient(self.engine, require_id(request.study_id, "study_id"),
                                                       request.trial_id, request.gradient)

        return await self.engine.once("ReportOuterGradient", request.request_id, report, bilevel.rebuild_values,
                                      study_id=request.study_id, trial_id=request.trial_id)

    @rpc
    async def GetOuterState(self, request: controller_pb2.GetOuterStateRequest,
                            context: Any) -> controller_pb2.GetOuterStateResponse:
        require_id(request.study_id, "study_id")
        return await bilevel.outer_state(self.engine, request)

    @rpc
    async def RegisterExecutor(self, request: controller_pb2.RegisterExecutorRequest,
                               context: Any) -> controller_pb2.RegisterExecutorResponse:
        check_executor_info(request.info)
        handle = await self.engine.register_executor(request.address, request.info)
        return controller_pb2.RegisterExecutorResponse(executor_id=request.info.executor_id or handle.address)

    @rpc
    async def ListExecutors(self, request: controller_pb2.ListExecutorsRequest,
                            context: Any) -> controller_pb2.ListExecutorsResponse:
        return controller_pb2.ListExecutorsResponse(executors=[h.status() for h in self.engine.pool.handles.values()])
