"""Errors the SDK raises.

Every failed gRPC call becomes a :class:`NestorError` subclass chosen by its
status code, so callers can ``except nestor.NotFound`` instead of inspecting
``grpc.RpcError``. The server's message is kept verbatim because it already
says what was wrong and where (e.g. ``spec.space.parameters[0] ('lr'): ...``).
"""

from __future__ import annotations

import grpc


class NestorError(Exception):
    """Base of every SDK error; ``code`` is the gRPC status (None for purely local failures)."""

    code: grpc.StatusCode | None = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        if self.code is None:
            return self.details
        return f"{self.code.name}: {self.details}"


class InvalidArgument(NestorError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(NestorError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(NestorError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(NestorError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(NestorError):
    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(NestorError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(NestorError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(NestorError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(NestorError, TimeoutError):
    """Also a TimeoutError, so ``Study.wait(timeout=...)`` can be handled like any other timeout."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(NestorError):
    code = grpc.StatusCode.CANCELLED


class Unimplemented(NestorError):
    """Usually a controller older than this SDK."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(NestorError):
    code = grpc.StatusCode.INTERNAL


class SpecError(NestorError, ValueError):
    """A study spec that cannot be read, found before anything is sent.

    ``path`` locates the problem inside the spec (``space.lr.min``); ``source``
    names the file when the spec came from one.
    """

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, path: str, message: str, *, source: str = "") -> None:
        self.path = path
        self.message = message
        self.source = source
        super().__init__(": ".join(part for part in (source, path, message) if part))

    def __str__(self) -> str:
        # A local error: the status code would only be noise in front of the path.
        return self.details


class LocalRefusal(InvalidArgument, ValueError):
    """A value the SDK refuses before sending it (a NaN metric, an unknown trial state): nothing was sent."""

    def __str__(self) -> str:
        return self.details  # found here, not answered by a server: the status code would only be noise


class LaunchError(NestorError):
    """A local process (the demo's controller or executors) could not be started."""

    code = None


_BY_CODE: dict[grpc.StatusCode, type[NestorError]] = {
    cls.code: cls  # type: ignore[misc]
    for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, Unavailable, Unauthenticated,
                PermissionDenied, ResourceExhausted, DeadlineExceeded, Cancelled, Unimplemented, Internal)
}


def error_class(code: grpc.StatusCode | None) -> type[NestorError]:
    return _BY_CODE.get(code, NestorError) if code is not None else NestorError


def from_rpc_error(err: grpc.RpcError, *, target: str = "") -> NestorError:
    """The NestorError subclass for a failed call, keeping the server's message.

    ``target`` (the controller's address) is added to UNAVAILABLE errors, whose
    gRPC text alone does not say which server could not be reached.
    """
    code: grpc.StatusCode | None
    try:
        code = err.code()  # type: ignore[attr-defined]
        details = err.details() or ""  # type: ignore[attr-defined]
    except AttributeError:
        # Some RpcErrors (e.g. raised while building the call) are not Call objects.
        code, details = grpc.StatusCode.UNKNOWN, str(err)
    if code == grpc.StatusCode.UNAVAILABLE and target:
        details = f"cannot reach the controller at {target}: {details}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED and target and not details:
        details = f"no answer from the controller at {target} in time"
    return error_class(code)(details or (code.name if code else "unknown error"), code)
