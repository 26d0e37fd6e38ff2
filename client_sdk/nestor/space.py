"""Builders for search spaces.

>>> space = Space(
...     Double("lr", 1e-4, 3e-2, log=True),
...     Int("hidden", 32, 256, step=32),
...     Categorical("optimizer", ["adam", "sgd"]),
...     Double("momentum", 0.0, 0.99, when={"optimizer": ["sgd"]}),
... )

An architecture to search (NAS) goes beside the parameters:

>>> nas = Space(
...     Double("lr", 1e-3, 1e-1, log=True),
...     architecture=Cells(["sep_conv_3x3", "max_pool_3x3", "skip_connect"], num_nodes=3),
... )

Only Python types are checked here: whether a range is empty or a log scale
starts at zero is the controller's call, and it answers INVALID_ARGUMENT with
the parameter's path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nestor.architecture import DEFAULT_EDGE_OPS
from nestor.v1 import space_pb2
from nestor.values import ParamValue, to_value

#: ``{"optimizer": ["sgd", "rmsprop"]}`` or ``{"optimizer": "sgd"}``: active while the parent has one.
When = Mapping[str, ParamValue | Sequence[ParamValue]]

_SCALARS = (bool, int, float, str)


def _scale(log: bool) -> space_pb2.Scale:
    return space_pb2.SCALE_LOG if log else space_pb2.SCALE_LINEAR


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a parameter name must be a non-empty string, got {name!r}")
    return name


def _number(name: str, what: str, x: object) -> float:
    # bool is an int; a True bound is always a mistake.
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"{name}: {what} must be a number, got {x!r}")
    return float(x)


def _integer(name: str, what: str, x: object) -> int:
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{name}: {what} must be an integer, got {x!r}")
    return x


def _scalar(name: str, what: str, x: object) -> space_pb2.Value:
    if not isinstance(x, _SCALARS):
        raise TypeError(f"{name}: {what} must be a number, string or bool, got {x!r}")
    return to_value(x)


def conditions(name: str, when: When | None) -> list[space_pb2.Condition]:
    """``when`` as Conditions; a scalar stands for a one-element list."""
    if when is None:
        return []
    if not isinstance(when, Mapping):
        raise TypeError(f"{name}: when must map a parent parameter to its values, got {when!r}")
    out = []
    for parent, values in when.items():
        _check_name(parent)
        listed = [values] if isinstance(values, _SCALARS) else list(values)
        values = [_scalar(name, f"when.{parent}", v) for v in listed]
        out.append(space_pb2.Condition(parent=parent, values=values))
    return out


def _parameter(name: str, when: When | None, default: space_pb2.Value | None,
               **domain: Any) -> space_pb2.Parameter:
    p = space_pb2.Parameter(name=name, conditions=conditions(name, when), **domain)
    if default is not None:
        p.default_value.CopyFrom(default)
    return p


def Double(name: str, min: float, max: float, *, log: bool = False, step: float = 0.0,
           when: When | None = None, default: float | None = None) -> space_pb2.Parameter:
    """A real parameter in [min, max]; ``step > 0`` restricts it to ``min + k * step``."""
    _check_name(name)
    domain = space_pb2.DoubleDomain(min=_number(name, "min", min), max=_number(name, "max", max),
                                    scale=_scale(log), step=_number(name, "step", step))
    dv = None if default is None else space_pb2.Value(double_value=_number(name, "default", default))
    return _parameter(name, when, dv, double=domain)


def Int(name: str, min: int, max: int, *, log: bool = False, step: int = 1,
        when: When | None = None, default: int | None = None) -> space_pb2.Parameter:
    """An integer parameter in [min, max] (both included)."""
    _check_name(name)
    domain = space_pb2.IntDomain(min=_integer(name, "min", min), max=_integer(name, "max", max),
                                 scale=_scale(log), step=_integer(name, "step", step))
    dv = None if default is None else space_pb2.Value(int_value=_integer(name, "default", default))
    return _parameter(name, when, dv, int=domain)


def Categorical(name: str, choices: Iterable[ParamValue], *, ordered: bool = False,
                when: When | None = None, default: ParamValue | None = None) -> space_pb2.Parameter:
    """One of ``choices`` (numbers, strings or bools); ``ordered`` when they have a natural order."""
    _check_name(name)
    if isinstance(choices, str | bytes) or not isinstance(choices, Iterable):
        raise TypeError(f"{name}: choices must be a list of values, got {choices!r}")
    if not isinstance(ordered, bool):
        raise TypeError(f"{name}: ordered must be a bool, got {ordered!r}")
    values = [_scalar(name, "a choice", c) for c in choices]
    domain = space_pb2.CategoricalDomain(choices=values, ordered=ordered)
    dv = None if default is None else _scalar(name, "default", default)
    return _parameter(name, when, dv, categorical=domain)


def Space(*params: space_pb2.Parameter | Iterable[space_pb2.Parameter],
          architecture: space_pb2.ArchitectureSpace | None = None) -> space_pb2.SearchSpace:
    """A SearchSpace from parameters (or lists of them), in the order given."""
    flat: list[space_pb2.Parameter] = []
    for p in params:
        if isinstance(p, space_pb2.Parameter):
            flat.append(p)
        else:
            for q in p:
                if not isinstance(q, space_pb2.Parameter):
                    raise TypeError(f"Space takes Parameters (from Double, Int, Categorical), got {q!r}")
                flat.append(q)
    space = space_pb2.SearchSpace(parameters=flat)
    if architecture is not None:
        space.architecture.CopyFrom(architecture)
    return space


# --- architecture spaces (NAS); nestor.architecture says how they become decisions ---


def _names(what: str, xs: Iterable[str]) -> list[str]:
    if isinstance(xs, str | bytes) or not isinstance(xs, Iterable):
        raise TypeError(f"{what}: expected a list of operation names, got {xs!r}")
    out = list(xs)
    for x in out:
        if not isinstance(x, str):
            raise TypeError(f"{what}: operation names must be strings, got {x!r}")
    return out


def _integers(what: str, xs: Iterable[int]) -> list[int]:
    if isinstance(xs, str | bytes) or not isinstance(xs, Iterable):
        raise TypeError(f"{what}: expected a list of integers, got {xs!r}")
    return [_integer(what, "a value", x) for x in xs]


def Chain(operations: Iterable[str], *, max_layers: int, min_layers: int = 1,
          filters: Iterable[int] = (16,), kernel_sizes: Iterable[int] = (3,),
          strides: Iterable[int] = (1,)) -> space_pb2.ArchitectureSpace:
    """A chain of ``min_layers`` to ``max_layers`` layers, each an operation with its own hyperparameters.

    Operations: ``conv``, ``sep_conv``, ``dil_conv``, ``max_pool``, ``avg_pool``
    (each optionally with a kernel size, e.g. ``conv_5x5``; without one the layer
    chooses among ``kernel_sizes``) and ``identity`` (or ``skip_connect``). Convolutions choose their
    ``filters``; every layer chooses a stride.
    """
    return space_pb2.ArchitectureSpace(chain=space_pb2.ChainSpace(
        min_layers=_integer("chain", "min_layers", min_layers),
        max_layers=_integer("chain", "max_layers", max_layers),
        operations=_names("chain.operations", operations), filters=_integers("chain.filters", filters),
        kernel_sizes=_integers("chain.kernel_sizes", kernel_sizes), strides=_integers("chain.strides", strides)))


def MultiBranch(operations: Iterable[str], *, num_layers: int, merge: str = "sum", max_inputs: int = 2,
                filters: Iterable[int] = (16,)) -> space_pb2.ArchitectureSpace:
    """``num_layers`` layers after a stem, each reading up to ``max_inputs`` earlier outputs.

    ``merge="sum"`` adds the inputs (residual connections), ``"concat"`` stacks
    their channels (dense connections).
    """
    if not isinstance(merge, str):
        raise TypeError(f"multi_branch.merge: expected 'sum' or 'concat', got {merge!r}")
    return space_pb2.ArchitectureSpace(multi_branch=space_pb2.MultiBranchSpace(
        num_layers=_integer("multi_branch", "num_layers", num_layers),
        operations=_names("multi_branch.operations", operations), merge=merge,
        max_inputs=_integer("multi_branch", "max_inputs", max_inputs),
        filters=_integers("multi_branch.filters", filters)))


def Cells(operations: Iterable[str], *, num_nodes: int = 4, num_cells: int = 3,
          init_channels: int = 16) -> space_pb2.ArchitectureSpace:
    """A normal and a reduction cell, each ``num_nodes`` nodes choosing two inputs and an operation for each.

    The evaluated network stacks ``num_cells`` cells after a stem of ``init_channels``.
    """
    return space_pb2.ArchitectureSpace(cell=space_pb2.CellSpace(
        num_nodes=_integer("cell", "num_nodes", num_nodes), operations=_names("cell.operations", operations),
        num_cells=_integer("cell", "num_cells", num_cells),
        init_channels=_integer("cell", "init_channels", init_channels)))


def EdgeCells(operations: Iterable[str] = DEFAULT_EDGE_OPS, *, num_nodes: int = 4, num_cells: int = 3,
              init_channels: int = 16) -> space_pb2.ArchitectureSpace:
    """One cell whose every edge i -> j (i < j) among ``num_nodes`` nodes carries one of ``operations``
    (``"none"``: no edge), NAS-Bench-201's space by default; ``num_cells`` cells after a stem of
    ``init_channels``, with residual reductions at one and two thirds."""
    return space_pb2.ArchitectureSpace(edge_cell=space_pb2.EdgeCellSpace(
        num_nodes=_integer("edge_cell", "num_nodes", num_nodes),
        operations=_names("edge_cell.operations", operations),
        num_cells=_integer("edge_cell", "num_cells", num_cells),
        init_channels=_integer("edge_cell", "init_channels", init_channels)))
