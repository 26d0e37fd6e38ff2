"""Nestor SDK: a thin client of the Nestor controller, the trainable API and the `nestor` CLI.

Depends only on grpcio, protobuf, PyYAML and rich (the CLI); never on torch or numpy.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from nestor.client import Client
from nestor.errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    LaunchError,
    LocalRefusal,
    NestorError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SpecError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from nestor.space import Categorical, Double, Int, Space
from nestor.spec import load_spec, spec_to_dict
from nestor.study import Study
from nestor.trainable import TrialContext, run_local
from nestor.trial import Trial

try:
    __version__ = _metadata.version("nestor")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AlreadyExists",
    "Cancelled",
    "Categorical",
    "Client",
    "DeadlineExceeded",
    "Double",
    "FailedPrecondition",
    "Int",
    "Internal",
    "InvalidArgument",
    "LaunchError",
    "LocalRefusal",
    "NestorError",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Space",
    "SpecError",
    "Study",
    "Trial",
    "TrialContext",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "__version__",
    "load_spec",
    "run_local",
    "spec_to_dict",
]
