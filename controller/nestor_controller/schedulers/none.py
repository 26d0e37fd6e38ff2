"""No early stopping: every trial runs to its full budget."""

from __future__ import annotations

from nestor_controller.schedulers.base import CONTINUE, CurveView, Scheduler, Verdict


class NoScheduler(Scheduler):
    name = "none"
    stops_early = False

    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        return CONTINUE
