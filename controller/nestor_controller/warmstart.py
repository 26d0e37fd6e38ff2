"""Warm starts: which earlier studies a new study learns from, and what it takes from them.

Chosen once, at CreateStudy, and persisted with the study (the priors' projected
observations themselves, not references), so a restarted controller continues
exactly and a prior deleted later changes nothing. The pure parts are here: the
nearest studies by task meta-features (min-max scaled, L1, as auto-sklearn
does) and the priors' best configurations for `top_k`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation
from nestor_controller.samplers.multiobjective.pareto import constrained_ranks, loss_matrix, total_violation
from nestor_controller.samplers.priors import PriorStudy


def nearest(target: Mapping[str, float], candidates: Mapping[str, Mapping[str, float]],
            k: int) -> list[tuple[str, float]]:
    """The k candidates nearest to `target` by L1 distance over the target's features, each scaled to [0, 1]
    by its range over the target and the candidates; a feature a candidate lacks counts as the full range.
    Ties go to the candidate listed first. [(key, distance)], nearest first."""
    names = sorted(target)
    if not names:
        return []
    lo = {f: min([target[f], *[c[f] for c in candidates.values() if f in c]]) for f in names}
    hi = {f: max([target[f], *[c[f] for c in candidates.values() if f in c]]) for f in names}
    out = []
    for key, features in candidates.items():
        d = 0.0
        for f in names:
            span = hi[f] - lo[f]
            if f not in features:
                d += 1.0
            elif span > 0:
                d += abs(features[f] - target[f]) / span
        out.append((key, d))
    return sorted(out, key=lambda kv: kv[1])[:k]


def ranked(objectives: Sequence[ObjectiveDef], observations: Sequence[Observation]) -> list[Observation]:
    """A prior's results best first: by loss (one objective), else by feasibility and non-domination rank; the
    earlier trial first among equals. Failed trials are left out."""
    valid = [o for o in observations if o.values is not None]
    if not valid:
        return []
    if len(objectives) == 1:
        o = objectives[0]
        key = [(not ob.feasible, o.loss(ob.values[0]), i) for i, ob in enumerate(valid)]  # type: ignore[index]
    else:
        ranks = constrained_ranks(loss_matrix(objectives, valid), total_violation(valid))
        key = [(int(r), 0.0, i) for i, r in enumerate(ranks)]
    return [valid[i] for *_, i in sorted(key)]


def params_key(params: Mapping[str, object]) -> str:
    return json.dumps(params, sort_keys=True)


def top_configurations(objectives: Sequence[ObjectiveDef], priors: Sequence[PriorStudy], k: int) -> list[Assignment]:
    """The priors' best k distinct configurations, taken in turns (each prior's best, then each one's second,
    ...), priors in their given order: values of different tasks are not comparable, their ranks are."""
    lists = [ranked(objectives, p.observations) for p in priors]
    out: list[Assignment] = []
    seen: set[str] = set()
    for rank in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if rank < len(x) and len(out) < k:
                key = params_key(x[rank].params)
                if key not in seen:
                    seen.add(key)
                    out.append(dict(x[rank].params))
    return out


def finite_features(features: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in features.items() if math.isfinite(v)}
