"""`auto`: the algorithm of a study that names none. It picks an algorithm by what the study is, and switches
as the study grows, each switch recorded in the decision of the trials it makes.

What it looks at: the space (how many parameters, how many numeric, categorical or conditional, an
architecture), the objectives and constraints, and the budget (max_trials; none counts as large).

- Several objectives or an architecture: `tpe` (its Parzen densities model several objectives and an
  architecture's choices cheaply, at any budget).
- Otherwise `gp`, which leads while observations are few, on numeric spaces and (measured on
  bench/samplers.py's development split, where it beat TPE on every categorical, conditional and tabular
  problem at 50 to 80 trials) on categorical and conditional ones too. It stays `gp` when the budget is small
  or (numeric spaces) there are constraints. With a large budget (above `switch_at` trials) it hands over at
  `switch_at` observations: to `cmaes` when every parameter is numeric (CMA-ES's adaptation pays off in long
  continuous runs, and it starts from the best result so far), else to `tpe` (a GP's cost grows with its
  history).

A warm start that models its priors keeps to the algorithm that takes its mode: `gp` for `transfer`, `tpe` for
`observations` (`top_k` only runs the priors' best first, and changes nothing here).

Each algorithm it uses sees the whole history, as if it had run from the start; its state persists inside
auto's, so a restarted controller continues exactly (the determinism test covers it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nestor.architecture import PREFIX as ARCH_PREFIX

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.priors import OBSERVATIONS, TOP_K, TRANSFER
from nestor_controller.space import Space

#: A space is "mostly numeric" when at least this share of its parameters are numbers and none is conditional.
NUMERIC_SHARE = 2 / 3


def plan(space: Space, objectives: Sequence[ObjectiveDef], constrained: bool, max_trials: int,
         switch_at: int) -> list[tuple[int, str, str]]:
    """[(from observation n, algorithm, why)] in order: what auto runs, and when it switches."""
    params = [p for p in space.params if not p.name.startswith(ARCH_PREFIX)]
    numeric = [p for p in params if p.kind != "categorical"]
    conditional = any(p.conditions for p in space.params)
    described = (f"{len(params)} parameters, {len(numeric)} numeric"
                 + (", conditional" if conditional else "") + (", an architecture" if space.architecture else ""))
    if len(objectives) > 1:
        return [(0, "tpe", f"{len(objectives)} objectives ({described})")]
    if space.architecture is not None:
        return [(0, "tpe", f"an architecture ({described})")]
    budget = f"a budget of {max_trials} trials" if max_trials else "no trial budget"
    if conditional or len(numeric) < NUMERIC_SHARE * max(1, len(params)):
        kind = "a categorical or conditional space"
        if max_trials and max_trials <= switch_at:
            return [(0, "gp", f"{kind} ({described}) and a budget of {max_trials} trials")]
        return [(0, "gp", f"{kind} ({described}), few observations"),
                (switch_at, "tpe", f"{switch_at} observations of {kind} and {budget}: a GP's cost grows with "
                                   "its history")]
    if constrained:
        return [(0, "gp", f"a numeric space with constraints ({described})")]
    first = (0, "gp", f"a numeric space ({described}), few observations")
    if max_trials and max_trials <= switch_at:
        return [(0, "gp", f"a numeric space ({described}) and a budget of {max_trials} trials")]
    if len(numeric) == len(params):
        return [first, (switch_at, "cmaes", f"{switch_at} observations of a continuous space and {budget}: a long "
                                            "run, where CMA-ES adapts its search distribution")]
    return [first, (switch_at, "tpe", f"{switch_at} observations and {budget}: a GP's cost grows with its "
                                      "history")]


class AutoSampler(Sampler):
    name = "auto"
    searches_architectures = True
    accepts_constraints = True
    warm_modes: ClassVar[tuple[str, ...]] = (TOP_K, OBSERVATIONS, TRANSFER)
    defaults: Mapping[str, Any] = {"switch_at": 200}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.switch_at = setting(self.settings, "switch_at", int, minimum=1)
        self.max_trials = 0
        self.constrained = False
        self.delegates: dict[str, Sampler] = {}
        self.states: dict[str, Any] = {}
        #: The algorithm that made the last suggestions ("" before any).
        self.last = ""

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        setting({**cls.defaults, **settings}, "switch_at", int, minimum=1)

    def bind_study(self, max_trials: int, constrained: bool) -> None:
        self.max_trials = max_trials
        self.constrained = constrained

    @property
    def plan(self) -> list[tuple[int, str, str]]:
        return plan(self.space, self.objectives, self.constrained, self.max_trials, self.switch_at)

    def current(self, observed: int) -> tuple[str, str]:
        """(algorithm, why) for a study with `observed` results."""
        if self.warm_mode == TRANSFER:
            return "gp", "a warm start in transfer mode (a GP on the priors, this study's on its residuals)"
        if self.warm_mode == OBSERVATIONS:
            return "tpe", "a warm start in observations mode (the priors' results weighted into its densities)"
        chosen = self.plan[0]
        for step in self.plan:
            if observed >= step[0]:
                chosen = step
        return chosen[1], chosen[2]

    def delegate(self, name: str) -> Sampler:
        found = self.delegates.get(name)
        if found is None:
            from nestor_controller.samplers import make_sampler

            found = make_sampler(name, self.space, self.objectives, {}, self.seed)
            if self.priors and self.warm_mode in found.warm_modes:
                found.set_priors(self.priors, self.warm_mode, self.prior_decay)
            if name in self.states:
                found.load_state(self.states[name])
            self.delegates[name] = found
        return found

    @property
    def heavy(self) -> bool:  # type: ignore[override]
        return True  # gp, tpe and cmaes all are

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        name, why = self.current(len(history))
        sampler = self.delegate(name)
        self.last = name
        out = sampler.suggest(count, history, running)
        note = f"auto: {name}, for {why}"
        self.decision_note = f"{note}; {sampler.decision_note}" if sampler.decision_note else note
        return out

    def exhausted(self) -> bool:
        return bool(self.last) and self.delegate(self.last).exhausted()

    def state(self) -> dict[str, Any]:
        return {"last": self.last,
                "delegates": {**self.states, **{name: s.state() for name, s in self.delegates.items()}}}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.last = str(state.get("last", ""))
        self.states = dict(state.get("delegates", {}))
        self.delegates = {}
