"""Outer variables of bilevel strategies (DARTS alpha, tuned hyperparameters) on the client side.

Tensors travel flattened with their shape; here they become nested lists (no numpy in the SDK) and
come from numbers, nested lists or anything with ``tolist()`` and ``shape`` (numpy arrays, torch tensors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nestor.v1 import executor_pb2


def _flatten(x: Any) -> tuple[list[int], list[float]]:
    if isinstance(x, int | float):
        return [], [float(x)]
    if not isinstance(x, Sequence) or isinstance(x, str):
        raise TypeError(f"expected a number or a nested list of numbers, got {type(x).__name__}")
    parts = [_flatten(item) for item in x]
    shapes = {tuple(shape) for shape, _ in parts}
    if len(shapes) > 1:
        raise ValueError("a ragged nested list is no tensor")
    inner = list(shapes.pop()) if shapes else []
    return [len(x), *inner], [v for _, values in parts for v in values]


def tensor(x: Any) -> executor_pb2.Tensor:
    """A Tensor proto from a number, a nested list, or an array-like with ``tolist()``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    if hasattr(x, "tolist"):
        x = x.tolist()
    shape, values = _flatten(x)
    return executor_pb2.Tensor(shape=shape, values=values)


def nested(t: executor_pb2.Tensor) -> Any:
    """A Tensor proto as a number (shape []) or nested lists."""
    values = list(t.values)
    if not t.shape:
        return values[0] if values else 0.0

    def build(dims: Sequence[int], flat: list[float]) -> list[Any]:
        if len(dims) == 1:
            return flat
        step = len(flat) // dims[0] if dims[0] else 0
        return [build(dims[1:], flat[i * step:(i + 1) * step]) for i in range(dims[0])]

    return build(list(t.shape), values)


def values_dict(values: Mapping[str, executor_pb2.Tensor]) -> dict[str, Any]:
    return {name: nested(t) for name, t in values.items()}
