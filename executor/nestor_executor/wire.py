"""The JSON messages between the executor and its worker processes, and tensor conversions.

Kept free of numpy and torch at import time: the executor's main process imports
this module and must start fast.

Worker -> executor (`t` is the kind):
  ready   {"failed": {name: error}}       after the worker imported torch and the trainables
  m       {"s": step, "v": metrics, "e": elapsed_s}
  c       {"s": step, "p": path}          a checkpoint was saved
  g       {"s": outer step, "g": {name: tensor}, "v": metrics}
  result  {"final": metrics | None, "s": step, "e": elapsed_s, "error": str, "stopped": bool}
Executor -> worker:
  run     {"id": run id, "a": assignment}
  stop    {"id": run id}
  outer   {"id": run id, "s": step, "values": {name: tensor}}
  exit    {}
A tensor is {"shape": [...], "values": [...]} with the values flattened in C order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from nestor.v1 import executor_pb2

JsonTensor = dict[str, list[Any]]


def encode(msg: Mapping[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    return json.loads(data)


def tensor_from_proto(t: executor_pb2.Tensor, name: str = "tensor") -> JsonTensor:
    """The tensor as JSON; ValueError when its shape does not hold its values (the worker could not rebuild it)."""
    if any(d < 0 for d in t.shape) or math.prod(t.shape) != len(t.values):
        raise ValueError(f"outer value {name!r}: shape {list(t.shape)} does not hold its {len(t.values)} values")
    return {"shape": list(t.shape), "values": list(t.values)}


def tensor_to_proto(t: Mapping[str, Any]) -> executor_pb2.Tensor:
    return executor_pb2.Tensor(shape=t["shape"], values=t["values"])


def outer_from_proto(outer: executor_pb2.OuterVariables) -> dict[str, Any]:
    return {"s": outer.step, "values": {name: tensor_from_proto(t, name) for name, t in outer.values.items()}}


def tensor_to_json(name: str, x: Any) -> JsonTensor:
    """A numpy array, torch tensor, nested list or scalar as a JSON tensor; non-finite values are refused."""
    import numpy as np

    if hasattr(x, "detach"):  # torch, without importing it
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    values = arr.ravel().tolist()
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"outer gradient {name!r} has non-finite values (NaN or inf)")
    return {"shape": list(arr.shape), "values": values}


def tensor_from_json(t: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.asarray(t["values"], dtype=np.float32).reshape([int(d) for d in t["shape"]])
