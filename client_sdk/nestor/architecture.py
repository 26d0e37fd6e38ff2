"""Architecture spaces as categorical decisions, and architectures back from a trial's parameters.

An architecture space (chain, multi-branch or cell-based; see space.proto)
expands into named categorical decisions, all under the prefix ``arch.``. The
controller treats them like any other parameter: samplers draw them,
conditions switch the layers beyond the chosen depth off, and a trial's
parameters carry them beside the ordinary hyperparameters. Values a space fixes
(the number of stacked cells, the merge rule) are one-choice decisions, so a
trial's parameters alone describe its network: an executor, or any program
holding a trial, rebuilds the architecture with :func:`decode`, without the space.

The decisions of each kind (``N`` a layer or node index, counted from 0):

- chain: ``arch.num_layers``; per layer ``arch.layerN.op``, ``.filters`` (for
  convolutions), ``.kernel_size`` (for operations named without a size) and ``.stride``.
- multi-branch: ``arch.merge``, ``arch.stem_channels``; per layer
  ``arch.layerN.op``, ``.filters``, ``.input0`` (``stem`` or an earlier
  ``layerM``) and, from the second layer on, ``.input1``... up to
  ``max_inputs`` (``none`` allowed).
- cell-based: ``arch.num_cells``, ``arch.init_channels``; per cell (``normal``,
  ``reduce``) and node, ``arch.normal.nodeN.input0``/``.op0`` and
  ``.input1``/``.op1``, an input being ``prev_prev``, ``prev`` or an earlier ``nodeM``.
- edge-op cell (NAS-Bench-201): ``arch.num_cells``, ``arch.init_channels``; per node N from 1 and each
  earlier node M, ``arch.nodeN.edgeM``: the operation on the edge M -> N (``none``: no edge).

This module stays free of torch and numpy: the controller and the executor both use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from nestor.v1 import space_pb2
from nestor.values import ParamValue

PREFIX = "arch."
Role = Literal["op", "input", "hyperparameter"]

#: Operation families. Convolutions set the channel count (``filters``); pools and identity keep it.
CONVOLUTIONS = ("conv", "sep_conv", "dil_conv")
POOLS = ("max_pool", "avg_pool")
FAMILIES = (*CONVOLUTIONS, *POOLS, "identity")
KERNEL_SIZES = (1, 3, 5, 7)
#: The same spelling as the DARTS genotypes (nestor.genotype): sep_conv_3x3, max_pool_3x3, skip_connect.
_OP = re.compile(r"^(?P<family>conv|sep_conv|dil_conv|max_pool|avg_pool)(?:_(?P<k>\d+)x(?P=k))?$")
IDENTITY_NAMES = ("identity", "skip_connect")

#: Defaults for fields a space leaves at zero or empty (proto3 cannot tell unset from zero).
DEFAULT_FILTERS = (16,)
DEFAULT_KERNEL_SIZES = (3,)
DEFAULT_STRIDES = (1,)
DEFAULT_MAX_INPUTS = 2
DEFAULT_MERGE = "sum"
DEFAULT_NUM_NODES = 4
DEFAULT_NUM_CELLS = 3
DEFAULT_INIT_CHANNELS = 16
MERGES = ("sum", "concat")
#: The operation of an edge that is not there (edge-op cells): its node gets nothing from that input.
NONE_OP = "none"
#: NAS-Bench-201's operations, the default of an edge-op cell.
DEFAULT_EDGE_OPS = (NONE_OP, "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3")
CELL_NAMES = ("normal", "reduce")


def parse_op(name: str) -> tuple[str, int | None]:
    """(family, kernel size or None) of an operation name such as ``conv``, ``sep_conv_5x5`` or ``identity``.

    ValueError for anything else. A size in the name fixes the kernel; without
    one the layer's ``kernel_size`` decision (chain) or 3 applies.
    """
    if name in IDENTITY_NAMES:
        return "identity", None
    m = _OP.match(name)
    if m is None or (m["k"] is not None and int(m["k"]) not in KERNEL_SIZES):
        sizes = ", ".join(f"_{k}x{k}" for k in KERNEL_SIZES)
        raise ValueError(f"unknown operation {name!r} (known: {', '.join(FAMILIES)} or skip_connect; all but "
                         f"identity may name a kernel size: {sizes}, e.g. conv_5x5)")
    return m["family"], None if m["k"] is None else int(m["k"])


def role_of(name: str) -> Role:
    """What a decision changes, for mutation operators: an operation, an input, or a hyperparameter.

    Ordinary (non-architecture) parameters are hyperparameters.
    """
    if not name.startswith(PREFIX):
        return "hyperparameter"
    last = name.rsplit(".", 1)[-1]
    if last in ("op", "op0", "op1") or last.startswith("edge"):
        return "op"
    if last.startswith("input"):
        return "input"
    return "hyperparameter"


@dataclass(frozen=True)
class Decision:
    """One categorical decision of an architecture space."""

    name: str
    choices: tuple[ParamValue, ...]
    ordered: bool = False
    #: Active only while each (parent, values) holds; parents come earlier in the list.
    when: tuple[tuple[str, tuple[ParamValue, ...]], ...] = ()

    @property
    def role(self) -> Role:
        return role_of(self.name)


def decisions(arch: space_pb2.ArchitectureSpace) -> list[Decision]:
    """The decisions of an architecture space, parents first; defaults fill the fields left unset.

    The space should have been validated (the controller does at CreateStudy).
    """
    kind = arch.WhichOneof("kind")
    if kind == "chain":
        return _chain(arch.chain)
    if kind == "multi_branch":
        return _multi_branch(arch.multi_branch)
    if kind == "cell":
        return _cells(arch.cell)
    if kind == "edge_cell":
        return _edge_cells(arch.edge_cell)
    raise ValueError("the architecture space sets none of chain, multi_branch, cell, edge_cell")


def _conv_ops(operations: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(op for op in operations if parse_op(op)[0] in CONVOLUTIONS)


def chain_layers(chain: space_pb2.ChainSpace) -> tuple[int, int]:
    """(min, max) number of layers with the defaults applied."""
    low = chain.min_layers or 1
    return low, max(chain.max_layers, low)


def _chain(c: space_pb2.ChainSpace) -> list[Decision]:
    ops = tuple(c.operations)
    low, high = chain_layers(c)
    convs = _conv_ops(ops)
    # Only operations named without a size take the layer's kernel size.
    sized = tuple(op for op in ops if parse_op(op)[0] != "identity" and parse_op(op)[1] is None)
    out = [Decision(f"{PREFIX}num_layers", tuple(range(low, high + 1)), ordered=True)]
    for i in range(high):
        when = () if i < low else ((f"{PREFIX}num_layers", tuple(range(i + 1, high + 1))),)
        op = f"{PREFIX}layer{i}.op"
        out.append(Decision(op, ops, when=when))
        if convs:
            out.append(Decision(f"{PREFIX}layer{i}.filters", tuple(c.filters or DEFAULT_FILTERS), ordered=True,
                                when=((op, convs),)))
        if sized:
            out.append(Decision(f"{PREFIX}layer{i}.kernel_size", tuple(c.kernel_sizes or DEFAULT_KERNEL_SIZES),
                                ordered=True, when=((op, sized),)))
        out.append(Decision(f"{PREFIX}layer{i}.stride", tuple(c.strides or DEFAULT_STRIDES), ordered=True,
                            when=when))
    return out


def _multi_branch(m: space_pb2.MultiBranchSpace) -> list[Decision]:
    ops = tuple(m.operations)
    convs = _conv_ops(ops)
    filters = tuple(m.filters or DEFAULT_FILTERS)
    max_inputs = m.max_inputs or DEFAULT_MAX_INPUTS
    out = [Decision(f"{PREFIX}merge", (m.merge or DEFAULT_MERGE,)),
           Decision(f"{PREFIX}stem_channels", (max(filters),))]
    for i in range(m.num_layers):
        op = f"{PREFIX}layer{i}.op"
        out.append(Decision(op, ops))
        if convs:
            out.append(Decision(f"{PREFIX}layer{i}.filters", filters, ordered=True, when=((op, convs),)))
        sources = ("stem", *(f"layer{j}" for j in range(i)))
        out.append(Decision(f"{PREFIX}layer{i}.input0", sources))
        # The first layer has only the stem to read: extra inputs could add nothing.
        for k in range(1, max_inputs if i > 0 else 1):
            out.append(Decision(f"{PREFIX}layer{i}.input{k}", ("none", *sources)))
    return out


def _cells(c: space_pb2.CellSpace) -> list[Decision]:
    ops = tuple(c.operations)
    out = [Decision(f"{PREFIX}num_cells", (c.num_cells or DEFAULT_NUM_CELLS,)),
           Decision(f"{PREFIX}init_channels", (c.init_channels or DEFAULT_INIT_CHANNELS,))]
    for cell in CELL_NAMES:
        for j in range(c.num_nodes or DEFAULT_NUM_NODES):
            sources = ("prev_prev", "prev", *(f"node{m}" for m in range(j)))
            for k in (0, 1):
                out.append(Decision(f"{PREFIX}{cell}.node{j}.input{k}", sources))
                out.append(Decision(f"{PREFIX}{cell}.node{j}.op{k}", ops))
    return out


def _edge_cells(e: space_pb2.EdgeCellSpace) -> list[Decision]:
    ops = tuple(e.operations or DEFAULT_EDGE_OPS)
    out = [Decision(f"{PREFIX}num_cells", (e.num_cells or DEFAULT_NUM_CELLS,)),
           Decision(f"{PREFIX}init_channels", (e.init_channels or DEFAULT_INIT_CHANNELS,))]
    for j in range(1, e.num_nodes or DEFAULT_NUM_NODES):
        out.extend(Decision(f"{PREFIX}node{j}.edge{i}", ops) for i in range(j))
    return out


# --- architectures, decoded from a trial's parameters --------------------------


@dataclass(frozen=True)
class ChainLayer:
    op: str
    filters: int | None  # None: the operation keeps its input's channels
    kernel_size: int | None  # None: the operation has no kernel (identity)
    stride: int


@dataclass(frozen=True)
class Chain:
    layers: tuple[ChainLayer, ...]


@dataclass(frozen=True)
class BranchLayer:
    op: str
    filters: int | None
    #: Distinct sources in the order chosen: "stem" or "layerM".
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class MultiBranch:
    merge: str
    stem_channels: int
    layers: tuple[BranchLayer, ...]


@dataclass(frozen=True)
class Node:
    inputs: tuple[str, str]  # "prev_prev", "prev" or "nodeM"
    ops: tuple[str, str]


@dataclass(frozen=True)
class Cells:
    num_cells: int
    init_channels: int
    normal: tuple[Node, ...]
    reduce: tuple[Node, ...]


@dataclass(frozen=True)
class EdgeCells:
    num_cells: int
    init_channels: int
    #: Per node from 1, the operation on the edge from each earlier node (0 first).
    edges: tuple[tuple[str, ...], ...]


Architecture = Chain | MultiBranch | Cells | EdgeCells


def kernel_of(op: str, kernel_size: int | None = None) -> int | None:
    """The kernel an operation uses: its name's size, else the given one, else 3; None for identity."""
    family, k = parse_op(op)
    if family == "identity":
        return None
    return k or kernel_size or 3


def decode(params: Mapping[str, ParamValue]) -> Architecture | None:
    """The architecture a trial's parameters describe; None when they hold no ``arch.`` decision.

    ValueError names a missing or malformed decision.
    """
    arch = {k[len(PREFIX):]: v for k, v in params.items() if k.startswith(PREFIX)}
    if not arch:
        return None
    try:
        if "node1.edge0" in arch:
            return _decode_edge_cells(arch)
        if "num_cells" in arch:
            return _decode_cells(arch)
        if "merge" in arch:
            return _decode_multi_branch(arch)
        if "num_layers" in arch:
            return _decode_chain(arch)
    except KeyError as e:
        raise ValueError(f"architecture parameters lack decision {PREFIX}{e.args[0]}") from None
    raise ValueError(f"architecture parameters name no known kind (expected {PREFIX}num_layers, "
                     f"{PREFIX}merge or {PREFIX}num_cells among: {', '.join(sorted(params))})")


def _int(x: ParamValue | None, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int | float) or not float(x).is_integer():
        raise ValueError(f"{PREFIX}{name} must be an integer, got {x!r}")
    return int(x)


def _decode_chain(a: Mapping[str, ParamValue]) -> Chain:
    layers = []
    for i in range(_int(a["num_layers"], "num_layers")):
        op = str(a[f"layer{i}.op"])
        filters = a.get(f"layer{i}.filters")
        size = a.get(f"layer{i}.kernel_size")
        layers.append(ChainLayer(
            op=op, filters=None if filters is None else _int(filters, f"layer{i}.filters"),
            kernel_size=kernel_of(op, None if size is None else _int(size, f"layer{i}.kernel_size")),
            stride=_int(a.get(f"layer{i}.stride", 1), f"layer{i}.stride")))
    return Chain(tuple(layers))


def _decode_multi_branch(a: Mapping[str, ParamValue]) -> MultiBranch:
    layers = []
    i = 0
    while f"layer{i}.op" in a:
        chosen = [str(a[f"layer{i}.input0"])]
        k = 1
        while f"layer{i}.input{k}" in a:
            chosen.append(str(a[f"layer{i}.input{k}"]))
            k += 1
        inputs = tuple(dict.fromkeys(s for s in chosen if s != "none"))  # the same source twice counts once
        filters = a.get(f"layer{i}.filters")
        layers.append(BranchLayer(str(a[f"layer{i}.op"]),
                                  None if filters is None else _int(filters, f"layer{i}.filters"), inputs))
        i += 1
    if not layers:
        raise KeyError("layer0.op")
    return MultiBranch(str(a["merge"]), _int(a["stem_channels"], "stem_channels"), tuple(layers))


def _decode_cell(a: Mapping[str, ParamValue], cell: str) -> tuple[Node, ...]:
    nodes = []
    j = 0
    while f"{cell}.node{j}.op0" in a:
        p = f"{cell}.node{j}."
        nodes.append(Node((str(a[p + "input0"]), str(a[p + "input1"])), (str(a[p + "op0"]), str(a[p + "op1"]))))
        j += 1
    if not nodes:
        raise KeyError(f"{cell}.node0.op0")
    return tuple(nodes)


def _decode_cells(a: Mapping[str, ParamValue]) -> Cells:
    return Cells(_int(a["num_cells"], "num_cells"), _int(a["init_channels"], "init_channels"),
                 _decode_cell(a, "normal"), _decode_cell(a, "reduce"))


def _decode_edge_cells(a: Mapping[str, ParamValue]) -> EdgeCells:
    edges = []
    j = 1
    while f"node{j}.edge0" in a:
        edges.append(tuple(str(a[f"node{j}.edge{i}"]) for i in range(j)))
        j += 1
    return EdgeCells(_int(a["num_cells"], "num_cells"), _int(a["init_channels"], "init_channels"), tuple(edges))


def reduction_cells(num_cells: int) -> tuple[int, ...]:
    """Indices of the reduction cells in a stack: at one and two thirds (the DARTS layout); the last of 1 or 2."""
    if num_cells >= 3:
        return tuple(sorted({num_cells // 3, 2 * num_cells // 3}))
    return (num_cells - 1,)


def describe(arch: Architecture) -> str:
    """A one-line summary, for logs and tables."""
    if isinstance(arch, Chain):
        return " > ".join(f"{x.op}" + (f"({x.filters})" if x.filters else "") + ("/2" if x.stride > 1 else "")
                          for x in arch.layers)
    if isinstance(arch, MultiBranch):
        return f"{arch.merge}: " + " ".join(f"{x.op}<{'+'.join(x.inputs)}" for x in arch.layers)
    if isinstance(arch, EdgeCells):  # NAS-Bench-201's notation: |op~from|, nodes joined by +
        cell = "+".join("|" + "|".join(f"{op}~{i}" for i, op in enumerate(ops)) + "|" for ops in arch.edges)
        return f"{arch.num_cells} cells of {arch.init_channels}: {cell}"
    cells = [f"{name}[" + " ".join(f"{n.ops[0]}({n.inputs[0]})+{n.ops[1]}({n.inputs[1]})" for n in nodes) + "]"
             for name, nodes in (("normal", arch.normal), ("reduce", arch.reduce))]
    return f"{arch.num_cells} cells of {arch.init_channels}: " + " ".join(cells)
