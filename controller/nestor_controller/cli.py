"""`nestor-controller`: the command line of the controller."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os

from nestor.processes import die_with_parent
from nestor.serving import add_server_args, run_event_loop
from nestor.tls import ClientTLS, TLSConfigError, server_tls

from nestor_controller.server import Settings, serve


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nestor-controller", description="Nestor controller: studies, search "
                                "strategies and dispatch of trials to executors.")
    p.add_argument("--host", default=os.environ.get("NESTOR_HOST", "127.0.0.1"),
                   help="interface to listen on (0.0.0.0 in a container); default 127.0.0.1")
    p.add_argument("--port", type=int, default=50051, help="port to listen on; 0 picks a free one (default 50051)")
    p.add_argument("--store", default=os.environ.get("NESTOR_STORE", "sqlite:///nestor.db"),
                   help="SQLAlchemy URL of the store: sqlite:///path or postgresql://... (default sqlite:///nestor.db)")
    p.add_argument("--executors", default=os.environ.get("NESTOR_EXECUTORS", ""),
                   help="comma-separated executors: host:port, or dns:///name:port to follow every address of a "
                        "DNS name (a Kubernetes headless Service); executors may also register themselves")
    p.add_argument("--health-interval", type=float, default=2.0,
                   help="seconds between health checks of each executor; two misses and its trials are requeued")
    p.add_argument("--dns-interval", type=float, default=10.0, help="seconds between DNS re-resolutions")
    p.add_argument("--artifact-dir", default=os.environ.get("NESTOR_ARTIFACT_DIR", ""),
                   help="directory shared with executors for trial checkpoints (default: each executor's own)")
    p.add_argument("--durability", choices=["sync", "off"], default="sync",
                   help="sync: every change is committed before it is acknowledged (default); off: for benchmarks")
    p.add_argument("--standby", action="store_true",
                   help="when another controller holds the store, wait and take over the moment it ends (default: "
                        "refuse to start, naming the holder)")
    p.add_argument("--max-message-mb", type=float, default=4.0, help="largest request accepted (default 4 MiB)")
    p.add_argument("--log-level", default=os.environ.get("NESTOR_LOG_LEVEL", "INFO"))
    add_security_args(p)
    return p


def parse_args(argv: list[str] | None = None) -> Settings:
    p = build_parser()
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Settings(
        host=a.host, port=a.port, store=a.store,
        executors=[x.strip() for x in a.executors.split(",") if x.strip()],
        artifact_dir=a.artifact_dir, durable=a.durability == "sync", standby=a.standby,
        max_message_bytes=int(a.max_message_mb * 1024 * 1024), poll_interval=a.health_interval,
        dns_interval=a.dns_interval, auth_tokens=a.auth_tokens, health_port=a.health_port,
        metrics_port=a.metrics_port, event_loop=a.event_loop, **security_settings(p, a),
    )


def add_security_args(p: argparse.ArgumentParser) -> None:
    g = add_server_args(p, cert_help="also the client certificate shown to executors",
                        client_ca_help="every client must present a certificate signed by this CA")
    g.add_argument("--executor-ca", default=os.environ.get("NESTOR_EXECUTOR_CA", ""), metavar="FILE",
                   help="dial executors over mutual TLS, trusting this CA for their certificates and presenting "
                        "--tls-cert as ours")
    g.add_argument("--executor-server-name", default="", metavar="NAME",
                   help="the name executors' certificates carry (default: the host dialled; for dns:///NAME:port, "
                        "NAME)")
    g.add_argument("--auth-tokens", default=os.environ.get("NESTOR_AUTH_TOKENS", ""), metavar="FILE",
                   help="require 'authorization: Bearer <token>' on every call but health checks; FILE lists the "
                        "accepted tokens, one per line, re-read when it changes")
    g.add_argument("--executor-token-file", default=os.environ.get("NESTOR_EXECUTOR_TOKEN_FILE", ""),
                   metavar="FILE",
                   help="send 'authorization: Bearer <token>' with the first token in FILE on every call to "
                        "executors (those started with --controller-token-file require it)")


def security_settings(p: argparse.ArgumentParser, a: argparse.Namespace) -> dict[str, object]:
    try:
        tls = server_tls(a.tls_cert, a.tls_key, a.tls_client_ca)
        executor_tls = None
        if a.executor_ca:
            if tls is None:
                raise TLSConfigError("--executor-ca needs --tls-cert and --tls-key: they are the client "
                                     "certificate executors check")
            executor_tls = ClientTLS(ca=a.executor_ca, cert=tls.cert, key=tls.key,
                                     server_name=a.executor_server_name)
            executor_tls.credentials()
    except TLSConfigError as e:
        p.error(str(e))
    executor_token = ""
    if a.executor_token_file:
        from nestor.tokens import read_token

        try:
            executor_token = read_token(a.executor_token_file, "--executor-token-file")
        except ValueError as e:
            p.error(str(e))
    return {"tls": tls, "executor_tls": executor_tls, "executor_token": executor_token}


def main(argv: list[str] | None = None) -> None:
    die_with_parent()
    settings = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run_event_loop(serve(settings), settings.event_loop)


if __name__ == "__main__":
    main()
