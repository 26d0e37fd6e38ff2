"""`nestor-dashboard`: serves the dashboard of one controller.

Connection options are the SDK's (``$NESTOR_CONTROLLER``, ``$NESTOR_TOKEN``,
``$NESTOR_TOKEN_FILE``, ``$NESTOR_TLS_*``), each also a flag here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from aiohttp import web
from nestor.client import Client
from nestor.connection import default_address, default_token
from nestor.processes import die_with_parent
from nestor.tls import ClientTLS, TLSConfigError, client_tls_from_env
from nestor.tokens import read_token

from nestor_dashboard import __version__
from nestor_dashboard.app import make_app

#: How long a stop waits for requests in flight.
SHUTDOWN_S = 2.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nestor-dashboard",
                                description="A live web dashboard of a Nestor controller's studies.")
    p.add_argument("--version", action="version", version=f"nestor-dashboard {__version__}")
    p.add_argument("--controller", metavar="ADDR", default=None,
                   help="controller address host:port (default: $NESTOR_CONTROLLER or localhost:50051)")
    p.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this machine; 0.0.0.0 in a container)")
    p.add_argument("--allow-write", action="store_true", help="show stop and delete buttons (default read-only)")
    p.add_argument("--timeout", type=float, default=30.0, help="limit for each call to the controller (s)")
    p.add_argument("--token-file", metavar="PATH",
                   help="bearer token for the controller (default $NESTOR_TOKEN or $NESTOR_TOKEN_FILE)")
    p.add_argument("--tls-ca", metavar="PEM", help="CA certificate the controller's certificate must chain to")
    p.add_argument("--tls-cert", metavar="PEM", help="client certificate, for mutual TLS")
    p.add_argument("--tls-key", metavar="PEM", help="client key, for mutual TLS")
    p.add_argument("--tls-server-name", metavar="NAME", help="name to check in the controller's certificate")
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return p


def client_tls(args: argparse.Namespace) -> ClientTLS | None:
    """The flags when any is given, else the SDK's environment variables."""
    if args.tls_ca or args.tls_cert or args.tls_key or args.tls_server_name:
        return ClientTLS(ca=args.tls_ca or "", cert=args.tls_cert or "", key=args.tls_key or "",
                         server_name=args.tls_server_name or "")
    return client_tls_from_env()


async def serve(app: web.Application, host: str, port: int) -> None:
    # Open event streams never end by themselves: waiting for them would hold up every stop by a minute.
    runner = web.AppRunner(app, handle_signals=True, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    # Tests and `nestor demo` read the address from this line.
    print(f"nestor-dashboard listening on http://{bound_host}:{bound_port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    die_with_parent()  # started by `nestor demo`: go when it goes, even if it is killed
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        token = read_token(args.token_file, "--token-file") if args.token_file else default_token()
        client = Client(args.controller or default_address(), timeout=args.timeout, token=token,
                        tls=client_tls(args))
    except (TLSConfigError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(make_app(client, allow_write=args.allow_write), args.host, args.port))
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0
