"""Bearer tokens for the controller's API.

With `--auth-tokens FILE`, every call except the health service must carry
`authorization: Bearer <token>` with a token listed in FILE. The check runs in
a server interceptor, before the request reaches the service: a refused call
never touches the engine or the store.

The file's format (one token per line, re-read when it changes) and the check
itself are `nestor.tokens`': executors check their controller's token with the
same code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2
from nestor.tokens import TokenFile, bearer_token, check_token, parse_tokens, refusal

__all__ = ["OPEN_SERVICES", "TokenAuthInterceptor", "TokenFile", "bearer_token", "parse_tokens"]

#: Probes (kubelet, load balancers) cannot send tokens; health tells nothing worth protecting.
OPEN_SERVICES = frozenset({health_pb2.DESCRIPTOR.services_by_name["Health"].full_name})


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
        why = check_token(self.tokens, details)
        return refusal(handler, grpc.StatusCode.UNAUTHENTICATED, why) if why else handler
