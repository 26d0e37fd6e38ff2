"""Weight-sharing supernets for chain, multi-branch and cell spaces, by slicing the widest weights.

Every weight of every network of the space has a home in the supernet: a module of the largest shape it can take
there (the widest input and output the space allows at that place), named by where it sits and what it is
(layer 3's conv_3x3, cell 2's node 1 applying sep_conv_3x3 to `prev`), not by the widths an architecture picks.
An architecture runs as its own network, built on the meta device (so it holds no memory), whose every weight and
batch-norm statistic is the leading slice of its home's, as slimmable networks and Once-for-All share channels.
So a path of the supernet is exactly the network built alone with the copied weights; training a path trains the
slices it uses; batch norm updates the slices of its statistics in place.

Homes are chosen so that what a weight means stays put: a layer's operation keeps its weights whichever width the
layer before it picked (the narrower reading the leading channels), a cell node's operation is shared by every
architecture that applies it to the same input, and a merge's projection is the one of its source, whichever slot
chose that source. Edge-op cells have their own supernet (nestor_executor.nas.supernet): nothing there changes
width.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from nestor import architecture as arch
from nestor.v1 import space_pb2
from nestor.values import ParamValue
from torch import nn
from torch.func import functional_call

from nestor_executor.nas.build import build_network
from nestor_executor.nas.cells import CELL_INPUTS
from nestor_executor.nas.ops import ReLUConvBN, head, make_op

#: A supernet bigger than this is refused before it is built: a space's widths multiply.
MAX_PARAMETERS = 50_000_000
#: Architectures whose meta networks (and where their weights live) are kept for the next batch.
CACHED_NETWORKS = 256


def has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def sliced(home: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The leading slice of `home` of `shape` (a view: gradients and in-place statistics reach `home`)."""
    if len(shape) != home.dim() or any(s > h for s, h in zip(shape, home.shape, strict=True)):
        raise ValueError(f"a weight of shape {tuple(shape)} has no home in the supernet (its home is "
                         f"{tuple(home.shape)})")
    return home[tuple(slice(0, s) for s in shape)]


class SlicedSupernet(nn.Module):
    """forward(x, architecture) runs the path of `architecture`, any of the space's."""

    def __init__(self, space: space_pb2.ArchitectureSpace, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.kind = space.WhichOneof("kind")
        if self.kind not in ("chain", "multi_branch", "cell"):
            raise ValueError(f"a sliced supernet is for chain, multi_branch and cell spaces, not {self.kind}")
        self.decisions = arch.decisions(space)
        self.in_channels, self.num_classes = in_channels, num_classes
        with torch.device("meta"):
            probe = self.homes()
        size = sum(t.numel() for m in probe.values() for t in (*m.parameters(), *m.buffers()))
        if size > MAX_PARAMETERS:
            raise ValueError(f"the supernet of this {self.kind} space would hold {size:,} weights, over "
                             f"{MAX_PARAMETERS:,}: fewer layers, operations or narrower filters")
        self.bank = nn.ModuleDict(self.homes())
        self._networks: OrderedDict[arch.Architecture, tuple[nn.Module, dict[str, tuple[str, str]]]] = OrderedDict()

    # --- where every weight lives -------------------------------------------------------------------

    def choices(self, name: str) -> tuple[ParamValue, ...]:
        found = [d.choices for d in self.decisions if d.name == arch.PREFIX + name]
        return found[0] if found else ()

    def count(self, pattern: str) -> int:
        return sum(1 for d in self.decisions if re.fullmatch(re.escape(arch.PREFIX) + pattern, d.name))

    def homes(self) -> dict[str, nn.Module]:
        """Every home, by name, at its widest (only those with weights or statistics)."""
        built = {"chain": self._chain_homes, "multi_branch": self._branch_homes, "cell": self._cell_homes}
        homes = built[self.kind]()
        return {k: m for k, m in homes.items() if has_state(m)}

    def _op_home(self, op: str, c_in: int, c_out: int | None, stride: int = 1, kernel: int | None = None
                 ) -> tuple[str, nn.Module]:
        return self._op_name(op, stride, kernel), make_op(op, c_in, c_out, stride, kernel)[0]

    def _chain_homes(self) -> dict[str, nn.Module]:
        ops = self.choices("layer0.op")
        filters = [int(f) for f in self.choices("layer0.filters")]
        kernels = [int(k) for k in self.choices("layer0.kernel_size")] or [None]
        strided = any(int(s) > 1 for s in self.choices("layer0.stride"))
        widest = max([self.in_channels, *filters])
        out: dict[str, nn.Module] = {}
        for i in range(self.count(r"layer\d+\.op")):
            c_in = self.in_channels if i == 0 else widest
            for op in ops:
                for k in kernels:
                    for stride in (1, 2) if strided else (1,):
                        name, module = self._op_home(str(op), c_in, max(filters, default=None), stride, k)
                        out.setdefault(f"layer{i}/{name}", module)
        out["head"] = head(widest, self.num_classes)
        return out

    def _branch_homes(self) -> dict[str, nn.Module]:
        ops = [str(op) for op in self.choices("layer0.op")]
        filters = [int(f) for f in self.choices("layer0.filters")]
        merge = str(self.choices("merge")[0])
        stem = int(self.choices("stem_channels")[0])
        out: dict[str, nn.Module] = {"stem": nn.Sequential(nn.Conv2d(self.in_channels, stem, 3, padding=1,
                                                                     bias=False), nn.BatchNorm2d(stem))}
        widest = {"stem": stem}
        for i in range(self.count(r"layer\d+\.op")):
            sources = list(widest)
            reads = self.count(rf"layer{i}\.input\d+")
            if merge == "concat":
                c_in = sum(sorted(widest.values(), reverse=True)[:reads])
            else:
                c_in = max(widest.values())
                out.update({f"merge{i}/{s}": ReLUConvBN(widest[s], c_in, 1, 1) for s in sources})
            widths = []
            for op in ops:
                name, module = self._op_home(op, c_in, max(filters, default=None))
                out.setdefault(f"layer{i}/{name}", module)
                widths.append(max(filters) if arch.parse_op(op)[0] in arch.CONVOLUTIONS else c_in)
            widest[f"layer{i}"] = max(widths)
        if merge == "concat":
            c_out = sum(widest.values())
        else:
            c_out = max(widest.values())
            out.update({f"out/{s}": ReLUConvBN(c, c_out, 1, 1) for s, c in widest.items()})
        out["head"] = head(c_out, self.num_classes)
        return out

    def _cell_homes(self) -> dict[str, nn.Module]:
        ops = [str(op) for op in self.choices("normal.node0.op0")]
        num_cells, c = int(self.choices("num_cells")[0]), int(self.choices("init_channels")[0])
        nodes = self.count(r"normal\.node\d+\.op0")
        out: dict[str, nn.Module] = {"stem": nn.Sequential(nn.Conv2d(self.in_channels, c, 3, padding=1, bias=False),
                                                           nn.BatchNorm2d(c))}
        reductions = set(arch.reduction_cells(num_cells))
        widest_prev_prev, widest_prev, channels, after_reduction = c, c, c, False
        for n in range(num_cells):
            reduction = n in reductions
            channels *= 2 if reduction else 1
            out[f"cell{n}/pre0"] = ReLUConvBN(widest_prev_prev, channels, 1, 2 if after_reduction else 1)
            out[f"cell{n}/pre1"] = ReLUConvBN(widest_prev, channels, 1, 1)
            for j in range(nodes):
                for source in (*CELL_INPUTS, *(f"node{m}" for m in range(j))):
                    stride = 2 if reduction and source in CELL_INPUTS else 1
                    for op in ops:
                        name, module = self._op_home(op, channels, channels, stride)
                        out.setdefault(f"cell{n}/node{j}/{source}/{name}", module)
            # A cell concatenates the nodes nothing else reads: at most all of them.
            widest_prev_prev, widest_prev, after_reduction = widest_prev, channels * nodes, reduction
        out["head"] = head(widest_prev, self.num_classes)
        return out

    def placement(self, a: arch.Architecture, net: nn.Module) -> dict[str, str]:
        """Module of the network `a` built alone -> the home of its weights."""
        out = {"head": "head", "stem": "stem"}
        if isinstance(a, arch.Chain):
            for i, layer in enumerate(a.layers):
                out[f"body.{i}"] = f"layer{i}/" + self._op_name(layer.op, layer.stride, layer.kernel_size)
        elif isinstance(a, arch.MultiBranch):
            for i, (layer, sources) in enumerate(zip(a.layers, net.sources, strict=True)):
                out[f"ops.{i}"] = f"layer{i}/" + self._op_name(layer.op)
                out.update({f"merges.{i}.projections.{p}": f"merge{i}/{s}" for p, s in enumerate(sources)})
            out.update({f"out_merge.projections.{p}": f"out/{s}" for p, s in enumerate(net.loose)})
        elif isinstance(a, arch.Cells):
            reductions = set(arch.reduction_cells(a.num_cells))
            for n in range(a.num_cells):
                reduction = n in reductions
                out[f"cells.{n}.pre0"], out[f"cells.{n}.pre1"] = f"cell{n}/pre0", f"cell{n}/pre1"
                for j, node in enumerate(a.reduce if reduction else a.normal):
                    for k, (source, op) in enumerate(zip(node.inputs, node.ops, strict=True)):
                        stride = 2 if reduction and source in CELL_INPUTS else 1
                        out[f"cells.{n}.ops.{2 * j + k}"] = f"cell{n}/node{j}/{source}/" + self._op_name(op, stride)
        return out

    @staticmethod
    def _op_name(op: str, stride: int = 1, kernel: int | None = None) -> str:
        """An operation's home: convolutions by family and kernel (whatever their stride), a strided identity by
        its projection; pools and the plain identity hold nothing."""
        family, _ = arch.parse_op(op)
        k = arch.kernel_of(op, kernel)
        if family in arch.CONVOLUTIONS:
            return f"{family}_{k}x{k}"
        return (f"{family}_{k}x{k}" if k else family) + ("_strided" if stride > 1 else "")

    # --- paths ------------------------------------------------------------------------------------------------

    def network(self, a: arch.Architecture) -> tuple[nn.Module, dict[str, tuple[str, str]]]:
        """The network `a` describes on the meta device, and for each of its tensors (home, name in the home)."""
        found = self._networks.get(a)
        if found is not None:
            self._networks.move_to_end(a)
            return found
        with torch.device("meta"):
            net = build_network(a, self.in_channels, self.num_classes)
        placed = self.placement(a, net)
        where: dict[str, tuple[str, str]] = {}
        for name in net.state_dict():
            parts = name.split(".")
            prefix = next((".".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)
                           if ".".join(parts[:k]) in placed), None)
            if prefix is None or placed[prefix] not in self.bank:
                raise ValueError(f"{arch.describe(a)}: {name} has no home in the supernet of this space")
            where[name] = (placed[prefix], name[len(prefix) + 1:])
        if len(self._networks) >= CACHED_NETWORKS:
            self._networks.popitem(last=False)
        self._networks[a] = (net, where)
        return net, where

    def weights(self, a: arch.Architecture) -> dict[str, torch.Tensor]:
        """Every weight and statistic of the network `a` describes: views of their homes."""
        net, where = self.network(a)
        homes: dict[str, dict[str, torch.Tensor]] = {}
        out = {}
        for name, t in net.state_dict(keep_vars=True).items():
            home, inner = where[name]
            if home not in homes:
                module = self.bank[home]
                homes[home] = {**dict(module.named_parameters()), **dict(module.named_buffers())}
            out[name] = sliced(homes[home][inner], t.shape)
        return out

    def forward(self, x: torch.Tensor, a: arch.Architecture) -> torch.Tensor:
        net, _ = self.network(a)
        net.train(self.training)
        return functional_call(net, self.weights(a), (x,))

    def standalone(self, a: arch.Architecture) -> nn.Module:
        """The network `a` describes, built on its own, with the weights and statistics of its path copied in."""
        net = build_network(a, self.in_channels, self.num_classes)
        net.load_state_dict({k: v.detach().clone() for k, v in self.weights(a).items()})
        return net.to(next(self.parameters()).device)

    def path_parameters(self, a: arch.Architecture) -> int:
        """How many parameters the network `a` describes has, without building it."""
        return sum(p.numel() for p in self.network(a)[0].parameters())

    @torch.no_grad()
    def recalibrate(self, a: arch.Architecture, batches: Iterable[torch.Tensor]) -> None:
        """The batch-norm statistics along `a`'s path recomputed from scratch over `batches` (every batch counts
        the same), as the network alone would have them."""
        net, where = self.network(a)
        for home in {h for h, _ in where.values()}:
            for m in self.bank[home].modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.reset_running_stats()
        norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        saved = [m.momentum for m in norms]
        net.eval()
        for m in norms:
            m.momentum = None
            m.train()
        try:
            for x in batches:
                functional_call(net, self.weights(a), (x,))
        finally:
            for m, momentum in zip(norms, saved, strict=True):
                m.momentum = momentum
                m.eval()

    def draw(self, rng: np.random.Generator) -> dict[str, ParamValue]:
        """The `arch.` parameters of a path drawn uniformly: every active decision independently, in order."""
        chosen: dict[str, ParamValue] = {}
        for d in self.decisions:
            if all(chosen.get(parent) in values for parent, values in d.when):
                chosen[d.name] = d.choices[int(rng.integers(len(d.choices)))]
        return chosen

    def sample(self, rng: np.random.Generator) -> arch.Architecture:
        return self.arch_of(self.draw(rng))

    def arch_of(self, params: Mapping[str, Any]) -> arch.Architecture:
        """The architecture a trial's `arch.` parameters describe, checked to be one of the space's."""
        return architecture_in(self.decisions, params)


def architecture_in(decisions: list[arch.Decision], params: Mapping[str, Any]) -> arch.Architecture:
    """The architecture `params` describe, each active decision checked against its choices (inactive ones,
    which a trial does not carry, are ignored)."""
    given = {k: v for k, v in params.items() if k.startswith(arch.PREFIX)}
    known = {d.name for d in decisions}
    stray = sorted(set(given) - known)
    if stray:
        raise ValueError(f"{stray[0]} is not a decision of the supernet's space")
    chosen: dict[str, ParamValue] = {}
    for d in decisions:
        if all(chosen.get(parent) in values for parent, values in d.when):
            value = given.get(d.name)
            if value not in d.choices:
                raise ValueError(f"{d.name} = {value!r:.60} is not one of the supernet's "
                                 f"{', '.join(map(str, d.choices))}")
            chosen[d.name] = value
    found = arch.decode(chosen)
    assert found is not None
    return found
