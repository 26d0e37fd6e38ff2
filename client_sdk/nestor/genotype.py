"""DARTS cells and genotypes: the vocabulary the controller (which derives a genotype from alpha) and the
executor (which builds a network from it) share.

A cell has two inputs (node 0: the output of the cell before the previous one, node 1: the previous
cell's) and `steps` intermediate nodes 2, 3, ...; intermediate node i is fed by every node before it, so
a cell of 4 intermediate nodes has 2 + 3 + 4 + 5 = 14 edges. alpha holds one row per edge and one column per
operation. A genotype keeps, for each intermediate node, two incoming edges with one operation each, and
concatenates the intermediate nodes into the cell's output.

Genotypes travel as JSON text (a trial parameter), e.g.
``{"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ...], "normal_concat": [2, 3, 4, 5],
"reduce": [...], "reduce_concat": [2, 3, 4, 5]}``. Pure Python: the SDK stays thin.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

#: The operations of the DARTS search space, in alpha's column order. "none" (the zero operation) lets alpha
#: weigh an edge down; it is never chosen for a genotype.
PRIMITIVES: tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
STEPS = 4
CELLS = ("normal", "reduce")
#: How a DARTS study reads a genotype off a search (the strategy's `selection` setting, passed to the search
#: trial as its `selection` parameter): alpha's magnitudes, or perturbation scores the search measures.
SELECTIONS = ("alpha", "perturbation")
#: The score tensors a search selecting by perturbation sends: `<prefix>op_<cell>` and `<prefix>edge_<cell>`.
SCORES_PREFIX = "perturbation."

Genotype = dict[str, Any]


def edges(steps: int = STEPS) -> list[tuple[int, int]]:
    """(node, input) of each edge in alpha's row order: node 2's inputs 0, 1, then node 3's 0, 1, 2, ..."""
    return [(node, j) for node in range(2, 2 + steps) for j in range(node)]


def edge_count(steps: int = STEPS) -> int:
    return len(edges(steps))


def node_name(j: int) -> str:
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(j, str(j))


def check(genotype: Mapping[str, Any], steps: int | None = None) -> Genotype:
    """A normalised copy of `genotype`, or ValueError saying what is wrong with it."""
    out: Genotype = {}
    for cell in CELLS:
        pairs = genotype.get(cell)
        if not isinstance(pairs, Sequence) or isinstance(pairs, str) or not pairs or len(pairs) % 2:
            raise ValueError(f"genotype.{cell}: expected a non-empty list of [operation, input] pairs, two per node")
        n = len(pairs) // 2
        if steps is not None and n != steps:
            raise ValueError(f"genotype.{cell}: {n} nodes, expected {steps}")
        cleaned = []
        for k, pair in enumerate(pairs):
            if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                raise ValueError(f"genotype.{cell}[{k}]: expected [operation, input], got {pair!r}")
            op, j = pair
            if op not in PRIMITIVES or op == "none":
                raise ValueError(f"genotype.{cell}[{k}]: unknown operation {op!r} "
                                 f"(known: {', '.join(PRIMITIVES[1:])})")
            node = 2 + k // 2
            if not isinstance(j, int) or isinstance(j, bool) or not 0 <= j < node:
                raise ValueError(f"genotype.{cell}[{k}]: node {node} can take inputs 0..{node - 1}, got {j!r}")
            cleaned.append([op, j])
        concat = genotype.get(f"{cell}_concat", list(range(2, 2 + n)))
        if not concat or any(not isinstance(c, int) or not 2 <= c < 2 + n for c in concat):
            raise ValueError(f"genotype.{cell}_concat: expected intermediate nodes 2..{1 + n}, got {concat!r}")
        out[cell], out[f"{cell}_concat"] = cleaned, [int(c) for c in concat]
    return out


def to_json(genotype: Mapping[str, Any]) -> str:
    return json.dumps(check(genotype), separators=(",", ":"))


def from_json(text: str) -> Genotype:
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as e:
        raise ValueError(f"genotype: not JSON ({e})") from None
    if not isinstance(data, Mapping):
        raise ValueError("genotype: expected a JSON object with 'normal' and 'reduce'")
    return check(data)


def random_genotype(rng: random.Random, steps: int = STEPS) -> Genotype:
    """A genotype drawn uniformly from the same space DARTS derives from: two distinct inputs per node,
    each with an operation other than none."""
    g: Genotype = {}
    for cell in CELLS:
        pairs = []
        for node in range(2, 2 + steps):
            for j in sorted(rng.sample(range(node), 2)):
                pairs.append([rng.choice(PRIMITIVES[1:]), j])
        g[cell], g[f"{cell}_concat"] = pairs, list(range(2, 2 + steps))
    return g


def count_op(genotype: Mapping[str, Any], op: str, cell: str = "normal") -> int:
    return sum(1 for o, _ in genotype[cell] if o == op)


def describe(genotype: Mapping[str, Any]) -> str:
    """One line per cell: `normal: 2 <- sep_conv_3x3(c_{k-2}) + skip_connect(c_{k-1}); 3 <- ...`."""
    lines = []
    for cell in CELLS:
        pairs = genotype[cell]
        nodes = []
        for k in range(0, len(pairs), 2):
            ins = " + ".join(f"{op}({node_name(j)})" for op, j in pairs[k:k + 2])
            nodes.append(f"{2 + k // 2} <- {ins}")
        lines.append(f"{cell}: " + "; ".join(nodes))
    return "\n".join(lines)
