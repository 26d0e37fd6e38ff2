"""Builds and runs the controller's gRPC server (with health and reflection)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nestor.serving import DecodeGuard, SidePorts, bracket_host
from nestor.tls import ClientTLS, ServerTLS, add_port, guards
from nestor.v1 import controller_pb2, controller_pb2_grpc

from nestor_controller.auth import TokenAuthInterceptor, TokenFile
from nestor_controller.engine import Engine
from nestor_controller.errors import StoreProblem
from nestor_controller.service import ControllerService
from nestor_controller.store import Store

log = logging.getLogger(__name__)
SERVICE = controller_pb2.DESCRIPTOR.services_by_name["Controller"].full_name


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 50051
    store: str = "sqlite:///nestor.db"
    executors: list[str] = field(default_factory=list)
    artifact_dir: str = ""
    durable: bool = True
    # Wait for the store's lease instead of refusing to start while another controller holds it.
    standby: bool = False
    max_message_bytes: int = 4 * 1024 * 1024
    poll_interval: float = 2.0
    dns_interval: float = 10.0
    # Security and operations (README "Security", "Metrics"); all off by default.
    tls: ServerTLS | None = None
    executor_tls: ClientTLS | None = None
    # Sent as a bearer token on every call to executors (--executor-token-file).
    executor_token: str = ""
    auth_tokens: str = ""
    health_port: int | None = None
    metrics_port: int | None = None
    # --event-loop: auto (uvloop where installed), uvloop or asyncio.
    event_loop: str = "auto"


def engine_collector(engine: Engine) -> object:
    from nestor_controller.metrics import EngineCollector, instrument_study_runtime  # prometheus_client if asked

    instrument_study_runtime()
    return EngineCollector(engine)


async def serve(settings: Settings) -> None:
    try:
        interceptors = [TokenAuthInterceptor(TokenFile(settings.auth_tokens))] if settings.auth_tokens else []
    except ValueError as e:
        raise SystemExit(f"nestor-controller: {e}") from None
    def waiting(holder: str) -> None:
        print(f"nestor-controller standby: store {settings.store} is held by {holder}; waiting to take over",
              file=sys.stderr, flush=True)

    try:
        store = Store(settings.store, durable=settings.durable, standby=settings.standby, on_wait=waiting)
    except StoreProblem as e:
        raise SystemExit(f"nestor-controller: {e}") from None
    engine = Engine(store, artifact_dir=settings.artifact_dir, poll_interval=settings.poll_interval,
                    dns_interval=settings.dns_interval)
    engine.pool.tls = settings.executor_tls
    engine.pool.token = settings.executor_token
    server = grpc.aio.server(interceptors=[DecodeGuard(), *interceptors], options=[
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        # Executors and clients may keep idle connections alive with pings.
        ("grpc.http2.min_ping_interval_without_data_ms", 5000),
        ("grpc.keepalive_permit_without_calls", 1),
    ])
    controller_pb2_grpc.add_ControllerServicer_to_server(ControllerService(engine), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server)
    port = add_port(server, f"{bracket_host(settings.host)}:{settings.port}", settings.tls)
    if port == 0:
        raise SystemExit(f"nestor-controller: cannot listen on {settings.host}:{settings.port}")
    await engine.start(settings.executors)
    await server.start()
    side = SidePorts("nestor-controller", settings.host, settings.health_port, settings.metrics_port)
    await side.start(health_servicer, lambda: engine_collector(engine))
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"nestor-controller{guards(settings.tls, bool(interceptors))} listening on {settings.host}:{port}",
          flush=True)
    log.info("store %s (%s), %d studies loaded", settings.store, "durable" if settings.durable else "not durable",
             len(engine.studies))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lost: list[str] = []

    def lease_lost(why: str) -> None:
        lost.append(why)
        stop.set()

    # Fenced already (the store refuses every write); the process goes too, so that a supervisor sees it.
    store.on_lease_lost = lambda why: loop.call_soon_threadsafe(lease_lost, why)
    await stop.wait()
    if lost:
        log.error("lost the lease on store %s (%s): exiting", store.name, lost[0])
    log.info("shutting down")
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace=2.0)
    await side.stop()
    await engine.close()
    await asyncio.to_thread(store.flush)
    store.close()
    print("nestor-controller stopped", file=sys.stderr, flush=True)
    if lost:
        raise SystemExit(f"nestor-controller: lost the lease on store {store.name}: {lost[0]}")
