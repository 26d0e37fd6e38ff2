"""From DARTS alpha to a discrete genotype.

Per intermediate node, the two incoming edges whose strongest operation (other than none) weighs most
after the softmax over that edge's operations; each keeps that operation. Caps on skip connections and
on parameter-free operations (skip and the pools) in the normal cell guard against DARTS's known collapse
into cells made of them: they win alpha early because they need no training, not because they serve.
"""

from __future__ import annotations

import numpy as np
from nestor.genotype import CELLS, PRIMITIVES, Genotype, edges

NONE = PRIMITIVES.index("none")
SKIP = PRIMITIVES.index("skip_connect")
PARAMETER_FREE = frozenset(PRIMITIVES.index(op) for op in ("skip_connect", "max_pool_3x3", "avg_pool_3x3"))


def softmax(alpha: np.ndarray) -> np.ndarray:
    z = alpha - alpha.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def derive_cell(alpha: np.ndarray, steps: int, max_skips: int = 0, max_parameter_free: int = 0) -> list[list[object]]:
    """[[op, input], ...] two per node. `max_skips` > 0 keeps at most that many skip connections (the
    strongest), the others taking their edge's best operation other than none and skip; then
    `max_parameter_free` > 0 keeps at most that many parameter-free operations (skip, pools), the others
    taking their edge's best operation with parameters. The edges stay those alpha chose."""
    w = softmax(np.asarray(alpha, dtype=np.float64))
    if w.shape != (len(edges(steps)), len(PRIMITIVES)):
        raise ValueError(f"alpha has shape {list(w.shape)}, expected [{len(edges(steps))}, {len(PRIMITIVES)}]")
    not_none = w.copy()
    not_none[:, NONE] = -1.0
    chosen = [(r, int(not_none[r].argmax()), j) for r, j in strongest_edges(not_none.max(axis=1), steps)]
    if max_skips > 0:
        _cap(chosen, not_none, frozenset({SKIP}), max_skips)
    if max_parameter_free > 0:
        _cap(chosen, not_none, PARAMETER_FREE, max_parameter_free)
    return [[PRIMITIVES[op], j] for _, op, j in chosen]


def strongest_edges(strength: np.ndarray, steps: int) -> list[tuple[int, int]]:
    """(edge row, input) of each node's two strongest incoming edges, in row order. A stable sort with ties
    to the earlier input: the same strengths always give the same genotype."""
    out: list[tuple[int, int]] = []
    row = 0
    for node in range(2, 2 + steps):
        rows = range(row, row + node)
        row += node
        out.extend((r, r - rows[0]) for r in sorted(sorted(rows, key=lambda r: (-strength[r], r))[:2]))
    return out


def _cap(chosen: list[tuple[int, int, int]], weights: np.ndarray, ops: frozenset[int], limit: int) -> None:
    """Keeps the `limit` strongest of the chosen operations in `ops`; each other one becomes its edge's
    strongest operation outside `ops` (none is already excluded from `weights`)."""
    capped = sorted((k for k, (_, op, _) in enumerate(chosen) if op in ops),
                    key=lambda k: (-weights[chosen[k][0], chosen[k][1]], k))
    for k in capped[limit:]:
        r, _, j = chosen[k]
        alt = weights[r].copy()
        alt[list(ops)] = -1.0
        chosen[k] = (r, int(alt.argmax()), j)


def derive(alphas: dict[str, np.ndarray], steps: int, max_skips: int = 0, max_parameter_free: int = 0) -> Genotype:
    """The genotype of alpha_normal and alpha_reduce (`alpha_normal`, `alpha_reduce`); the caps apply to the
    normal cell, where the collapse happens (pools belong in a reduction cell)."""
    return _genotype({cell: derive_cell(alphas[f"alpha_{cell}"], steps, max_skips if cell == "normal" else 0,
                                        max_parameter_free if cell == "normal" else 0) for cell in CELLS}, steps)


def _genotype(cells: dict[str, list[list[object]]], steps: int) -> Genotype:
    """The cells, each concatenating all its intermediate nodes."""
    g: Genotype = {}
    for cell in CELLS:
        g[cell] = cells[cell]
        g[f"{cell}_concat"] = list(range(2, 2 + steps))
    return g


def derive_scored_cell(op_scores: np.ndarray, edge_scores: np.ndarray, steps: int) -> list[list[object]]:
    """[[op, input], ...] two per node from perturbation scores: per node the two edges whose removal
    raised the loss most, each with the operation whose removal raised it most (never none)."""
    ops = np.asarray(op_scores, dtype=np.float64).copy()
    edge = np.asarray(edge_scores, dtype=np.float64)
    if ops.shape != (len(edges(steps)), len(PRIMITIVES)) or edge.shape != (len(edges(steps)),):
        raise ValueError(f"perturbation scores have shapes {list(ops.shape)} and {list(edge.shape)}, expected "
                         f"[{len(edges(steps))}, {len(PRIMITIVES)}] and [{len(edges(steps))}]")
    ops[:, NONE] = -np.inf
    return [[PRIMITIVES[int(ops[r].argmax())], j] for r, j in strongest_edges(edge, steps)]


def derive_scored(scores: dict[str, np.ndarray], steps: int) -> Genotype:
    """The genotype of a search's perturbation scores (`op_<cell>` and `edge_<cell>` per cell)."""
    return _genotype({cell: derive_scored_cell(scores[f"op_{cell}"], scores[f"edge_{cell}"], steps)
                      for cell in CELLS}, steps)
