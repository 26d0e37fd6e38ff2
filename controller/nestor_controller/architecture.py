"""Architecture spaces in the controller: checked at CreateStudy, then encoded as categorical parameters.

The encoding itself (which decisions a space has, and their names) lives in
the SDK's `nestor.architecture`, shared with the executor that decodes them.
Here each decision becomes an ordinary categorical `ParamDef` with its
conditions, so every sampler that handles conditional categorical parameters
(random, evolution, the RL policy, GP and TPE) searches architectures, and
architecture and hyperparameters mix freely in one study.
"""

from __future__ import annotations

from nestor import architecture as arch
from nestor.v1 import space_pb2

from nestor_controller.errors import SpecError
from nestor_controller.space import Condition, ParamDef

MAX_LAYERS = 64
MAX_NODES = 16
MAX_CELLS = 32
MAX_INPUTS = 8
MAX_CHANNELS = 4096
STRIDES = (1, 2)


def _operations(ops: list[str], where: str, *, none_allowed: bool = False) -> None:
    if not ops:
        raise SpecError(f"{where}: no operations (list at least one, e.g. [conv3x3, max_pool3x3, identity])")
    seen: set[str] = set()
    for i, op in enumerate(ops):
        try:
            if not (none_allowed and op == arch.NONE_OP):
                arch.parse_op(op)
        except ValueError as e:
            raise SpecError(f"{where}[{i}]: {e}") from None
        if op in seen:
            raise SpecError(f"{where}[{i}]: operation {op!r} appears twice")
        seen.add(op)


def _values(xs: list[int], allowed: tuple[int, ...] | None, low: int, high: int, where: str) -> None:
    seen: set[int] = set()
    for i, x in enumerate(xs):
        if allowed is not None and x not in allowed:
            raise SpecError(f"{where}[{i}]: {x} is not one of {', '.join(map(str, allowed))}")
        if not low <= x <= high:
            raise SpecError(f"{where}[{i}]: must be from {low} to {high}, got {x}")
        if x in seen:
            raise SpecError(f"{where}[{i}]: {x} appears twice")
        seen.add(x)


def _count(x: int, low: int, high: int, where: str, default_note: str = "") -> None:
    if not low <= x <= high:
        raise SpecError(f"{where}: must be from {low} to {high}, got {x}{default_note}")


def check_architecture(a: space_pb2.ArchitectureSpace, where: str = "spec.space.architecture") -> None:
    """SpecError naming the first field of `a` that makes no sense."""
    kind = a.WhichOneof("kind")
    if kind is None:
        raise SpecError(f"{where}: set one of chain, multi_branch, cell, edge_cell")
    at = f"{where}.{kind}"
    if kind == "chain":
        c = a.chain
        low, high = arch.chain_layers(c)
        if c.min_layers < 0:
            raise SpecError(f"{at}.min_layers: must be >= 1, got {c.min_layers}")
        if c.max_layers < c.min_layers:
            raise SpecError(f"{at}.max_layers: must be >= min_layers ({low}), got {c.max_layers}")
        _count(high, 1, MAX_LAYERS, f"{at}.max_layers")
        _operations(list(c.operations), f"{at}.operations")
        _values(list(c.filters), None, 1, MAX_CHANNELS, f"{at}.filters")
        _values(list(c.kernel_sizes), arch.KERNEL_SIZES, 1, max(arch.KERNEL_SIZES), f"{at}.kernel_sizes")
        _values(list(c.strides), STRIDES, 1, max(STRIDES), f"{at}.strides")
    elif kind == "multi_branch":
        m = a.multi_branch
        _count(m.num_layers, 1, MAX_LAYERS, f"{at}.num_layers")
        _operations(list(m.operations), f"{at}.operations")
        if m.merge and m.merge not in arch.MERGES:
            raise SpecError(f"{at}.merge: must be one of {', '.join(arch.MERGES)}, got {m.merge!r}")
        if m.max_inputs:
            _count(m.max_inputs, 1, MAX_INPUTS, f"{at}.max_inputs")
        _values(list(m.filters), None, 1, MAX_CHANNELS, f"{at}.filters")
    else:
        c = a.cell if kind == "cell" else a.edge_cell
        if c.num_nodes:
            # An edge-op cell's node 0 is its input: it needs another to have an edge.
            _count(c.num_nodes, 1 if kind == "cell" else 2, MAX_NODES, f"{at}.num_nodes")
        if kind == "cell" or c.operations:
            _operations(list(c.operations), f"{at}.operations", none_allowed=kind == "edge_cell")
        if c.num_cells:
            _count(c.num_cells, 1, MAX_CELLS, f"{at}.num_cells")
        if c.init_channels:
            _count(c.init_channels, 1, MAX_CHANNELS, f"{at}.init_channels")


def architecture_params(a: space_pb2.ArchitectureSpace) -> list[ParamDef]:
    """The space's decisions as categorical parameters (parents first); `a` must have passed the check."""
    return [
        ParamDef(d.name, "categorical", choices=d.choices, ordered=d.ordered,
                 conditions=tuple(Condition(parent, frozenset(values)) for parent, values in d.when))
        for d in arch.decisions(a)
    ]
