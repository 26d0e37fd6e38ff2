"""A load generator for the controller: executors that speak the executor protocol but run nothing.

Each simulated executor is its own gRPC server on its own port, registers with the
controller the way `nestor_executor` does (RegisterExecutor, again every
--register-interval seconds), answers Describe with its slots, backlog and runs,
serves RunTrials as the executor does (every trial over one stream; RunTrial alone, a
stream per trial, with --run-trial-streams, as an older executor), and answers each
assignment at once: started, N measurements and a
result, like the built-in `noop` trainable (a value of base + 1/step, where base
is the sum of the numeric parameters); to a controller that takes measurement
batches, a trial that does not sleep sends its measurements as one batch, as the
real executor does when reports come faster than messages go. N is the study's trainable_config "steps"
(else --reports); a trial sleeps its config's "sleep_s" (else --sleep) spread
over its reports. A stop decision ends the trial early, as `stopped`. There are
no worker processes: one asyncio loop serves every executor of the process, so
1,000 slots over 10 executors cost the controller what real executors would and
cost this process little.

    .venv/bin/python bench/loadgen.py --controller HOST:PORT --executors 10 --slots 100 [--stats FILE] [--json]

It prints `loadgen listening on HOST:PORT` (its first executor) once every executor
listens; on SIGTERM or SIGINT it stops, prints a table of what it served (with --json, then the same
figures as one JSON object on the last line) and writes them as JSON to --stats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from nestor.v1 import controller_pb2, controller_pb2_grpc, executor_pb2, executor_pb2_grpc, study_pb2
from nestor_executor.multiplex import serve_runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchlib"))
from saved import json_line

SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # As the real executor: the controller pings its executors' connections.
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 0),
]
RunKey = tuple[str, int, int]
#: Measurements in one message at most, as the real executor.
MAX_BATCH = 256


def accepts_batches(a: executor_pb2.TrialAssignment) -> bool:
    """Whether the controller takes MeasurementBatch messages (a protocol without them has no such field)."""
    return "accepts_measurement_batches" in a.DESCRIPTOR.fields_by_name and bool(a.accepts_measurement_batches)


@dataclass
class Stats:
    trials: int = 0          # results sent
    stopped: int = 0         # of which ended by a stop decision
    measurements: int = 0
    refused: int = 0         # assignments refused for lack of room (RESOURCE_EXHAUSTED)
    cancelled: int = 0       # streams the controller ended before the result
    busy_area: float = 0.0   # slot-seconds held by started trials
    peak_busy: int = 0
    peak_held: int = 0       # runs held, in slots and backlog
    run_trials_streams: int = 0  # RunTrials streams served (each carries many trials)


@dataclass
class LoadExecutor(executor_pb2_grpc.ExecutorServicer):
    """One simulated executor."""

    executor_id: str
    slots: int
    queue: int
    reports: int
    sleep_s: float
    trainables: tuple[str, ...]
    batches: bool = True  # send a trial's measurements as one batch when the controller takes batches
    together: bool = True  # serve RunTrials (every trial over one stream), as nestor-executor does
    stats: Stats = field(default_factory=Stats)
    runs: dict[RunKey, bool] = field(default_factory=dict)  # -> started (holds a slot)
    busy: int = 0
    draining: bool = False

    def __post_init__(self) -> None:
        self.free = asyncio.Semaphore(self.slots)
        self._since = time.perf_counter()

    def _busy_changed(self, delta: int) -> None:
        now = time.perf_counter()
        self.stats.busy_area += self.busy * (now - self._since)
        self._since = now
        self.busy += delta
        self.stats.peak_busy = max(self.stats.peak_busy, self.busy)

    def info(self) -> executor_pb2.ExecutorInfo:
        return executor_pb2.ExecutorInfo(
            executor_id=self.executor_id, slots=self.slots, busy_slots=self.busy,
            devices=[executor_pb2.Device(name="cpu", kind="cpu")], trainables=list(self.trainables),
            version="loadgen", queue_capacity=self.queue, queued=len(self.runs) - self.busy,
            running=[executor_pb2.RunningTrial(study_id=k[0], trial_id=k[1], attempt=k[2], started=started)
                     for k, started in self.runs.items()],
            runs_trials_together=self.together)

    async def Describe(self, request: executor_pb2.DescribeRequest, context: Any) -> executor_pb2.ExecutorInfo:
        return self.info()

    async def RunTrials(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        # The executor's own multiplexing: each run is served by RunTrial below, as nestor-executor's are.
        self.stats.run_trials_streams += 1
        await serve_runs(self.RunTrial, context, "/nestor.v1.Executor/RunTrials")

    async def RunTrial(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("body") != "assignment":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "RunTrial: the first message must be an assignment")
        a = first.assignment
        if self.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the executor is shutting down")
        if a.trainable not in self.trainables:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"trainable {a.trainable!r} is not served by this executor")
        if len(self.runs) >= self.slots + self.queue:
            self.stats.refused += 1
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"all {self.slots} slots are busy")
        key = (a.study_id, a.trial_id, a.attempt)
        self.runs[key] = False
        self.stats.peak_held = max(self.stats.peak_held, len(self.runs))
        stop = asyncio.Event()
        control = asyncio.create_task(self._control(context, stop))
        started = False
        try:
            async with self.free:
                started = self.runs[key] = True
                self._busy_changed(+1)
                await self._run(context, a, stop)
        except BaseException:
            self.stats.cancelled += 1
            raise
        finally:
            if started:
                self._busy_changed(-1)
            self.runs.pop(key, None)
            control.cancel()

    async def _run(self, context: grpc.aio.ServicerContext, a: executor_pb2.TrialAssignment,
                   stop: asyncio.Event) -> None:
        t0 = time.perf_counter()
        await context.write(executor_pb2.ExecutorMessage(started=executor_pb2.TrialStarted(
            executor_id=self.executor_id, device="cpu", slot=0)))
        config = a.config.fields
        steps = int(config["steps"].number_value) if "steps" in config else self.reports
        sleep_s = config["sleep_s"].number_value if "sleep_s" in config else self.sleep_s
        base = sum(float(getattr(v, kind)) for v in a.params.values()
                   if (kind := v.WhichOneof("kind")) in ("double_value", "int_value"))
        pause = sleep_s / steps if steps > 0 else sleep_s
        value, step = base, 0
        if pause <= 0 and self.batches and accepts_batches(a):
            # Reports faster than a message travels: the real executor sends what waits as one batch.
            for first in range(1, steps + 1, MAX_BATCH):
                last = min(steps, first + MAX_BATCH - 1)
                batch = [study_pb2.Measurement(step=k, metrics={"value": base + 1.0 / k},
                                               elapsed_s=time.perf_counter() - t0) for k in range(first, last + 1)]
                await context.write(executor_pb2.ExecutorMessage(
                    measurements=executor_pb2.MeasurementBatch(measurements=batch)))
                self.stats.measurements += len(batch)
                step, value = last, base + 1.0 / last
                if stop.is_set():
                    break
        else:
            for step in range(1, steps + 1):
                if pause > 0:
                    await asyncio.sleep(pause)
                value = base + 1.0 / step
                await context.write(executor_pb2.ExecutorMessage(measurement=study_pb2.Measurement(
                    step=step, metrics={"value": value}, elapsed_s=time.perf_counter() - t0)))
                self.stats.measurements += 1
                if stop.is_set():
                    break
        if steps <= 0 and pause > 0:
            await asyncio.sleep(pause)
        result = executor_pb2.TrialResult(final_measurement=study_pb2.Measurement(
            step=step, metrics={"value": value}, elapsed_s=time.perf_counter() - t0), stopped=stop.is_set())
        await context.write(executor_pb2.ExecutorMessage(result=result))
        self.stats.trials += 1
        self.stats.stopped += stop.is_set()

    async def _control(self, context: grpc.aio.ServicerContext, stop: asyncio.Event) -> None:
        """Stop decisions while the trial runs (outer variables are not simulated)."""
        with contextlib.suppress(grpc.RpcError, grpc.aio.AbortError, grpc.aio.UsageError, ConnectionError):
            while True:
                msg = await context.read()
                if msg is grpc.aio.EOF:
                    return
                kind = msg.WhichOneof("body")
                if kind == "stop" or (kind == "answer" and msg.answer.decision == study_pb2.DECISION_STOP):
                    stop.set()


class LoadGen:
    """Several simulated executors in one asyncio loop, each with its own server and port."""

    def __init__(self, controller: str, *, executors: int = 10, slots: int = 100, queue: int = -1,
                 reports: int = 10, sleep_s: float = 0.0, trainables: tuple[str, ...] = ("noop",),
                 host: str = "127.0.0.1", register_interval: float = 10.0, name: str = "loadgen",
                 batches: bool = True, together: bool = True) -> None:
        self.controller = controller
        self.host = host
        self.register_interval = register_interval
        self.executors = [LoadExecutor(f"{name}-{i}", slots, slots if queue < 0 else queue, reports, sleep_s,
                                       trainables, batches, together) for i in range(executors)]
        self.servers: list[grpc.aio.Server] = []
        self.addresses: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.t0 = 0.0

    async def start(self) -> None:
        for ex in self.executors:
            server = grpc.aio.server(options=SERVER_OPTIONS)
            executor_pb2_grpc.add_ExecutorServicer_to_server(ex, server)
            port = server.add_insecure_port(f"{self.host}:0")
            await server.start()
            self.servers.append(server)
            self.addresses.append(f"{self.host}:{port}")
        self.t0 = time.perf_counter()
        if self.controller:
            self._channel = grpc.aio.insecure_channel(self.controller)
            stub = controller_pb2_grpc.ControllerStub(self._channel)
            self._tasks = [asyncio.create_task(self._register(stub, ex, address))
                           for ex, address in zip(self.executors, self.addresses, strict=True)]

    async def _register(self, stub: controller_pb2_grpc.ControllerStub, ex: LoadExecutor, address: str) -> None:
        delay = 0.1
        while True:
            try:
                await stub.RegisterExecutor(controller_pb2.RegisterExecutorRequest(address=address, info=ex.info()),
                                            timeout=max(2.0, min(self.register_interval, 10.0)))
            except grpc.aio.AioRpcError:
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0, self.register_interval)
                continue
            delay = 0.1
            await asyncio.sleep(self.register_interval)

    async def stop(self) -> None:
        for ex in self.executors:
            ex.draining = True
            ex._busy_changed(0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(s.stop(grace=1.0) for s in self.servers))
        if self._tasks:
            await self._channel.close()

    def summary(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        slots = sum(ex.slots for ex in self.executors)
        out: dict[str, Any] = {"executors": len(self.executors), "slots": slots, "wall_s": wall}
        for name in Stats.__dataclass_fields__:
            out[name] = sum(getattr(ex.stats, name) for ex in self.executors)
        out["occupancy"] = out["busy_area"] / (slots * wall) if wall > 0 and slots else 0.0
        return out


async def serve(args: argparse.Namespace) -> None:
    gen = LoadGen(args.controller, executors=args.executors, slots=args.slots, queue=args.queue,
                  reports=args.reports, sleep_s=args.sleep, trainables=tuple(args.trainable or ["noop"]),
                  host=args.host, register_interval=args.register_interval, name=args.name,
                  batches=not args.one_per_message, together=not args.run_trial_streams)
    await gen.start()
    for address in gen.addresses[1:]:
        print(f"loadgen: executor at {address}", file=sys.stderr, flush=True)
    print(f"loadgen: {len(gen.executors)} executors, {args.executors * args.slots} slots; "
          f"listening on {gen.addresses[0]}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await gen.stop()
    summary = gen.summary()
    if args.stats:
        Path(args.stats).write_text(json.dumps(summary))
    print(f"loadgen served, in {summary['wall_s']:.2f} s on {summary['slots']} slots "
          f"({summary['executors']} executors):")
    for name, value in summary.items():
        if name not in ("executors", "slots", "wall_s"):
            print(f"  {name:14} {value:12.4g}" if isinstance(value, float) else f"  {name:14} {value:12d}")
    if args.json:
        print(json_line(summary), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--controller", required=True, help="host:port of the controller to register with")
    p.add_argument("--executors", type=int, default=10, help="simulated executors, each on its own port")
    p.add_argument("--slots", type=int, default=100, help="slots per executor")
    p.add_argument("--queue", type=int, default=-1, help="backlog per executor (default: as many as its slots)")
    p.add_argument("--reports", type=int, default=10, help="measurements per trial without a 'steps' config")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per trial without a 'sleep_s' config")
    p.add_argument("--trainable", action="append", help="trainable name served (repeatable; default noop)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--register-interval", type=float, default=10.0)
    p.add_argument("--name", default="loadgen", help="prefix of the executors' ids")
    p.add_argument("--one-per-message", action="store_true",
                   help="one message per measurement even to a controller that takes batches")
    p.add_argument("--run-trial-streams", action="store_true",
                   help="serve only RunTrial, a stream per trial, as an executor older than RunTrials")
    p.add_argument("--stats", default="", help="write what was served as JSON to this file on exit")
    p.add_argument("--json", action="store_true",
                   help="on exit, print what was served as one JSON object on the last line")
    args = p.parse_args()
    if args.executors < 1 or args.slots < 1:
        p.error("--executors and --slots must be at least 1")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
