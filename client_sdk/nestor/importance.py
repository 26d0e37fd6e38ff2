"""Parameter importance: how much of the spread of a study's results each parameter explains.

The method is functional ANOVA up to second order, estimated by binning
instead of by fANOVA's random forest. The results are replaced by their ranks
(so one very bad trial cannot dominate the variance) and, for a grouping of
the trials, the *explained share* is the correlation ratio: the part of the
variance that lies between the groups' means, less the part chance alone puts
there ((k - 1) groups' worth: the ε² estimator), so noise scores near zero.

- The main effect of a parameter groups the trials by its value: its distinct
  values, or ``bins`` quantile bins of equal size when it has more.
- A parameter that matters only together with another (Branin's x0 counts
  only through its interaction with x1) has a small main effect; so each
  parameter also gets, for every other parameter j, what grouping by both
  (``PAIR_BINS`` x ``PAIR_BINS`` cells) explains beyond grouping by j alone.

A parameter's importance is the larger of its main effect and its best such
gain, normalised so that all sum to 1. Checked (tests/test_importance.py):
where only two of six parameters matter, those two rank first.

Pure Python, so the SDK stays thin; at most ``MAX_RESULTS`` results are used
(an even sample of more), which keeps any study to well under a second.
The dashboard and ``nestor study importance ID`` both call this.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from nestor.values import ParamValue

if TYPE_CHECKING:
    from nestor.study import Study

#: Groups a numeric parameter with more distinct values than this is cut into (by quantile).
DEFAULT_BINS = 10
#: Groups per parameter when two are grouped together (PAIR_BINS² cells).
PAIR_BINS = 4
#: Each parameter is paired with at most this many others: those with the largest main effects.
MAX_PARTNERS = 8
#: Results beyond this many are sampled evenly: the estimate is already stable, and time stays bounded.
MAX_RESULTS = 5_000
#: Fewer results than this say nothing about importance.
MIN_TRIALS = 4


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks 0..n-1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _groups(xs: Sequence[ParamValue], bins: int) -> list[int]:
    """A group number per value: its distinct value, or its quantile bin for a many-valued number."""
    distinct = sorted(set(xs), key=lambda v: (str(type(v)), v))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if not numeric or len(distinct) <= bins:
        index = {v: i for i, v in enumerate(distinct)}
        return [index[v] for v in xs]
    order = sorted(range(len(xs)), key=lambda i: xs[i])  # type: ignore[arg-type, return-value]
    group = [0] * len(xs)
    for rank, i in enumerate(order):
        group[i] = rank * bins // len(xs)
    return group


def _explained_share(groups: Sequence[int], ys: Sequence[float]) -> float:
    """ε²: the share of the variance of ``ys`` between the groups' means, less what chance gives."""
    n = len(ys)
    mean = sum(ys) / n
    total = sum((y - mean) ** 2 for y in ys)
    sums: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for g, y in zip(groups, ys, strict=True):
        sums[g] += y
        counts[g] += 1
    k = len(counts)
    if total <= 0 or k < 2 or n <= k:
        return 0.0
    between = sum(counts[g] * (sums[g] / counts[g] - mean) ** 2 for g in counts)
    within_mean_square = (total - between) / (n - k)
    return max(0.0, (between - (k - 1) * within_mean_square) / total)


def importance(results: Sequence[tuple[Mapping[str, ParamValue], float]], names: Sequence[str] | None = None,
               bins: int = DEFAULT_BINS) -> dict[str, float]:
    """Importance of each parameter for ``results`` ((params, value) pairs), most important first.

    ``names`` lists the parameters to rate (default: every one that occurs). Results that are not
    finite are left out. Each importance is in [0, 1] and they sum to 1 (all 0 when nothing
    explains anything, or with fewer than MIN_TRIALS results).
    """
    finite = [(p, y) for p, y in results if y is not None and math.isfinite(y)]
    if len(finite) > MAX_RESULTS:
        finite = [finite[i * len(finite) // MAX_RESULTS] for i in range(MAX_RESULTS)]
    if names is None:
        names = sorted({name for p, _ in finite for name in p})
    raw = {name: 0.0 for name in names}
    if len(finite) >= MIN_TRIALS:
        ys = _ranks([y for _, y in finite])
        # A parameter missing from a trial (a conditional one) is a group of its own.
        columns = {n: [p.get(n) if p.get(n) is not None else "(absent)" for p, _ in finite] for n in names}
        main = {n: _explained_share(_groups(columns[n], bins), ys) for n in names}
        coarse = {n: _groups(columns[n], PAIR_BINS) for n in names}
        coarse_main = {n: _explained_share(coarse[n], ys) for n in names}
        partners = sorted(names, key=lambda n: -main[n])[:MAX_PARTNERS]
        for a in names:
            gains = [_explained_share([x * len(finite) + y for x, y in zip(coarse[a], coarse[b], strict=True)], ys)
                     - coarse_main[b] for b in partners if b != a]
            raw[a] = max([main[a], *gains])
    total = sum(raw.values())
    shares = {n: (v / total if total > 0 else 0.0) for n, v in raw.items()}
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def study_importance(study: Study, metric: str | None = None) -> dict[str, float]:
    """Importance of each parameter of ``study`` for ``metric`` (default: its first objective),
    over its trials that have a result for it."""
    from nestor.records import objective_value  # records imports study: imported here, not at the top

    spec = study.info().spec
    metric = metric or (spec.objectives[0].metric if spec.objectives else "")
    names = [p.name for p in spec.space.parameters]
    results = []
    for t in study.trials(states=("completed", "stopped")):
        value = objective_value(t.proto, metric)
        if value is not None:
            results.append((t.params, value))
    return importance(results, names or None)
