"""Bearer tokens between Nestor processes: the files that list them, the server's check, the caller's side.

A token file holds one token per line (blank lines and `#` comments ignored),
so a Kubernetes Secret can be mounted as is. A server re-reads its file when it
changes, so tokens rotate without a restart. The controller uses this for its
API (`--auth-tokens`), an executor for the calls of its controller
(`--controller-token-file`); the controller sends its token to executors from
`--executor-token-file`.

Only grpc and the standard library: the SDK stays thin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

log = logging.getLogger(__name__)

#: How often a token file's modification time is looked at.
RELOAD_CHECK_S = 2.0
MIN_TOKEN_CHARS = 16


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_tokens(text: str, where: str) -> list[str]:
    tokens = []
    for n, line in enumerate(text.splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise ValueError(f"{where}:{n}: a token is one word of at least {MIN_TOKEN_CHARS} characters")
        tokens.append(token)
    if not tokens:
        raise ValueError(f"{where}: no token (one per line)")
    return tokens


def read_token(path: str, flag: str) -> str:
    """The first token of a token file (the one a caller sends); ValueError naming `flag` otherwise."""
    try:
        with open(path) as f:
            return parse_tokens(f.read(), path)[0]
    except (OSError, ValueError) as e:
        raise ValueError(f"{flag}: {getattr(e, 'strerror', None) or e}") from None


class TokenFile:
    """The accepted tokens, kept as digests and compared in constant time."""

    def __init__(self, path: str, flag: str = "--auth-tokens") -> None:
        self.path = path
        self.flag = flag
        self._mtime = -1.0
        self._checked = 0.0
        self._digests: list[bytes] = []
        self._load()

    def _load(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime
            if mtime == self._mtime:
                return
            with open(self.path) as f:
                tokens = parse_tokens(f.read(), self.path)
        except (OSError, ValueError) as e:
            if not self._digests:
                raise ValueError(f"{self.flag}: {e}") from None
            # A half-written or removed file during a rotation: keep the tokens we had.
            log.warning("keeping the previous tokens: %s", e)
            return
        self._digests = [_digest(t) for t in tokens]
        self._mtime = mtime
        log.info("%d token(s) loaded from %s", len(tokens), self.path)

    def accepts(self, token: str) -> bool:
        now = time.monotonic()
        if now - self._checked > RELOAD_CHECK_S:
            self._checked = now
            self._load()
        given = _digest(token)
        # Every digest is compared, so the time taken does not tell which token came close.
        return sum(hmac.compare_digest(given, d) for d in self._digests) > 0


def bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def refusal(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that answers `code` without reading the request."""

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    return same_shape(handler, deny)


def same_shape(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """A handler with `handler`'s streaming kind and (de)serialisers that runs `behavior` instead."""
    kwargs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior, **kwargs)
    return grpc.unary_unary_rpc_method_handler(behavior, **kwargs)


def check_token(tokens: TokenFile, details: grpc.HandlerCallDetails) -> str:
    """Why the call's bearer token is not accepted; '' when it is."""
    method = details.method or ""
    token = bearer_token(details.invocation_metadata)
    if token is None:
        return f"{method}: missing 'authorization: Bearer <token>' metadata"
    if not tokens.accepts(token):
        return f"{method}: the bearer token is not valid"
    return ""


# -- the caller's side: an asyncio channel that sends a token on every call ---------------------------------


class _Bearer:
    def __init__(self, token: str) -> None:
        self.metadata = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self.metadata)
        return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata, details.credentials,
                                          details.wait_for_ready)


class _UnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Callable[..., Awaitable[Any]],
                                    details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Callable[..., Awaitable[Any]],
                                     details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Callable[..., Awaitable[Any]],
                                     details: grpc.aio.ClientCallDetails, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _StreamStream(_Bearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Callable[..., Awaitable[Any]],
                                      details: grpc.aio.ClientCallDetails, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def bearer_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for `grpc.aio` channels that add `authorization: Bearer <token>` to every call.

    Without touching the code that makes the calls, and on plaintext channels too (call credentials
    would need TLS)."""
    return [cls(token) for cls in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]
