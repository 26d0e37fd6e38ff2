"""Hypervolume: the volume that a set of loss vectors dominates, up to a reference point.

Exact by slicing: points sorted on the last objective, each slab between two
consecutive values is the (m-1)-dimensional hypervolume of the points below it
(a sweep for two objectives). O(n log n) for two objectives, O(n^2 log n) for
three; more objectives recurse further, which suits the front sizes a study
holds (the front only: dominated points are dropped first).
"""

from __future__ import annotations

import numpy as np

from nestor_controller.samplers.multiobjective.pareto import pareto_mask


def _inside(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=float).reshape(-1, len(ref))
    return F[(ref > F).all(axis=1)]


def _hv2(F: np.ndarray, ref: np.ndarray) -> float:
    order = np.lexsort((F[:, 1], F[:, 0]))
    total, y_top = 0.0, float(ref[1])
    for x, y in F[order]:
        if y < y_top:
            total += (ref[0] - x) * (y_top - y)
            y_top = y
    return float(total)


def _hv(F: np.ndarray, ref: np.ndarray) -> float:
    m = F.shape[1]
    if not len(F):
        return 0.0
    if m == 1:
        return float(ref[0] - F[:, 0].min())
    if m == 2:
        return _hv2(F, ref)
    F = F[np.argsort(F[:, -1], kind="stable")]
    total = 0.0
    for i in range(len(F)):
        top = F[i + 1, -1] if i + 1 < len(F) else ref[-1]
        if top > F[i, -1]:
            below = F[: i + 1, :-1]
            total += (top - F[i, -1]) * _hv(below[pareto_mask(below)], ref[:-1])
    return float(total)


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by the rows of F (losses) and bounded by `ref`; rows not below ref add nothing."""
    ref = np.asarray(ref, dtype=float)
    F = _inside(F, ref)
    if not len(F):
        return 0.0
    return _hv(F[pareto_mask(F)], ref)


def contributions(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each row's exclusive hypervolume: what the set loses without it (0 for a dominated row)."""
    ref = np.asarray(ref, dtype=float)
    F = np.asarray(F, dtype=float)
    total = hypervolume(F, ref)
    out = np.zeros(len(F))
    front = np.flatnonzero(pareto_mask(F) & (ref > F).all(axis=1))
    for i in front:
        out[i] = total - hypervolume(np.delete(F, i, axis=0), ref)
    return np.maximum(out, 0.0)


def reference_point(F: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The worst value of each objective, pushed out by `margin` of its range (1 where the range is 0), so
    that extreme points still add volume."""
    F = np.asarray(F, dtype=float)
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(1.0, np.abs(hi)))
    return hi + margin * span
