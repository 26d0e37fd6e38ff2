"""The budgets of successive halving: a geometric ladder from the fidelity's max down to its min.

Rung k of K has budget max * eta^(k - K), where K is the largest integer with
max * eta^-K >= min, so the top rung is always the full budget. When the
fidelity's bounds are whole numbers (epochs), every budget is rounded to a
whole number, and rungs that rounding makes equal are merged.

Hyperband's bracket s (0 <= s <= K) runs successive halving over the top s + 1
rungs, starting ceil((K + 1) / (s + 1) * eta^s) configurations, of which
floor(n / eta^i) reach its rung i.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_RUNGS
from nestor_controller.schedulers.base import FidelityDef, scheduler_setting

#: Budgets closer than this (relative) are the same rung.
TOLERANCE = 1e-9
PROMOTION_MODES = ("resume", "restart")


def top_rung(fidelity: FidelityDef, eta: float) -> int:
    """K: the number of times eta divides max before it would fall below min."""
    return math.floor(math.log(fidelity.max / fidelity.min) / math.log(eta) + 1e-9)


def ladder(fidelity: FidelityDef, eta: float) -> list[float]:
    lo, hi = fidelity.min, fidelity.max
    top = top_rung(fidelity, eta)
    budgets = [hi * eta ** (k - top) for k in range(top + 1)]
    if float(lo).is_integer() and float(hi).is_integer():
        budgets = [float(max(lo, round(b))) for b in budgets]
    out: list[float] = []
    for b in budgets:
        if not out or b > out[-1] * (1 + TOLERANCE):
            out.append(b)
    return out


def bracket_size(rungs: int, s: int, eta: float) -> int:
    """Configurations Hyperband's bracket s starts (rungs = K + 1 in the ladder)."""
    return math.ceil(rungs / (s + 1) * eta ** s - 1e-9)


def survivors(entrants: int, eta: float) -> int:
    """How many of a rung's entrants go on to the next rung."""
    return math.floor(entrants / eta + 1e-9)


def rung_index(budgets: list[float], budget: float) -> int:
    """The rung whose budget this is (the highest one at or below it)."""
    k = 0
    for i, b in enumerate(budgets):
        if budget >= b * (1 - TOLERANCE):
            k = i
    return k


def check_ladder_settings(name: str, settings: Mapping[str, Any], fidelity: FidelityDef | None) -> None:
    """eta > 1, a known promotion mode, and a fidelity wide enough for two rungs."""
    eta = scheduler_setting(settings, "eta", float)
    if not eta > 1:
        raise SpecError(f"spec.scheduler.settings.eta: the reduction factor must be greater than 1, got {eta}")
    mode = settings["promotion"]
    if mode not in PROMOTION_MODES:
        raise SpecError(f"spec.scheduler.settings.promotion: must be one of {', '.join(PROMOTION_MODES)}, "
                        f"got {mode!r}")
    if fidelity is not None and top_rung(fidelity, eta) + 1 > MAX_RUNGS:
        raise SpecError(f"spec.scheduler.settings.eta: eta={eta:g} over the fidelity's range ({fidelity.min:g} to "
                        f"{fidelity.max:g}) gives {top_rung(fidelity, eta) + 1} rungs, over the limit of {MAX_RUNGS}; "
                        "raise eta or narrow the fidelity")
    if fidelity is not None and len(ladder(fidelity, eta)) < 2:
        raise SpecError(f"spec.fidelity: scheduler {name!r} with eta={eta:g} needs max >= eta * min to have "
                        f"two rungs; got min={fidelity.min:g}, max={fidelity.max:g}")
