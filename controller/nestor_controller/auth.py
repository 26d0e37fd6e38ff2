"""Bearer tokens for the controller's API.

With `--auth-tokens FILE`, every call except the health service must carry
`authorization: Bearer <token>` with a token listed in FILE. The check runs in
a server interceptor, before the request reaches the service: a refused call
never touches the engine or the store.

The file holds one token per line (blank lines and `#` comments ignored), so a
Kubernetes Secret can be mounted as is. It is read again when it changes, so
tokens rotate without a restart.
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
from grpc_health.v1 import health_pb2

log = logging.getLogger(__name__)

#: Probes (kubelet, load balancers) cannot send tokens; health tells nothing worth protecting.
OPEN_SERVICES = frozenset({health_pb2.DESCRIPTOR.services_by_name["Health"].full_name})
#: How often the token file's modification time is looked at.
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


class TokenFile:
    """The accepted tokens, kept as digests and compared in constant time."""

    def __init__(self, path: str) -> None:
        self.path = path
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
                raise ValueError(f"--auth-tokens: {e}") from None
            # A half-written or removed file during a rotation: keep the tokens we had.
            log.warning("keeping the previous tokens: %s", e)
            return
        self._digests = [_digest(t) for t in tokens]
        self._mtime = mtime
        log.info("%d API token(s) loaded from %s", len(tokens), self.path)

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


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that answers UNAUTHENTICATED without reading the request."""

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kwargs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **kwargs)
    return grpc.unary_unary_rpc_method_handler(deny, **kwargs)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: TokenFile) -> None:
        self.tokens = tokens

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method or ""
        handler = await continuation(details)
        if handler is None or method.lstrip("/").split("/", 1)[0] in OPEN_SERVICES:
            return handler
        token = bearer_token(details.invocation_metadata)
        if token is None:
            return _refusal(handler, f"{method}: missing 'authorization: Bearer <token>' metadata")
        if not self.tokens.accepts(token):
            return _refusal(handler, f"{method}: the bearer token is not valid")
        return handler
