"""Only the controller gives an executor orders.

Mutual TLS alone (`--tls-client-ca`) lets in any certificate the CA signed: a
user's, another executor's. With `--controller-identity NAME` the Executor
service (RunTrial, RunTrials, Describe) also requires the caller's certificate to carry
NAME as its subject CN or as one of its subject alternative names (DNS, URI,
IP, e-mail), read from the TLS handshake gRPC already checked. With
`--controller-token-file FILE` it requires `authorization: Bearer <token>` with
a token listed in FILE (the controller sends one from `--executor-token-file`).

Health and reflection stay open: probes speak neither, and they reveal nothing
an attacker could use to run anything.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from nestor.tokens import TokenFile, check_token, refusal, same_shape
from nestor.v1 import executor_pb2

GUARDED_SERVICE = executor_pb2.DESCRIPTOR.services_by_name["Executor"].full_name


def peer_names(auth_context: Mapping[str, Sequence[bytes]]) -> tuple[list[str], list[str]]:
    """(subject common names, subject alternative names) of the caller's verified certificate."""

    def values(key: str) -> list[str]:
        return [v.decode(errors="replace") for v in auth_context.get(key, ())]

    return values("x509_common_name"), values("x509_subject_alternative_name")


def identity_refusal(method: str, auth_context: Mapping[str, Sequence[bytes]], required: Sequence[str]) -> str:
    """Why the caller is not the controller; '' when its certificate names one of `required`."""
    cns, sans = peer_names(auth_context)
    if set(cns).union(sans).intersection(required):
        return ""
    want = " or ".join(repr(r) for r in required)
    if not cns and not sans:
        shown = "no client certificate"
    else:
        shown = f"a certificate with CN {', '.join(map(repr, cns)) or 'none'}"
        shown += f" and SANs {', '.join(map(repr, sans))}" if sans else " and no SAN"
    return (f"{method}: only the controller may call this executor: the caller presented {shown}; "
            f"required: CN or SAN {want} (--controller-identity)")


class ControllerGate(grpc.aio.ServerInterceptor):
    """Refuses Executor calls that do not come from the controller (its certificate identity, its token)."""

    def __init__(self, identities: Sequence[str] = (), tokens: TokenFile | None = None) -> None:
        self.identities = tuple(identities)
        self.tokens = tokens

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method or ""
        if handler is None or method.lstrip("/").split("/", 1)[0] != GUARDED_SERVICE:
            return handler
        if self.tokens is not None:
            why = check_token(self.tokens, details)
            if why:
                return refusal(handler, grpc.StatusCode.UNAUTHENTICATED, why)
        if self.identities:
            # The peer's certificate is known only to the call's context, not to an interceptor.
            return self._checking_identity(handler, method)
        return handler

    def _checking_identity(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        behavior = (handler.stream_stream or handler.stream_unary or handler.unary_stream
                    or handler.unary_unary)
        required = self.identities

        async def check(context: grpc.aio.ServicerContext) -> None:
            why = identity_refusal(method, context.auth_context(), required)
            if why:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)

        if inspect.isasyncgenfunction(behavior):
            async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                await check(context)
                async for answer in behavior(request, context):
                    yield answer

            return same_shape(handler, streaming)

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            return await behavior(request, context)

        return same_shape(handler, guarded)
