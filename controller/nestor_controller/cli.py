"""`nestor-controller`: the command line of the controller."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os

from nestor_controller.server import Settings, serve


def parse_args(argv: list[str] | None = None) -> Settings:
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
    p.add_argument("--max-message-mb", type=float, default=4.0, help="largest request accepted (default 4 MiB)")
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Settings(
        host=a.host, port=a.port, store=a.store,
        executors=[x.strip() for x in a.executors.split(",") if x.strip()],
        artifact_dir=a.artifact_dir, durable=a.durability == "sync",
        max_message_bytes=int(a.max_message_mb * 1024 * 1024), poll_interval=a.health_interval,
        dns_interval=a.dns_interval,
    )


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
