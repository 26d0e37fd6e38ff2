"""What the controller and the executors both do to serve, beside their API port.

- A plaintext port for health probes only: Kubernetes' gRPC probes (and most
  load balancers) speak neither TLS nor tokens, so a server whose API port
  requires them also answers the standard health service on `--health-port`,
  with nothing else on it.
- A Prometheus endpoint on `--metrics-port`.
- The command-line flags of both, and of the server's TLS.

Only the servers call this; they depend on grpcio-health-checking and
prometheus-client, the thin SDK does not (the imports are inside the functions).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import grpc


def bracket_host(host: str) -> str:
    """An IPv6 literal in brackets, as a host:port address needs it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


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
    return g


async def start_health_port(servicer: Any, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Serves `servicer` (a grpc_health HealthServicer shared with the API port) alone on host:port."""
    from grpc_health.v1 import health_pb2_grpc

    server = grpc.aio.server()
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
