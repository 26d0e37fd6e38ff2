"""Median stopping rule (as in Google Vizier).

Stop a trial at step s when its best objective so far is worse than the median
of the running averages, up to step s, of the trials that have finished.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import setting as typed_setting
from nestor_controller.schedulers.base import CONTINUE, CurveView, FidelityDef, Scheduler, Verdict


class MedianScheduler(Scheduler):
    name = "median"
    compares_with_finished = True
    #: min_steps: reports a trial makes before it can be stopped; min_trials: finished trials needed.
    defaults: Mapping[str, Any] = {"min_steps": 1, "min_trials": 3}

    @classmethod
    def check(cls, objectives: Sequence[ObjectiveDef], fidelity: FidelityDef | None,
              settings: Mapping[str, Any]) -> None:
        super().check(objectives, fidelity, settings)
        merged = {**cls.defaults, **settings}
        for name in ("min_steps", "min_trials"):
            try:
                typed_setting(merged, name, int, minimum=1)
            except Exception as e:
                raise type(e)(str(e).replace("spec.algorithm", "spec.scheduler")) from None

    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        curve = view.curve(trial_id)
        if len(curve) < int(self.settings["min_steps"]):
            return CONTINUE
        step = curve[-1][0]
        loss = self.objective.loss
        averages = []
        for other in view.finished_curves():
            upto = [loss(v) for s, v in other if s <= step]
            if upto:
                averages.append(sum(upto) / len(upto))
        if len(averages) < int(self.settings["min_trials"]):
            return CONTINUE
        median = statistics.median(averages)
        best = min(loss(v) for _, v in curve)
        if best > median:
            sign = -1 if self.objective.maximize else 1
            return Verdict(
                True,
                f"median rule: best {self.objective.metric} so far {sign * best:.6g} is worse than the median "
                f"{sign * median:.6g} of {len(averages)} finished trials' running averages at step {step}",
            )
        return CONTINUE
