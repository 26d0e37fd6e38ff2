"""Conversions between protobuf `Value`s and plain Python values.

Shared by the SDK, the controller and the executor so that every side maps
parameters the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nestor.v1 import space_pb2

ParamValue = float | int | str | bool


def to_value(x: Any) -> space_pb2.Value:
    """A Python scalar as a `Value`; bool is checked before int because bool is an int."""
    if isinstance(x, bool):
        return space_pb2.Value(bool_value=x)
    if isinstance(x, int):
        return space_pb2.Value(int_value=x)
    if isinstance(x, float):
        return space_pb2.Value(double_value=x)
    if isinstance(x, str):
        return space_pb2.Value(string_value=x)
    # numpy scalars and the like
    if hasattr(x, "item"):
        return to_value(x.item())
    raise TypeError(f"cannot convert {type(x).__name__} {x!r} to a parameter value")


def from_value(v: space_pb2.Value) -> ParamValue | None:
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    return getattr(v, kind)


def params_to_proto(params: Mapping[str, Any]) -> dict[str, space_pb2.Value]:
    return {name: to_value(x) for name, x in params.items()}


def params_from_proto(params: Mapping[str, space_pb2.Value]) -> dict[str, ParamValue]:
    return {name: from_value(v) for name, v in params.items()}  # type: ignore[misc]
