"""Keeps the controller aware of this executor: register, retry until it answers, then re-register.

Re-registering every few seconds is what lets a restarted controller (or one
that started after us) learn about the executor without any other channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc
from nestor.tls import ClientTLS, aio_channel
from nestor.v1 import controller_pb2, controller_pb2_grpc, executor_pb2

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 2.0


async def register_forever(controller: str, address: str, describe: Callable[[], executor_pb2.ExecutorInfo],
                           interval: float, *, tls: ClientTLS | None = None, token: str = "") -> None:
    channel = aio_channel(controller, tls, [
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ])
    # A controller that requires tokens (--auth-tokens) requires one for registering too.
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    stub = controller_pb2_grpc.ControllerStub(channel)
    delay = 0.1
    registered = False
    warned = False
    try:
        while True:
            try:
                request = controller_pb2.RegisterExecutorRequest(address=address, info=describe())
                await stub.RegisterExecutor(request, timeout=max(2.0, min(interval, 10.0)), metadata=metadata)
            except grpc.aio.AioRpcError as e:
                if registered or not warned:
                    log.warning("cannot register with controller %s (%s: %s); retrying", controller,
                                e.code().name, e.details())
                registered, warned = False, True
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S, interval)
                continue
            if not registered:
                log.info("registered with controller %s as %s", controller, address)
            registered, warned, delay = True, False, 0.1
            await asyncio.sleep(interval)
    finally:
        await channel.close()
