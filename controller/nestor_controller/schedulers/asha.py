"""ASHA: asynchronous successive halving (Li et al.).

Every trial starts at the lowest rung. Whenever a slot frees, a paused trial
that is in the top 1/eta of the trials that reached its rung (counted now,
not when the rung is full) goes on to the next rung, highest rungs first;
otherwise a new trial starts at the bottom. No slot waits for a rung to fill.

A rung is final once nothing can reach it any more (no new trials, nobody
running below it, nobody paused below it still to be promoted): then its
paused trials outside the top 1/eta stop, and its best trial goes on even when
fewer than eta reached it, so that some trial always gets the full budget.
"""

from __future__ import annotations

from nestor_controller.schedulers.base import PAUSED, CurveView, Plan, Promotion
from nestor_controller.schedulers.ladder import survivors
from nestor_controller.schedulers.rungs import RungScheduler, ordinal


class ASHA(RungScheduler):
    name = "asha"

    def budget_for_new_trial(self, trial_id: int, view: CurveView) -> float:
        return self.budgets[0]

    def plan(self, view: CurveView, free: int) -> Plan:
        rung_of = {t: self.rung_of(view, t) for t in self.values}
        phase = {t: view.phase(t) for t in self.values}
        active_at = {self.rung_of(view, t) for t in view.active_trials()}
        found: list[tuple[int, int, Promotion]] = []
        drop: list[tuple[int, str]] = []
        final = not view.more_trials()
        for rung in range(self.top):
            final = final and rung not in active_at
            ranked = self.ranked(rung)
            going = survivors(len(ranked), self.eta)
            if final and ranked:
                going = max(1, going)
            left_paused = False
            for place, (_, t) in enumerate(ranked, 1):
                if phase[t] != PAUSED or rung_of[t] != rung:
                    continue
                if place <= going:
                    left_paused = True
                    found.append((-rung, place, self.promotion(t, rung, place, len(ranked), going, "the top")))
                elif final:
                    drop.append((t, f"asha: not promoted from {self.where(rung)}: {ordinal(place)} of "
                                    f"{len(ranked)}, and no other trial can reach the rung; the top {going} went on"))
            final = final and not left_paused  # the rung above still gets these
        found.sort(key=lambda x: x[:2])
        return Plan(tuple(p for *_, p in found[:max(0, free)]), tuple(drop))
