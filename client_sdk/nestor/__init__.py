"""Nestor SDK: a thin client of the Nestor controller, the trainable API and the `nestor` CLI.

Depends only on grpcio, protobuf, PyYAML and rich (the CLI); never on torch or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives. They load on first use: the controller, the executor and every trial's worker
#: import submodules of this package (nestor.v1, nestor.serving, ...), and the client would add a fifth of a
#: second to each of their starts.
_HOMES = {
    "Client": "nestor.client", "Study": "nestor.study", "Trial": "nestor.trial",
    "Categorical": "nestor.space", "Double": "nestor.space", "Int": "nestor.space", "Space": "nestor.space",
    "load_spec": "nestor.spec", "spec_to_dict": "nestor.spec",
    "TrialContext": "nestor.trainable", "run_local": "nestor.trainable",
    **{name: "nestor.errors" for name in (
        "AlreadyExists", "Cancelled", "DeadlineExceeded", "FailedPrecondition", "Internal", "InvalidArgument",
        "LaunchError", "LocalRefusal", "NestorError", "NotFound", "PermissionDenied", "ResourceExhausted",
        "SpecError", "Unauthenticated", "Unavailable", "Unimplemented")},
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib import metadata

        try:
            value = metadata.version("nestor")
        except metadata.PackageNotFoundError:  # running from a source tree that was never installed
            value = "0.0.0+unknown"
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'nestor' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
