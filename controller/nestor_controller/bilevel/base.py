"""Bilevel strategies: samplers that also own outer variables of their trials.

Each trial that has outer variables (a DARTS search: alpha; a hypergradient trial: its continuous
hyperparameters) gets them from the controller with its assignment, streams the gradient of its
validation loss with respect to them, and gets the updated values back. The values and the optimizer
state live here, in the sampler's JSON state, so they are committed with the event of every step.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from nestor.values import ParamValue

from nestor_controller.bilevel.optim import AdamSettings, Arrays, OuterSet
from nestor_controller.errors import SpecError
from nestor_controller.samplers.base import Sampler, setting
from nestor_controller.space import Space


@dataclass
class Applied:
    """What one outer step produced: the values to send back and, when the strategy wants it, a stop."""

    values: Arrays
    step: int
    stop_reason: str = ""
    #: False when the values did not change and the run waits for no answer: a reply written to a run that
    #: has just ended fails its stream, and its result with it.
    reply: bool = True


def check_arrays(arrays: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]], where: str,
                 what: str) -> None:
    """SpecError unless each named array has its expected shape and only finite values."""
    for name, shape in shapes.items():
        a = arrays[name]
        if a.shape != tuple(shape):
            raise SpecError(f"{where}: {what} {name!r} has shape {list(a.shape)}, expected {list(shape)}")
        if not np.all(np.isfinite(a)):
            raise SpecError(f"{where}: {what} {name!r} has non-finite values")


class BilevelStrategy(Sampler):
    #: Outer optimizer defaults; subclasses override them in `defaults`.
    optimizer_settings = ("learning_rate", "beta1", "beta2", "weight_decay")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sets: dict[int, OuterSet] = {}
        s = self.settings
        self.adam = AdamSettings(float(s["learning_rate"]), float(s["beta1"]), float(s["beta2"]),
                                 float(s["weight_decay"]))

    #: Whether the space may hold an architecture (DARTS: the cell it searches).
    takes_architecture = False

    @classmethod
    def check(cls, space: Any, objectives: Any, settings: Mapping[str, Any], max_trials: int) -> None:
        if cls.takes_architecture and space.architecture is not None:
            # Sampler.check refuses architecture spaces; keep its check of the settings' names.
            super().check(Space(params=[]), objectives, settings, max_trials)
        else:
            super().check(space, objectives, settings, max_trials)
        merged = {**cls.defaults, **settings}
        for name in cls.optimizer_settings:
            setting(merged, name, float, minimum=0.0)
        for name in ("beta1", "beta2"):
            if not merged[name] < 1:
                raise SpecError(f"spec.algorithm.settings.{name}: must be < 1, got {merged[name]!r}")

    # --- what each strategy decides -------------------------------------------------------------

    @abstractmethod
    def initial_values(self, trial_id: int, params: Mapping[str, ParamValue]) -> Arrays | None:
        """The outer variables a new trial starts from (internal parametrisation); None: it has none.

        Must depend only on the study's seed, the trial id and its parameters: a set is created when
        first needed, so a controller that restarts before the first step creates the same one again.
        """

    def exported(self, values: Arrays) -> Arrays:
        """The values as the trainable sees them (a hypergradient strategy maps its unconstrained ones)."""
        return values

    def chain(self, values: Arrays, grads: Arrays) -> Arrays:
        """The gradient in the internal parametrisation, given the one with respect to `exported` values."""
        return grads

    def after_step(self, trial_id: int, outer: OuterSet, metrics: Mapping[str, float]) -> str:
        """Called after each applied step; a non-empty return stops the trial with that reason."""
        return ""

    @abstractmethod
    def summary(self, trial_id: int, outer: OuterSet) -> dict[str, Any]:
        """What the strategy derives from a trial's values, for the API and the CLI."""

    # --- the mechanism ---------------------------------------------------------------------------

    def outer_set(self, trial_id: int, params: Mapping[str, ParamValue]) -> OuterSet | None:
        s = self.sets.get(trial_id)
        if s is None:
            init = self.initial_values(trial_id, params)
            if init is None:
                return None
            s = self.sets[trial_id] = OuterSet({k: np.asarray(v, dtype=np.float64) for k, v in init.items()})
        return s

    def check_gradient(self, trial_id: int, params: Mapping[str, ParamValue], grads: Mapping[str, np.ndarray],
                       where: str) -> OuterSet:
        """The trial's outer set, or SpecError saying how the gradient does not fit it."""
        s = self.outer_set(trial_id, params)
        if s is None:
            raise SpecError(f"{where} streamed an outer gradient, but it has no outer variables "
                            f"in algorithm {self.name!r}")
        unknown = [name for name in grads if name not in s.values]
        if unknown:
            raise SpecError(f"{where}: outer gradient {unknown[0]!r} is not an outer variable "
                            f"(known: {', '.join(sorted(s.values))})")
        check_arrays(grads, {name: s.values[name].shape for name in grads}, where, "outer gradient")
        return s

    def apply(self, trial_id: int, params: Mapping[str, ParamValue], grads: Mapping[str, np.ndarray],
              metrics: Mapping[str, float], where: str) -> Applied:
        s = self.check_gradient(trial_id, params, grads, where)
        s.adam_step(self.chain(s.values, {k: np.asarray(g, dtype=np.float64) for k, g in grads.items()}),
                    self.adam)
        stop = self.after_step(trial_id, s, metrics)
        return Applied(self.exported(s.values), s.step, stop)

    def outer_state(self) -> dict[str, Any]:
        return {"sets": {str(k): s.to_json() for k, s in self.sets.items()}}

    def load_outer_state(self, state: Mapping[str, Any]) -> None:
        self.sets = {int(k): OuterSet.from_json(v) for k, v in state.get("sets", {}).items()}
