"""`nestor-executor`: the command line of the executor."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Any, NoReturn

from nestor.processes import die_with_parent

from nestor_executor import registry
from nestor_executor.devices import DeviceError, cpu_count, detect


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nestor-executor", description="Nestor executor: runs trainables in "
                                "persistent worker processes, one per slot, and streams what they measure.")
    p.add_argument("--host", default=os.environ.get("NESTOR_HOST", "127.0.0.1"),
                   help="interface to listen on (0.0.0.0 in a container); default 127.0.0.1")
    p.add_argument("--port", type=int, default=50052,
                   help="port to listen on; 0 picks a free one (default 50052)")
    p.add_argument("--controller", default=os.environ.get("NESTOR_CONTROLLER", ""),
                   help="controller to register with, host:port (default: env NESTOR_CONTROLLER; none: the "
                        "controller must be given this executor's address)")
    p.add_argument("--advertise", default="",
                   help="host:port the controller should dial (default: --host:port, or this host's name "
                        "when listening on all interfaces)")
    p.add_argument("--slots", type=int, default=0,
                   help="trials run at once, one worker process each (default: one per GPU, else 1)")
    p.add_argument("--queue", type=int, default=-1,
                   help="trials accepted beyond the slots; each waits at the executor and starts the moment a "
                        "slot frees, so no slot idles between trials (default: one per slot; 0: none)")
    p.add_argument("--trainable", action="append", default=[], metavar="NAME=module:function",
                   help="serve this trainable too (repeatable; may override a built-in: "
                        f"{', '.join(registry.BUILTINS)})")
    p.add_argument("--artifact-dir", default=os.environ.get("NESTOR_ARTIFACT_DIR", "nestor-artifacts"),
                   help="where trials keep checkpoints unless the controller names a directory "
                        "(default ./nestor-artifacts)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: every CUDA GPU if there is one, else the CPU (default auto)")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch threads per worker (default: CPU cores / slots, at least 1)")
    p.add_argument("--register-interval", type=float, default=10.0,
                   help="seconds between re-registrations with the controller (default 10)")
    p.add_argument("--log-level", default=os.environ.get("NESTOR_LOG_LEVEL", "INFO"))
    add_security_args(p)
    return p


def add_security_args(p: argparse.ArgumentParser) -> None:
    from nestor.serving import add_server_args

    g = add_server_args(p, cert_help="also shown to a controller that asks for one",
                        client_ca_help="serve only callers whose certificate this CA signed (the controller's)")
    g.add_argument("--controller-ca", default=os.environ.get("NESTOR_CONTROLLER_CA", ""), metavar="FILE",
                   help="register with the controller over TLS, trusting this CA for its certificate")
    g.add_argument("--token-file", default=os.environ.get("NESTOR_TOKEN_FILE", ""), metavar="FILE",
                   help="bearer token sent when registering (a controller with --auth-tokens requires one); "
                        "default: env NESTOR_TOKEN")
    g.add_argument("--controller-identity", action="append", metavar="NAME",
                   default=[n.strip() for n in os.environ.get("NESTOR_CONTROLLER_IDENTITY", "").split(",")
                            if n.strip()],
                   help="with --tls-client-ca: run trials (RunTrial, RunTrials, Describe) only for a caller "
                        "whose certificate carries NAME as its subject CN or a subject alternative name (DNS, URI, "
                        "IP): the controller's. Any other certificate the CA signed (a user's, another "
                        "executor's) gets PERMISSION_DENIED. Repeatable (env NESTOR_CONTROLLER_IDENTITY, "
                        "comma-separated)")
    g.add_argument("--controller-token-file", default=os.environ.get("NESTOR_CONTROLLER_TOKEN_FILE", ""),
                   metavar="FILE",
                   help="run trials (RunTrial, RunTrials, Describe) only for calls carrying "
                        "'authorization: Bearer <token>' with a token listed in FILE (one per line, re-read when "
                        "it changes): the one the controller sends from its --executor-token-file; others get "
                        "UNAUTHENTICATED")


def security_settings(args: argparse.Namespace) -> dict[str, Any]:
    """TLS and token settings from the flags; a bad combination or unreadable file ends the program."""
    from nestor.tls import ClientTLS, TLSConfigError, server_tls

    try:
        tls = server_tls(args.tls_cert, args.tls_key, args.tls_client_ca)
        controller_tls = None
        if args.controller_ca:
            controller_tls = ClientTLS(ca=args.controller_ca, cert=tls.cert if tls else "", key=tls.key if tls else "")
            controller_tls.credentials()
    except TLSConfigError as e:
        fail(str(e))
    if args.controller_identity and not (tls and tls.client_ca):
        fail("--controller-identity needs mutual TLS (--tls-cert, --tls-key and --tls-client-ca): the identity "
             "is read from the caller's certificate")
    controller_tokens = None
    if args.controller_token_file:
        from nestor.tokens import TokenFile

        try:
            controller_tokens = TokenFile(args.controller_token_file, "--controller-token-file")
        except ValueError as e:
            fail(str(e))
    token = os.environ.get("NESTOR_TOKEN", "")
    if args.token_file:
        try:
            with open(args.token_file) as f:
                token = f.readline().strip()
        except OSError as e:
            fail(f"--token-file: cannot read {args.token_file!r}: {e.strerror}")
    return {"tls": tls, "controller_tls": controller_tls, "token": token, "health_port": args.health_port,
            "metrics_port": args.metrics_port, "controller_identities": tuple(args.controller_identity),
            "controller_tokens": controller_tokens}


def fail(message: str) -> NoReturn:
    print(f"nestor-executor: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    die_with_parent()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.queue < -1:
        fail(f"--queue must be at least 0, got {args.queue}")
    if args.slots < 0:
        fail(f"--slots must be at least 1, got {args.slots}")
    if args.torch_threads < 0:
        fail(f"--torch-threads must be at least 1, got {args.torch_threads}")
    if args.register_interval <= 0:
        fail(f"--register-interval must be positive, got {args.register_interval}")
    try:
        trainables = registry.build(args.trainable)
    except registry.SpecError as e:
        fail(str(e))
    security = security_settings(args)
    try:
        devices = detect(args.device)
    except DeviceError as e:
        fail(str(e))
    slots = args.slots or (len(devices) if devices[0].kind == "cuda" else 1)

    # Imported late: a bad command line fails before grpc loads.
    from nestor.serving import run_event_loop

    from nestor_executor.server import Settings, serve

    settings = Settings(
        host=args.host, port=args.port, controller=args.controller, advertise=args.advertise, slots=slots,
        devices=devices, trainables=trainables, artifact_dir=os.path.abspath(args.artifact_dir),
        queue=slots if args.queue < 0 else args.queue,
        torch_threads=args.torch_threads or max(1, cpu_count() // slots),
        register_interval=args.register_interval, event_loop=args.event_loop, **security)
    with contextlib.suppress(KeyboardInterrupt):
        run_event_loop(serve(settings), settings.event_loop)


if __name__ == "__main__":
    main()
