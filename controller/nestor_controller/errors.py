"""Errors the controller raises; the service turns each into a gRPC status."""

from __future__ import annotations

import grpc


class ControllerError(Exception):
    """Base: carries the gRPC status code the client will see."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class SpecError(ControllerError):
    """A malformed or contradictory study spec or request argument."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(ControllerError):
    code = grpc.StatusCode.NOT_FOUND


class PreconditionError(ControllerError):
    """The target exists but is in a state that does not allow the call (e.g. a finished trial)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class StoreUnavailable(ControllerError):
    """The store refused a write (full disk, read-only file, server down); nothing of the change was applied.

    Retryable: the same call succeeds once the store is back."""

    code = grpc.StatusCode.UNAVAILABLE


class StoreProblem(Exception):
    """The store cannot be used at start (damaged, or held by another controller): a one-line reason."""
