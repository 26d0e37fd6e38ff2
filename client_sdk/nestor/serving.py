"""What the controller and the executors both do to serve, beside their API port.

- A plaintext port for health probes only: Kubernetes' gRPC probes (and most
  load balancers) speak neither TLS nor tokens, so a server whose API port
  requires them also answers the standard health service on `--health-port`,
  with nothing else on it.
- A Prometheus endpoint on `--metrics-port`.
- The command-line flags of both, and of the server's TLS; the event loop they run on.
- A request that cannot be decoded (corrupt bytes, nesting past protobuf's
  depth limit) answers INVALID_ARGUMENT on every service, not grpc-python's
  UNKNOWN: `DecodeGuard`, the first interceptor of both servers.

Only the servers call this; they depend on grpcio-health-checking and
prometheus-client, the thin SDK does not (the imports are inside the functions).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import grpc


def bracket_host(host: str) -> str:
    """An IPv6 literal in brackets, as a host:port address needs it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


#: --event-loop choices.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


def add_server_args(p: argparse.ArgumentParser, *, cert_help: str, client_ca_help: str) -> argparse._ArgumentGroup:
    """--tls-cert/--tls-key/--tls-client-ca and --health-port/--metrics-port; returns the security group."""
    g = p.add_argument_group("security (README: Security)")
    g.add_argument("--tls-cert", default=os.environ.get("NESTOR_TLS_CERT", ""), metavar="FILE",
                   help=f"serve TLS with this PEM certificate (chain); {cert_help}")
    g.add_argument("--tls-key", default=os.environ.get("NESTOR_TLS_KEY", ""), metavar="FILE",
                   help="the private key of --tls-cert")
    g.add_argument("--tls-client-ca", default=os.environ.get("NESTOR_TLS_CLIENT_CA", ""), metavar="FILE",
                   help=f"mutual TLS: {client_ca_help}")
    ops = p.add_argument_group("operations")
    ops.add_argument("--health-port", type=int, default=None, metavar="PORT",
                     help="also serve the gRPC health service alone, plaintext, on this port (for probes that "
                          "speak neither TLS nor tokens)")
    ops.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                     help="serve Prometheus metrics on http://HOST:PORT/metrics (0 picks a free port)")
    ops.add_argument("--event-loop", choices=EVENT_LOOPS, default=os.environ.get("NESTOR_EVENT_LOOP", "auto"),
                     help="auto (default): uvloop where it is installed (the server packages install it on Linux "
                          "and macOS; it takes about a tenth less CPU per message), else asyncio's own")
    return g


def freeze_loaded_objects() -> None:
    """Moves every object alive now (what a process's imports made: functions, types, module dicts; some
    hundred thousand) out of the garbage collector's reach. A full collection would otherwise walk them
    all: pauses of 100 to 145 ms measured in a busy controller, during which no trial is dispatched and
    no request answered. They live as long as the process, so nothing is kept that would have been freed."""
    gc.collect()
    gc.freeze()


def run_event_loop(main: Coroutine[Any, Any, None], event_loop: str = "auto") -> None:
    """Runs a server's main coroutine on the event loop --event-loop names."""
    freeze_loaded_objects()
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                main.close()
                raise SystemExit("--event-loop uvloop: uvloop is not installed (pip install uvloop)") from None
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


class Malformed:
    """What a request that failed to decode turns into, so that the handler can answer for it."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        # grpc-python turns an exception here into UNKNOWN with no say for the server; a sentinel lets the
        # wrapped handler refuse the call with the right code instead.
        try:
            return deserializer(data)
        except Exception as e:  # DecodeError, too deep nesting, or anything a parser raises on garbage
            return Malformed(f"{type(e).__name__}: {e}")

    return parse


def _refuse_message(method: str, bad: Malformed) -> str:
    return f"{method}: the request could not be decoded ({bad.error})"


def refusal(message: Any, method: str) -> str | None:
    """What INVALID_ARGUMENT says for a message read behind DecodeGuard that did not decode; None for one that did."""
    return _refuse_message(method, message) if isinstance(message, Malformed) else None


async def read_request(context: grpc.aio.ServicerContext, method: str) -> Any:
    """context.read() of a bidirectional stream behind DecodeGuard: INVALID_ARGUMENT for undecodable bytes."""
    message = await context.read()
    if isinstance(message, Malformed):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _refuse_message(method, message))
    return message


class _GuardedContext:
    """A servicer context whose read() refuses a request message that failed to decode."""

    def __init__(self, context: grpc.aio.ServicerContext, method: str) -> None:
        self._context = context
        self._method = method

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def read(self) -> Any:
        message = await self._context.read()
        if isinstance(message, Malformed):
            await self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, _refuse_message(self._method, message))
        return message


async def _guarded_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext,
                          method: str) -> AsyncIterator[Any]:
    async for message in requests:
        if isinstance(message, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _refuse_message(method, message))
        yield message


def _guard_behavior(behavior: Callable[..., Any], method: str, streaming_request: bool) -> Callable[..., Any]:
    async def check(request: Any, context: grpc.aio.ServicerContext) -> tuple[Any, Any]:
        if streaming_request:
            return _guarded_stream(request, context, method), _GuardedContext(context, method)
        if isinstance(request, Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, _refuse_message(method, request))
        return request, context

    if inspect.isasyncgenfunction(behavior):
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request, inner = await check(request, context)
            async for response in behavior(request, inner):
                yield response

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        request, inner = await check(request, context)
        return await behavior(request, inner)

    return call


_HANDLER_FACTORIES = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


class DecodeGuard(grpc.aio.ServerInterceptor):
    """Answers INVALID_ARGUMENT, naming the method, for request bytes that do not decode; install it first."""

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        attr, factory = _HANDLER_FACTORIES[(bool(handler.request_streaming), bool(handler.response_streaming))]
        behavior = getattr(handler, attr)
        if handler.request_streaming and handler.response_streaming:
            # Wrapping a bidirectional handler in another coroutine made the executor's long DARTS streams end
            # in INTERNAL ("Internal error from Core"; the cause inside grpc-python is not known): it keeps its
            # own behavior and reads through `read_request`, which refuses what did not decode.
            return factory(behavior, request_deserializer=_lenient(handler.request_deserializer),
                           response_serializer=handler.response_serializer)
        return factory(_guard_behavior(behavior, details.method or "", bool(handler.request_streaming)),
                       request_deserializer=_lenient(handler.request_deserializer),
                       response_serializer=handler.response_serializer)


async def start_health_port(servicer: Any, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Serves `servicer` (a grpc_health HealthServicer shared with the API port) alone on host:port."""
    from grpc_health.v1 import health_pb2_grpc

    server = grpc.aio.server(interceptors=[DecodeGuard()])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{bracket_host(host)}:{port}")
    if bound == 0:
        raise SystemExit(f"cannot listen for health checks on {host}:{port}")
    await server.start()
    return server, bound


def serve_prometheus(collector: Any, host: str, port: int) -> tuple[Callable[[], None], int]:
    """Registers `collector` and serves http://host:port/metrics (0: a free port) from a thread.

    Returns a function that stops the endpoint, and the bound port.
    """
    from prometheus_client import REGISTRY, start_http_server

    REGISTRY.register(collector)
    server, thread = start_http_server(port, addr=host)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        REGISTRY.unregister(collector)

    return stop, int(server.server_port)


class SidePorts:
    """The health-only port and the metrics endpoint of one server, each started only when its port is given."""

    def __init__(self, prog: str, host: str, health_port: int | None, metrics_port: int | None) -> None:
        self.prog, self.host = prog, host
        self.health_port, self.metrics_port = health_port, metrics_port
        self._health: grpc.aio.Server | None = None
        self._stop_metrics: Callable[[], None] | None = None

    async def start(self, health_servicer: Any, collector: Callable[[], Any]) -> None:
        """Prints where each listens, before the server's `listening on` line (tests read them there)."""
        if self.health_port is not None:
            self._health, bound = await start_health_port(health_servicer, self.host, self.health_port)
            print(f"{self.prog} health checks on {bracket_host(self.host)}:{bound}", flush=True)
        if self.metrics_port is not None:
            self._stop_metrics, bound = serve_prometheus(collector(), self.host, self.metrics_port)
            print(f"{self.prog} metrics on http://{bracket_host(self.host)}:{bound}/metrics", flush=True)

    async def stop(self) -> None:
        if self._health is not None:
            await self._health.stop(grace=None)
        if self._stop_metrics is not None:
            self._stop_metrics()
