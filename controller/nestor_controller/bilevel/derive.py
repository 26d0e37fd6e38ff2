"""From DARTS alpha to a discrete genotype.

Per intermediate node, the two incoming edges whose strongest operation (other than none) weighs most
after the softmax over that edge's operations; each keeps that operation. A cap on skip connections
guards against DARTS's known collapse into cells made of them.
"""

from __future__ import annotations

import numpy as np
from nestor.genotype import CELLS, PRIMITIVES, Genotype, edges

NONE = PRIMITIVES.index("none")
SKIP = PRIMITIVES.index("skip_connect")


def softmax(alpha: np.ndarray) -> np.ndarray:
    z = alpha - alpha.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def derive_cell(alpha: np.ndarray, steps: int, max_skips: int = 0) -> list[list[object]]:
    """[[op, input], ...] two per node; `max_skips` > 0 keeps at most that many skip connections (the
    strongest), the others taking their edge's best operation other than none and skip."""
    w = softmax(np.asarray(alpha, dtype=np.float64))
    if w.shape != (len(edges(steps)), len(PRIMITIVES)):
        raise ValueError(f"alpha has shape {list(w.shape)}, expected [{len(edges(steps))}, {len(PRIMITIVES)}]")
    not_none = w.copy()
    not_none[:, NONE] = -1.0
    chosen: list[tuple[int, int, int]] = []  # (edge row, op, input)
    row = 0
    for node in range(2, 2 + steps):
        rows = list(range(row, row + node))
        row += node
        # Stable sort on strength, ties to the earlier input: the same alpha always gives the same genotype.
        best = sorted(rows, key=lambda r: (-not_none[r].max(), r))[:2]
        for r in sorted(best):
            chosen.append((r, int(not_none[r].argmax()), r - rows[0]))
    if max_skips > 0:
        skips = sorted((k for k, (_, op, _) in enumerate(chosen) if op == SKIP),
                       key=lambda k: -w[chosen[k][0], SKIP])
        for k in skips[max_skips:]:
            r, _, j = chosen[k]
            alt = not_none[r].copy()
            alt[SKIP] = -1.0
            chosen[k] = (r, int(alt.argmax()), j)
    return [[PRIMITIVES[op], j] for _, op, j in chosen]


def derive(alphas: dict[str, np.ndarray], steps: int, max_skips: int = 0) -> Genotype:
    """The genotype of alpha_normal and alpha_reduce (`alpha_normal`, `alpha_reduce`); the skip cap applies to the
    normal cell, where the collapse happens."""
    g: Genotype = {}
    for cell in CELLS:
        g[cell] = derive_cell(alphas[f"alpha_{cell}"], steps, max_skips if cell == "normal" else 0)
        g[f"{cell}_concat"] = list(range(2, 2 + steps))
    return g
