"""The executor's gRPC server: `Executor.Describe`, `Executor.RunTrial` and `RunTrials`, health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import signal
import socket
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nestor.serving import DecodeGuard, SidePorts, bracket_host, read_request, refusal
from nestor.tls import ClientTLS, ServerTLS, add_port, guards
from nestor.tokens import TokenFile
from nestor.v1 import executor_pb2, executor_pb2_grpc, study_pb2
from nestor.values import params_from_proto

from nestor_executor import multiplex, paths, wire
from nestor_executor.devices import Device, slot_devices
from nestor_executor.registration import register_forever
from nestor_executor.slots import SlotPool, TrialRun
from nestor_executor.trust import ControllerGate

log = logging.getLogger(__name__)
SERVICE = executor_pb2.DESCRIPTOR.services_by_name["Executor"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
RUN_TRIAL = f"/{SERVICE}/RunTrial"
RUN_TRIALS = f"/{SERVICE}/RunTrials"
#: Measurements in one message at most: a bounded message even for a trainable that reports in a tight loop.
MAX_MEASUREMENT_BATCH = 256
#: Put in a run's output by the stream's reader when the controller's messages stop decoding; no slot sends it.
REFUSED = executor_pb2.ExecutorMessage()


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 50052
    controller: str = ""
    advertise: str = ""
    slots: int = 1
    # Trials accepted beyond the slots, waiting to start the moment a slot frees.
    queue: int = 1
    devices: list[Device] = field(default_factory=list)
    trainables: dict[str, str] = field(default_factory=dict)  # name -> module:function
    artifact_dir: str = "nestor-artifacts"
    torch_threads: int = 1
    register_interval: float = 10.0
    # Seconds a trial gets to end after its controller went away, and on shutdown.
    stop_grace: float = 5.0
    # Security and operations (README "Security", "Metrics"); all off by default.
    tls: ServerTLS | None = None
    controller_tls: ClientTLS | None = None
    token: str = ""
    # Who may call RunTrial and Describe: names the controller's certificate carries, its tokens.
    controller_identities: tuple[str, ...] = ()
    controller_tokens: TokenFile | None = None
    health_port: int | None = None
    metrics_port: int | None = None
    # --event-loop: auto (uvloop where installed), uvloop or asyncio.
    event_loop: str = "auto"


def version() -> str:
    try:
        return importlib.metadata.version("nestor-executor")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def assignment_to_json(a: executor_pb2.TrialAssignment) -> dict[str, Any]:
    return {
        "study_id": a.study_id, "trial_id": a.trial_id, "trainable": a.trainable,
        "params": params_from_proto(a.params), "config": json_format.MessageToDict(a.config),
        "fidelity_name": a.fidelity_name, "budget": a.budget, "max_budget": a.max_budget,
        "checkpoint_dir": a.checkpoint_dir, "attempt": a.attempt, "seed": a.seed,
        "outer": wire.outer_from_proto(a.outer) if a.HasField("outer") else {},
    }


def busy_message(slots: int, waiting: int) -> str:
    busy = f"all {slots} slots are busy" if slots != 1 else "its only slot is busy"
    if waiting:
        busy += f" and {waiting} trial{'s' if waiting != 1 else ''} wait{'' if waiting != 1 else 's'} for them"
    return busy


class ExecutorService(executor_pb2_grpc.ExecutorServicer):
    def __init__(self, pool: SlotPool, settings: Settings, executor_id: str) -> None:
        self.pool = pool
        self.settings = settings
        self.executor_id = executor_id
        self.draining = False

    def info(self) -> executor_pb2.ExecutorInfo:
        devices = list(dict.fromkeys(s.device for s in self.pool.slots))
        return executor_pb2.ExecutorInfo(
            executor_id=self.executor_id, slots=len(self.pool.slots), busy_slots=self.pool.busy,
            devices=[d.to_proto() for d in devices], trainables=sorted(self.settings.trainables),
            version=version(), queue_capacity=self.pool.queue_capacity, queued=self.pool.queued,
            running=[executor_pb2.RunningTrial(study_id=r.assignment["study_id"], trial_id=r.assignment["trial_id"],
                                               attempt=r.assignment["attempt"], started=r.slot is not None)
                     for r in self.pool.runs()],
            runs_trials_together=True)

    async def Describe(self, request: executor_pb2.DescribeRequest,
                       context: Any) -> executor_pb2.ExecutorInfo:
        return self.info()

    async def RunTrial(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        first = await read_request(context, RUN_TRIAL)
        kind = None if first is grpc.aio.EOF else first.WhichOneof("body")
        if kind != "assignment":
            got = "the end of the stream" if first is grpc.aio.EOF else (kind or "an empty message")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"RunTrial: the first message must be an assignment, got {got}")
        a = first.assignment
        if self.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the executor is shutting down")
        if a.trainable not in self.settings.trainables:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"trainable {a.trainable!r} is not served by this executor "
                                f"(it serves: {', '.join(sorted(self.settings.trainables))})")
        try:
            assignment = assignment_to_json(a)
        except ValueError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"RunTrial: assignment: {e}")
        try:
            # Resolved here, before anything touches the disk: the worker creates and writes this folder.
            assignment["checkpoint_dir"] = paths.checkpoint_dir(self.settings.artifact_dir, a.study_id,
                                                                a.trial_id, a.checkpoint_dir)
            assignment["restore_from"] = paths.restore_dir(self.settings.artifact_dir, a.restore_from)
        except paths.PathError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"RunTrial: {e}")
        run = self.pool.submit(assignment, a.deadline_s)
        if run is None:
            busy = busy_message(len(self.pool.slots), self.pool.queued)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, busy)
        assert run is not None
        control = asyncio.create_task(self._control(context, run))
        try:
            if run.slot is None:
                await run.placed.wait()  # or it ends unstarted, or the controller's stream is refused
            slot = run.slot
            if slot is not None:
                await context.write(executor_pb2.ExecutorMessage(started=executor_pb2.TrialStarted(
                    executor_id=self.executor_id, device=slot.device.name, slot=slot.index)))
            held: executor_pb2.ExecutorMessage | None = None
            while True:
                msg, held = (held, None) if held is not None else (await self._next(run), None)
                if a.accepts_measurement_batches and msg.WhichOneof("body") == "measurement" and not run.out.empty():
                    msg, held = self._batch(run, msg)
                body = msg.WhichOneof("body")
                if body is None:
                    break  # REFUSED: the controller's stream was refused
                if body == "result":
                    if run.interrupted and (msg.result.error or msg.result.stopped):
                        # The trial did not finish: the controller should run it again elsewhere.
                        await context.abort(grpc.StatusCode.UNAVAILABLE,
                                            msg.result.error or "the executor shut down and interrupted the trial")
                    await context.write(msg)
                    return
                await context.write(msg)
        except BaseException:
            # Cancelled by the controller, or it went away: let the trial end, or replace its worker.
            self._let_go(run, "the controller cancelled the trial before it started")
            raise
        finally:
            control.cancel()
        # Refused here, by the handler, between its writes: an abort from the reading task while a write was in
        # flight left the stream open without a status until the client's deadline.
        why = await control
        self._let_go(run, why or "the controller's stream was refused")
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, why or "")

    async def RunTrials(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        await multiplex.serve_runs(self.RunTrial, context, RUN_TRIALS)

    def _let_go(self, run: TrialRun, unstarted: str) -> None:
        """The trial leaves its slot (stopped, its worker replaced after the grace) or the backlog."""
        if run.slot is not None:
            run.slot.abandon(run, self.settings.stop_grace)
        else:
            self.pool.withdraw(run, unstarted, self.settings.stop_grace)

    @staticmethod
    async def _next(run: TrialRun) -> executor_pb2.ExecutorMessage:
        msg = await run.out.get()
        if run.slot is not None:
            run.slot.consumed(run)
        return msg

    @staticmethod
    def _batch(run: TrialRun, first: executor_pb2.ExecutorMessage
               ) -> tuple[executor_pb2.ExecutorMessage, executor_pb2.ExecutorMessage | None]:
        """The measurements already waiting after `first`, in one message (a trainable that reports faster than
        a message travels sends fewer, larger ones); and the message after them, if another kind came next."""
        batch = executor_pb2.MeasurementBatch(measurements=[first.measurement])
        while not run.out.empty() and len(batch.measurements) < MAX_MEASUREMENT_BATCH:
            msg = run.out.get_nowait()
            if run.slot is not None:
                run.slot.consumed(run)
            if msg.WhichOneof("body") != "measurement":
                return executor_pb2.ExecutorMessage(measurements=batch), msg
            batch.measurements.append(msg.measurement)
        return executor_pb2.ExecutorMessage(measurements=batch), None

    async def _control(self, context: grpc.aio.ServicerContext, run: TrialRun) -> str | None:
        """The controller's messages while the trial runs: stop decisions and outer variables. A message that
        does not decode ends the stream: REFUSED wakes the handler, which may be waiting for a slot or for a
        silent trial, to let the trial go now rather than when it would have ended; returns what to answer."""
        with contextlib.suppress(grpc.RpcError, grpc.aio.UsageError, ConnectionError):
            while True:
                msg = await context.read()
                why = refusal(msg, RUN_TRIAL)
                if why is not None:
                    run.out.put_nowait(REFUSED)
                    run.placed.set()
                    return why
                if msg is grpc.aio.EOF:
                    return None
                kind = msg.WhichOneof("body")
                if kind == "stop" or (kind == "answer" and msg.answer.decision == study_pb2.DECISION_STOP):
                    if run.slot is not None:
                        run.slot.request_stop(run)
                    else:
                        run.stop_requested = True  # sent to the worker as soon as the trial starts
                elif kind == "outer":
                    try:
                        outer = wire.outer_from_proto(msg.outer)
                    except ValueError as e:
                        log.warning("RunTrial: ignoring outer values the trial could not use: %s", e)
                        continue
                    self.pool.update_outer(run, outer)
                elif kind == "assignment":
                    log.warning("RunTrial: ignoring a second assignment for trial %s of study %s",
                                run.assignment["trial_id"], run.assignment["study_id"])


def advertised_address(settings: Settings, port: int) -> str:
    if settings.advertise:
        return settings.advertise
    host = settings.host
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()  # a wildcard cannot be dialled from another machine
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def pool_collector(pool: SlotPool) -> object:
    from nestor_executor.metrics import SlotPoolCollector  # prometheus_client only when asked for

    return SlotPoolCollector(pool)


async def serve(settings: Settings) -> None:
    devices = slot_devices(settings.devices, settings.slots)
    pool = SlotPool(devices, {
        "trainables": settings.trainables, "torch_threads": settings.torch_threads,
    }, queue_capacity=settings.queue)
    pool.start()  # workers import torch while the server starts
    gate = ControllerGate(settings.controller_identities, settings.controller_tokens)
    server = grpc.aio.server(interceptors=[DecodeGuard(), gate], options=[
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        # The controller pings its executors' connections to notice a cut link.
        ("grpc.http2.min_ping_interval_without_data_ms", 5000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_ping_strikes", 0),
        # And the executor pings back: a trial whose controller was cut off is stopped, not left running.
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
    ])
    host = bracket_host(settings.host)  # IPv6
    port = add_port(server, f"{host}:{settings.port}", settings.tls)
    if port == 0:
        await pool.close()
        print(f"nestor-executor: cannot listen on {host}:{settings.port}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    executor_id = f"{socket.gethostname()}:{port}-{uuid.uuid4().hex[:8]}"
    service = ExecutorService(pool, settings, executor_id)
    executor_pb2_grpc.add_ExecutorServicer_to_server(service, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME], server)
    await server.start()
    side = SidePorts("nestor-executor", settings.host, settings.health_port, settings.metrics_port)
    await side.start(health_servicer, lambda: pool_collector(pool))
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    tokens = settings.controller_tokens is not None
    print(f"nestor-executor{guards(settings.tls, tokens)} listening on {host}:{port}", flush=True)
    log.info("executor %s: %d slot(s) on %s; trainables: %s", executor_id, len(devices),
             ", ".join(dict.fromkeys(d.name for d in devices)), ", ".join(sorted(settings.trainables)))

    registration = None
    if settings.controller:
        address = advertised_address(settings, port)
        registration = asyncio.create_task(
            register_forever(settings.controller, address, service.info, settings.register_interval,
                             tls=settings.controller_tls, token=settings.token))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    service.draining = True
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    if registration is not None:
        registration.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await registration
    await pool.drain(settings.stop_grace)
    await server.stop(grace=2.0)
    await side.stop()
    await pool.close()
    print("nestor-executor stopped", file=sys.stderr, flush=True)
