"""Executors the controller can dispatch to: static addresses and self-registered ones.

The pool counts the trials it has placed on each executor against the slots the
executor describes, and polls each one so that a lost executor stops receiving
trials and a new or recovered one starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from nestor.tls import ClientTLS, aio_channel
from nestor.tokens import bearer_interceptors
from nestor.v1 import controller_pb2, executor_pb2, executor_pb2_grpc

from nestor_controller.multiplex import RunStream

log = logging.getLogger(__name__)
#: One run of a trial: (study id, trial id, attempt).
RunKey = tuple[str, int, int]

CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # Reconnect quickly after an executor restarts instead of backing off for minutes.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Pings find a cut link on a quiet stream (a trial between reports) within ~15 s.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


@dataclass
class ExecutorHandle:
    address: str
    channel: grpc.aio.Channel
    stub: executor_pb2_grpc.ExecutorStub
    info: executor_pb2.ExecutorInfo | None = None
    healthy: bool = False
    last_seen: float = 0.0
    failures: int = 0
    trainables: frozenset[str] = field(default_factory=frozenset)
    #: The runs we placed on it: (study id, trial id, attempt).
    ours: set[RunKey] = field(default_factory=set)
    #: Runs it reported that are not ours and still hold a place (a previous controller's, until they end).
    foreign: int = 0
    #: After a refusal: no dispatch to it before this (monotonic) time, unless a probe finds room first.
    cool_until: float = 0.0
    #: Its RunTrials stream, when it serves one: every trial we run there goes over it.
    stream: RunStream | None = None

    @property
    def running(self) -> int:
        return len(self.ours)

    @property
    def free(self) -> int:
        if not self.healthy or self.info is None or time.monotonic() < self.cool_until:
            return 0
        # Its backlog too: a trial waiting there starts the instant a slot frees, with no round trip to us.
        return max(0, self.info.slots + self.info.queue_capacity - self.running - self.foreign)

    def open_run(self) -> Any:
        """A new run's call: a run on its shared RunTrials stream, or a RunTrial stream of its own from an executor
        that does not serve RunTrials (an older one)."""
        if self.info is None or not self.info.runs_trials_together:
            return self.stub.RunTrial()
        if self.stream is None or self.stream.broken:
            self.stream = RunStream(self.stub, self.address)
        return self.stream.open()

    def status(self) -> controller_pb2.ExecutorStatus:
        s = controller_pb2.ExecutorStatus(address=self.address, healthy=self.healthy, running_trials=self.running)
        if self.info is not None:
            s.info.CopyFrom(self.info)
        if self.last_seen:
            s.last_seen.FromNanoseconds(int(self.last_seen * 1e9))
        return s


def parse_dns_target(target: str) -> tuple[str, int]:
    """`dns:///name:port` (gRPC's form; an authority between the slashes is ignored) -> (name, port)."""
    rest = target.removeprefix("dns:")
    rest = rest[2:].split("/", 1)[1] if rest.startswith("//") else rest
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"executor target {target!r}: expected dns:///name:port")
    return host.strip("[]"), int(port)


class ExecutorPool:
    def __init__(self, on_change: Callable[[], None], *, poll_interval: float = 2.0,
                 on_lost: Callable[[ExecutorHandle], None] | None = None, dns_interval: float = 10.0,
                 foreign_runs: Callable[[ExecutorHandle], int] | None = None) -> None:
        self.on_change = on_change
        self.on_lost = on_lost
        self.foreign_runs = foreign_runs
        self.poll_interval = poll_interval
        self.dns_interval = dns_interval
        self.handles: dict[str, ExecutorHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: Set: executors are dialled over (mutual) TLS.
        self.tls: ClientTLS | None = None
        #: Set: sent as `authorization: Bearer <token>` on every call to an executor (--executor-token-file).
        self.token = ""

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._monitor(), name="executor-pool-monitor"))

    def add_dns(self, target: str) -> None:
        """Follows a DNS name: every address it resolves to is one executor (a Kubernetes headless Service)."""
        host, port = parse_dns_target(target)
        self._tasks.append(asyncio.create_task(self._follow_dns(host, port), name=f"dns-{host}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for h in self.handles.values():
            if h.stream is not None:
                await h.stream.close()
            await h.channel.close()

    def add(self, address: str, info: executor_pb2.ExecutorInfo | None = None, *,
            server_name: str = "") -> ExecutorHandle:
        """Adds (or refreshes) an executor; a registration carries its info, a static address is described later.

        `server_name`: the name its TLS certificate must carry when that is not the host dialled.
        """
        h = self.handles.get(address)
        if h is None:
            channel = aio_channel(address, self.tls, CHANNEL_OPTIONS, server_name,
                                  interceptors=bearer_interceptors(self.token) if self.token else None)
            h = ExecutorHandle(address, channel, executor_pb2_grpc.ExecutorStub(channel))
            self.handles[address] = h
            log.info("executor %s added", address)
        if info is not None:
            self._describe_ok(h, info)
        else:
            asyncio.get_running_loop().create_task(self._probe(h))
        return h

    def places(self, trainable: str, count: int) -> list[ExecutorHandle]:
        """Where the next `count` trials go: each to the executor least loaded for its size (running, foreign and
        already chosen, over its slots), so idle slots on every executor fill before any backlog does."""
        heap = []
        for h in self.free_for(trainable):
            slots = max(1, h.info.slots if h.info else 1)
            heap.append(((h.running + h.foreign) / slots, h.address, h, slots, h.free))
        heapq.heapify(heap)
        out: list[ExecutorHandle] = []
        while heap and len(out) < count:
            load, address, h, slots, free = heapq.heappop(heap)
            out.append(h)
            if free > 1:
                heapq.heappush(heap, (load + 1 / slots, address, h, slots, free - 1))
        return out

    def free_for(self, trainable: str) -> list[ExecutorHandle]:
        return [h for h in self.handles.values() if h.free > 0 and trainable in h.trainables]

    def free_slots(self, trainable: str) -> int:
        return sum(h.free for h in self.free_for(trainable))

    def reserve(self, h: ExecutorHandle, run: RunKey) -> None:
        h.ours.add(run)

    def release(self, h: ExecutorHandle, run: RunKey) -> None:
        h.ours.discard(run)
        self.on_change()

    def refused(self, h: ExecutorHandle) -> None:
        """It refused a run for lack of room (our view was stale): back off from it until a probe finds room."""
        h.cool_until = time.monotonic() + self.poll_interval

    def mark_lost(self, h: ExecutorHandle, why: str, *, confirmed: bool = False) -> None:
        """Stops dispatching to `h`; `confirmed` (it stopped answering health checks) also gives up its trials."""
        if h.healthy:
            log.warning("executor %s lost: %s", h.address, why)
        h.healthy = False
        if confirmed and self.on_lost is not None:
            self.on_lost(h)
        self.on_change()

    def _describe_ok(self, h: ExecutorHandle, info: executor_pb2.ExecutorInfo) -> None:
        was = h.healthy, h.info.slots if h.info else None, h.trainables, h.foreign, h.cool_until > 0
        h.info = info
        h.trainables = frozenset(info.trainables)
        h.healthy = True
        h.failures = 0
        h.last_seen = time.time()
        h.foreign = self.foreign_runs(h) if self.foreign_runs is not None else 0
        if h.cool_until and info.busy_slots + info.queued + h.foreign < info.slots + info.queue_capacity:
            h.cool_until = 0.0
        if was != (h.healthy, info.slots, h.trainables, h.foreign, h.cool_until > 0):
            self.on_change()

    async def _probe(self, h: ExecutorHandle) -> None:
        try:
            info = await h.stub.Describe(executor_pb2.DescribeRequest(), timeout=max(1.0, self.poll_interval))
        except grpc.aio.AioRpcError as e:
            h.failures += 1
            # Two misses in a row: one slow answer from a loaded machine is not a lost executor.
            if h.failures == 2 or (h.healthy and h.failures > 2):
                self.mark_lost(h, e.details() or e.code().name, confirmed=True)
            return
        self._describe_ok(h, info)

    async def _follow_dns(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        known: set[str] = set()
        while True:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as e:
                log.warning("cannot resolve executors at %s:%d: %s", host, port, e)
                infos = []
            v4 = [i[4][0] for i in infos if i[0] == socket.AF_INET]
            # A dual-stack name lists each pod twice; one family keeps one handle per executor.
            ips = v4 or [i[4][0] for i in infos if i[0] == socket.AF_INET6]
            addresses = {f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in ips}
            for address in sorted(addresses - known):
                self.add(address, server_name=host)
            for address in known - addresses:
                h = self.handles.get(address)
                if h is not None:
                    self.mark_lost(h, f"no longer listed by DNS name {host}")
                    if h.running == 0:
                        await h.channel.close()
                        del self.handles[address]
            known = addresses
            await asyncio.sleep(self.dns_interval)

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await asyncio.gather(*(self._probe(h) for h in list(self.handles.values())), return_exceptions=True)
