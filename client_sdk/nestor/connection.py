"""One channel to the controller: deadlines, auth metadata, retries, error conversion.

Retrying is safe because every call that changes state carries a request id
the controller deduplicates by (a retry gets the first answer), and the other
calls only read.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc

from nestor.errors import Unavailable, Unimplemented, from_rpc_error
from nestor.tls import ClientTLS, client_tls_from_env, sync_channel
from nestor.v1 import controller_pb2_grpc, executor_pb2, executor_pb2_grpc

DEFAULT_ADDRESS = "localhost:50051"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Retries on UNAVAILABLE back off from this delay, doubling...
FIRST_BACKOFF_S = 0.1
#: ...for at most this long in all (about a controller restart).
RETRY_WINDOW_S = 10.0
#: Time a retried attempt must still have before the call's deadline.
MIN_ATTEMPT_S = 0.25

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # gRPC's default reconnect backoff starts at 1 s and grows to 2 min: far slower than our retries,
    # which would then fail fast against a channel that is not even trying to reconnect yet.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def default_address() -> str:
    return os.environ.get("NESTOR_CONTROLLER") or DEFAULT_ADDRESS


def new_request_id() -> str:
    return uuid.uuid4().hex


def not_a_controller(channel: grpc.Channel, address: str, method: str, details: str) -> str:
    """The text for a server that answers gRPC without the controller's API: says so when it is an executor."""
    what = "a Nestor executor"
    try:
        info = executor_pb2_grpc.ExecutorStub(channel).Describe(executor_pb2.DescribeRequest(), timeout=2.0)
        what += f" ({info.executor_id or 'serving ' + ', '.join(info.trainables)})"
    except grpc.RpcError as e:
        # Refused rather than unknown: the method exists, so it is an executor that only serves its controller.
        if e.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):  # type: ignore[attr-defined]
            return (f"the server at {address} does not serve the Nestor controller API ({method}: {details}); "
                    "is it the controller's address? (its default port is 50051)")
    return (f"{address} is {what}, not the controller: point --controller (or $NESTOR_CONTROLLER) at the "
            "controller it registers with (its default port is 50051)")


def default_token() -> str | None:
    """$NESTOR_TOKEN, else the first line of the file $NESTOR_TOKEN_FILE names (a mounted Secret)."""
    if token := os.environ.get("NESTOR_TOKEN"):
        return token
    if path := os.environ.get("NESTOR_TOKEN_FILE"):
        with open(path) as f:
            return f.readline().strip() or None
    return None


class Connection:
    """The controller stub behind one channel (TLS when configured); thread-safe like the channel itself."""

    def __init__(self, address: str | None = None, *, timeout: float = 30.0,
                 token: str | None = None, tls: ClientTLS | None = None, plaintext: bool = False,
                 wait_for_controller: bool = True) -> None:
        self.address = address or default_address()
        self.timeout = timeout
        #: False: a controller never reached fails the first call at once (the CLI), instead of being waited
        #: for through the retry window (a program started beside its controller).
        self.wait_for_controller = wait_for_controller
        self._reached = False
        token = token if token is not None else default_token()
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        if plaintext:
            tls = None
        elif tls is None:
            tls = client_tls_from_env()
        self.channel = sync_channel(self.address, tls,
                                    _CHANNEL_OPTIONS)
        self.stub = controller_pb2_grpc.ControllerStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        """A unary call; retried on UNAVAILABLE (same request) within ``timeout`` and the retry window."""
        rpc = getattr(self.stub, method)
        start = time.monotonic()
        deadline = start + (self.timeout if timeout is None else timeout)
        retry_until = min(deadline, start + RETRY_WINDOW_S)
        delay = FIRST_BACKOFF_S
        attempts = 0
        while True:
            attempts += 1
            try:
                answer = rpc(request, timeout=max(deadline - time.monotonic(), 0.01), metadata=self.metadata)
                self._reached = True
                return answer
            except grpc.RpcError as e:
                err = from_rpc_error(e, target=self.address)
            if isinstance(err, Unimplemented) and "Method not found" in err.details:
                raise Unimplemented(not_a_controller(self.channel, self.address, method, err.details)) from None
            if isinstance(err, Unavailable) and not self._reached and not self.wait_for_controller:
                err.details += (" (is a controller running there? start one with `nestor-controller`, point at "
                                "it with --controller or $NESTOR_CONTROLLER, or use --local)")
                raise err
            # The last wait is cut to fit the retry window, so a controller back within it is always tried,
            # but an attempt is only worth starting with time left to answer: one cut short by the deadline
            # would report DEADLINE_EXCEEDED and hide the real problem.
            now = time.monotonic()
            wait = min(delay, retry_until - now, deadline - now - MIN_ATTEMPT_S)
            if not isinstance(err, Unavailable) or wait < FIRST_BACKOFF_S / 2:
                if isinstance(err, Unavailable) and attempts > 1:
                    err.details += f" (gave up after {attempts} attempts in {time.monotonic() - start:.1f} s)"
                raise err
            time.sleep(wait)
            delay *= 2

    def stream(self, method: str, request: Any, *, timeout: float | None = None) -> Iterator[Any]:
        """A server stream; no deadline by default (watching lasts as long as the study); errors converted."""
        call = getattr(self.stub, method)(request, timeout=timeout, metadata=self.metadata)
        try:
            yield from call
        except grpc.RpcError as e:
            raise from_rpc_error(e, target=self.address) from None
        finally:
            # Whoever stops iterating early must not leave the stream open on the server.
            call.cancel()

