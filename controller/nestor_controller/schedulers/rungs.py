"""What successive halving, Hyperband and ASHA share: the ladder, each trial's value at each rung.

A trial's rung is derived from its budget (persisted with the trial), so
"promoted from rung k" needs no state: its budget is above rung k's. The state
is only what cannot be derived: the objective each trial had at each rung it
reached (a loss, lower is better), recorded when its run there ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.schedulers.base import (
    CONTINUE,
    Curve,
    CurveView,
    FidelityDef,
    Promotion,
    Scheduler,
    Verdict,
    scheduler_setting,
)
from nestor_controller.schedulers.ladder import TOLERANCE, check_ladder_settings, ladder, rung_index


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class RungScheduler(Scheduler):
    needs_fidelity = True
    multi_fidelity = True
    #: eta: the reduction factor (1/eta of a rung goes on); promotion: resume (from the checkpoint) or restart.
    defaults: ClassVar[Mapping[str, Any]] = {"eta": 3, "promotion": "resume"}

    def __init__(self, objective: ObjectiveDef, fidelity: FidelityDef | None, settings: Mapping[str, Any],
                 seed: int) -> None:
        super().__init__(objective, fidelity, settings, seed)
        assert fidelity is not None  # check() refused a study without one
        self.eta = float(scheduler_setting(self.settings, "eta", float))
        self.budgets = ladder(fidelity, self.eta)
        self.top = len(self.budgets) - 1
        #: trial -> rung -> loss there
        self.values: dict[int, dict[int, float]] = {}

    @classmethod
    def check(cls, objectives: Sequence[ObjectiveDef], fidelity: FidelityDef | None,
              settings: Mapping[str, Any]) -> None:
        super().check(objectives, fidelity, settings)
        check_ladder_settings(cls.name, {**cls.defaults, **settings}, fidelity)

    @property
    def restart_promoted(self) -> bool:
        return self.settings["promotion"] == "restart"

    # --- reading the view -----------------------------------------------------

    def rung_of(self, view: CurveView, trial_id: int) -> int:
        return rung_index(self.budgets, view.budget_of(trial_id))

    def value_at(self, curve: Curve, budget: float) -> float | None:
        """The loss at the first report that used `budget` (the last report if none did)."""
        for step, value in curve:
            if step >= budget * (1 - TOLERANCE):
                return self.objective.loss(value)
        return self.objective.loss(curve[-1][1]) if curve else None

    def ranked(self, rung: int, among: Sequence[int] | None = None) -> list[tuple[float, int]]:
        """(loss, trial) of the trials that reached `rung`, best first (ties: the older trial)."""
        ids = self.values if among is None else among
        return sorted((self.values[t][rung], t) for t in ids if rung in self.values.get(t, {}))

    def shown(self, loss: float) -> str:
        return f"{self.objective.metric} {(-loss if self.objective.maximize else loss):.6g}"

    def where(self, rung: int) -> str:
        name = self.fidelity.name if self.fidelity else "budget"
        return f"rung {rung} ({name} {self.budgets[rung]:g})"

    # --- decisions -----------------------------------------------------------------

    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        curve = view.curve(trial_id)
        budget = view.budget_of(trial_id)
        if curve and budget > 0 and curve[-1][0] >= budget * (1 - TOLERANCE):
            rung = rung_index(self.budgets, budget)
            return Verdict(True, f"{self.where(rung)} reached: the budget it was given is used", rung=True)
        return CONTINUE

    def run_ended(self, trial_id: int, view: CurveView) -> str:
        budget = view.budget_of(trial_id)
        rung = rung_index(self.budgets, budget)
        loss = self.value_at(view.curve(trial_id), budget)
        if loss is None:
            return ""
        self.values.setdefault(trial_id, {})[rung] = loss
        ranked = self.ranked(rung, self.peers(trial_id))
        place = next(i for i, (_, t) in enumerate(ranked) if t == trial_id) + 1
        return f"reached {self.where(rung)} with {self.shown(loss)}: {ordinal(place)} of {len(ranked)} there so far"

    def peers(self, trial_id: int) -> Sequence[int] | None:
        """The trials a trial is ranked among at its rungs (None: every trial)."""
        return None

    def promotion(self, trial_id: int, rung: int, place: int, of: int, going: int, why: str) -> Promotion:
        return Promotion(trial_id, self.budgets[rung + 1],
                         f"promoted to {self.where(rung + 1)}: {ordinal(place)} of {of} at rung {rung}, "
                         f"{why} {going} go on")

    # --- state ----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"values": [[t, k, v] for t, by_rung in self.values.items() for k, v in by_rung.items()]}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.values = {}
        for t, k, v in state.get("values", []):
            self.values.setdefault(int(t), {})[int(k)] = float(v)
