"""Learning-curve extrapolation (after Domhan et al., 2015).

After each measurement of a trial with at least `min_steps` reports, the
curve-family ensemble (curves.py) predicts the objective at the trial's budget;
the trial stops when the probability that this final value beats the best
value any finished trial reached falls below `threshold`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.schedulers.base import CONTINUE, CurveView, FidelityDef, Scheduler, Verdict, scheduler_setting
from nestor_controller.schedulers.curves import forecast


class LearningCurveScheduler(Scheduler):
    name = "learning_curve"
    needs_fidelity = True
    compares_with_finished = True
    #: threshold: stop when P(final beats the best so far) is below it; min_steps: reports before a fit;
    #: min_trials: finished trials before "the best so far" means something.
    defaults: ClassVar[Mapping[str, Any]] = {"threshold": 0.05, "min_steps": 4, "min_trials": 1}

    @classmethod
    def check(cls, objectives: Sequence[ObjectiveDef], fidelity: FidelityDef | None,
              settings: Mapping[str, Any]) -> None:
        super().check(objectives, fidelity, settings)
        merged = {**cls.defaults, **settings}
        threshold = scheduler_setting(merged, "threshold", float)
        if not 0.0 < threshold < 1.0:
            raise SpecError(f"spec.scheduler.settings.threshold: a probability between 0 and 1, got {threshold}")
        if scheduler_setting(merged, "min_steps", int) < 4:
            raise SpecError("spec.scheduler.settings.min_steps: the curve families need at least 4 reports to "
                            f"fit, got {merged['min_steps']}")
        scheduler_setting(merged, "min_trials", int, minimum=1)

    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        curve = view.curve(trial_id)
        if len(curve) < int(self.settings["min_steps"]):
            return CONTINUE
        finished = [c for c in view.finished_curves() if c]
        if len(finished) < int(self.settings["min_trials"]):
            return CONTINUE
        loss = self.objective.loss
        best = min(loss(v) for c in finished for _, v in c)
        horizon = view.budget_of(trial_id) or (self.fidelity.max if self.fidelity else 0.0)
        steps = np.array([s for s, _ in curve], dtype=float)
        if steps.min() <= 0 or steps.max() >= horizon:
            return CONTINUE
        f = forecast(steps, np.array([loss(v) for _, v in curve]), horizon)
        if f is None:
            return CONTINUE
        p = f.prob_below(best)
        if p >= float(self.settings["threshold"]):
            return CONTINUE
        sign = -1 if self.objective.maximize else 1
        name = self.fidelity.name if self.fidelity else "step"
        return Verdict(True, f"learning curve: P(its {self.objective.metric} at {name} {horizon:g} beats the best "
                             f"so far, {sign * best:.6g}) = {p:.3g} < {self.settings['threshold']:g} "
                             f"(predicted {sign * f.mean:.6g} from {len(curve)} reports)")
