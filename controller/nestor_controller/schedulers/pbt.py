"""Population Based Training (Jaderberg et al. 2017): the study's trials are a population whose members copy
the weights of the best and perturb their hyperparameters as they train, so the search finds a schedule.

Each member trains `perturbation_interval` fidelity steps, then pauses. Generations are synchronous: once
every member has reached the same step b, they are ranked by their objective at b. Each member of the bottom
`quantile_fraction` continues from the weights one member of the top quantile had at b (exploit), with that
member's parameters perturbed (explore: each mutable parameter is redrawn from the space with
`resample_probability`, else a number is multiplied by one of `perturbation_factors` (clipped to its
domain; zero, which no factor moves, is redrawn) and a categorical moves one choice up or down). Every other
member continues from its own weights with its own parameters. Only a member whose weights at b were
checkpointed can be copied.

Every decision is a function of the members' values at b, their lineage, the study's seed and b: nothing but
the trials is state, and a restarted controller makes the same decisions. Waiting for the whole generation
costs idle slots only when members train at very different speeds; in exchange the population is the same
whatever the parallelism, the timing and the restarts.

With a `schedule` (the schedule behind a member's result, `nestor study replay`), every member follows it
instead: at each of its steps it continues from its own weights with that step's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from nestor.architecture import PREFIX as ARCH_PREFIX
from nestor.values import ParamValue

from nestor_controller.errors import SpecError
from nestor_controller.model import interval_ending_at
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.sampling import draw, snap
from nestor_controller.schedulers.base import (
    ACTIVE,
    CONTINUE,
    PAUSED,
    CurveView,
    FidelityDef,
    Plan,
    Promotion,
    Scheduler,
    Verdict,
    scheduler_setting,
)
from nestor_controller.schedulers.rungs import ordinal
from nestor_controller.space import ParamDef, Space

#: Budgets closer than this (relative) are the same step.
TOLERANCE = 1e-9
MAX_POPULATION = 10_000
MAX_GENERATIONS = 10_000
MAX_FACTORS = 16
WHERE = "spec.scheduler.settings"


def interval_default(fidelity: FidelityDef) -> int:
    """A tenth of the fidelity's range, at least one step."""
    return max(1, round(fidelity.max / 10))


def coerce(space: Space, params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Settings arrive as JSON numbers: an integer parameter's value becomes an int."""
    out: dict[str, ParamValue] = {}
    for name, value in params.items():
        p = space.by_name.get(name)
        if p is not None and p.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value
    return out


class PBT(Scheduler):
    name = "pbt"
    needs_fidelity = True
    multi_fidelity = True
    evolves_params = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "population_size": 0, "perturbation_interval": 0, "quantile_fraction": 0.25, "resample_probability": 0.25,
        "perturbation_factors": [0.8, 1.2], "mutable": [], "schedule": [], "prune_checkpoints": True}

    def __init__(self, objective: ObjectiveDef, fidelity: FidelityDef | None, settings: Mapping[str, Any],
                 seed: int) -> None:
        super().__init__(objective, fidelity, settings, seed)
        assert fidelity is not None  # check() refused a study without one
        s = self.settings
        self.interval = int(scheduler_setting(s, "perturbation_interval", int)) or interval_default(fidelity)
        self.quantile = float(scheduler_setting(s, "quantile_fraction", float))
        self.resample = float(scheduler_setting(s, "resample_probability", float))
        self.factors = [float(f) for f in s["perturbation_factors"]]
        self.space: Space | None = None
        self.mutable: list[str] = []
        self.schedule: list[tuple[int, dict[str, ParamValue]]] = []
        self._memo: tuple[Any, dict[int, tuple[int, dict[str, ParamValue], str]]] | None = None

    # --- checks ----------------------------------------------------------------------

    @classmethod
    def check(cls, objectives: Sequence[ObjectiveDef], fidelity: FidelityDef | None,
              settings: Mapping[str, Any]) -> None:
        super().check(objectives, fidelity, settings)
        assert fidelity is not None
        s = {**cls.defaults, **settings}
        scheduler_setting(s, "population_size", int, minimum=0, maximum=MAX_POPULATION)
        interval = scheduler_setting(s, "perturbation_interval", int, minimum=0) or interval_default(fidelity)
        if fidelity.max / interval > MAX_GENERATIONS:
            raise SpecError(f"{WHERE}.perturbation_interval: {interval} makes more than {MAX_GENERATIONS} "
                            f"generations up to {fidelity.name} {fidelity.max:g}")
        scheduler_setting(s, "quantile_fraction", float, minimum=0.0, maximum=0.5)
        scheduler_setting(s, "resample_probability", float, minimum=0.0, maximum=1.0)
        scheduler_setting(s, "prune_checkpoints", bool)
        factors = s["perturbation_factors"]
        if (not isinstance(factors, list) or not 1 <= len(factors) <= MAX_FACTORS
                or not all(isinstance(f, int | float) and not isinstance(f, bool) and math.isfinite(f) and f > 0
                           for f in factors)):
            raise SpecError(f"{WHERE}.perturbation_factors: expected a list of 1 to {MAX_FACTORS} positive "
                            f"numbers, got {factors!r:.100}")
        if not isinstance(s["mutable"], list) or not all(isinstance(n, str) for n in s["mutable"]):
            raise SpecError(f"{WHERE}.mutable: expected a list of parameter names, got {s['mutable']!r:.100}")
        schedule = s["schedule"]
        if not isinstance(schedule, list) or len(schedule) > MAX_GENERATIONS:
            raise SpecError(f"{WHERE}.schedule: expected a list of at most {MAX_GENERATIONS} "
                            f"{{step, params}} entries, got {schedule!r:.100}")
        last = 0.0
        for i, entry in enumerate(schedule):
            where = f"{WHERE}.schedule[{i}]"
            if not isinstance(entry, dict) or set(entry) != {"step", "params"} or not isinstance(entry["params"],
                                                                                              dict):
                raise SpecError(f"{where}: expected {{step, params}}, got {entry!r:.100}")
            step = entry["step"]
            if (not isinstance(step, int | float) or isinstance(step, bool) or not float(step).is_integer()
                    or not last < step < fidelity.max):
                raise SpecError(f"{where}.step: expected a whole number above the previous step ({last:g}) and "
                                f"below {fidelity.name} {fidelity.max:g}, got {step!r:.100}")
            last = float(step)

    @classmethod
    def check_study(cls, space: Space, budget: Any, settings: Mapping[str, Any]) -> None:
        s = {**cls.defaults, **settings}
        population = int(s["population_size"])
        if population and budget.max_trials and population != budget.max_trials:
            raise SpecError(f"spec.budget.max_trials: a {cls.name} study's trials are its population: "
                            f"{budget.max_trials} differs from {WHERE}.population_size {population} "
                            "(set one, or both the same)")
        if not population and not budget.max_trials:
            raise SpecError(f"{WHERE}.population_size: a {cls.name} study needs a population: set "
                            "population_size (or spec.budget.max_trials)")
        if population and not budget.max_trials:
            budget.max_trials = population
        for name in s["mutable"]:
            p = space.by_name.get(name)
            if p is None or name.startswith(ARCH_PREFIX):
                known = ", ".join(sorted(n for n in space.by_name if not n.startswith(ARCH_PREFIX)))
                raise SpecError(f"{WHERE}.mutable: {name!r} is no parameter of the space that can change while "
                                f"a trial trains (those: {known or 'none'})")
        for i, entry in enumerate(s["schedule"]):
            space.check_assignment(coerce(space, entry["params"]), f"{WHERE}.schedule[{i}].params")

    def bind_space(self, space: Space) -> None:
        self.space = space
        named = self.settings["mutable"]
        self.mutable = list(named) if named else [p.name for p in space.params
                                                   if not p.name.startswith(ARCH_PREFIX)]
        self.schedule = [(int(e["step"]), coerce(space, e["params"])) for e in self.settings["schedule"]]

    # --- budgets ----------------------------------------------------------------------

    @property
    def top(self) -> float:
        assert self.fidelity is not None
        return self.fidelity.max

    def next_boundary(self, budget: float) -> float:
        if self.schedule:
            return next((float(s) for s, _ in self.schedule if s > budget * (1 + TOLERANCE)), self.top)
        return min(budget + self.interval, self.top)

    def budget_for_new_trial(self, trial_id: int, view: CurveView) -> float:
        return self.next_boundary(0.0)

    def loss_at(self, view: CurveView, trial_id: int, step: float) -> float:
        """The loss at the first report that reached `step` (inf: the member reported nothing there)."""
        for s, value in view.curve(trial_id):
            if s >= step * (1 - TOLERANCE):
                return self.objective.loss(value)
        return math.inf

    def shown(self, loss: float) -> str:
        if not math.isfinite(loss):
            return f"no {self.objective.metric}"
        return f"{self.objective.metric} {(-loss if self.objective.maximize else loss):.6g}"

    def where(self, budget: float) -> str:
        assert self.fidelity is not None
        return f"{self.fidelity.name} {budget:g}"

    # --- decisions ----------------------------------------------------------------------

    def decide(self, trial_id: int, view: CurveView) -> Verdict:
        curve = view.curve(trial_id)
        budget = view.budget_of(trial_id)
        if curve and budget > 0 and curve[-1][0] >= budget * (1 - TOLERANCE):
            return Verdict(True, f"{self.name}: {self.where(budget)} reached, the end of its interval", rung=True)
        return CONTINUE

    def run_ended(self, trial_id: int, view: CurveView) -> str:
        budget = view.budget_of(trial_id)
        loss = self.loss_at(view, trial_id, budget)
        if budget >= self.top * (1 - TOLERANCE):
            return f"{self.name}: trained to {self.where(budget)} with {self.shown(loss)}"
        return f"{self.name}: reached {self.where(budget)} with {self.shown(loss)}; waits for its generation"

    def plan(self, view: CurveView, free: int) -> Plan:
        alive = [m for m in view.members() if view.phase(m) in (ACTIVE, PAUSED)]
        paused = [m for m in alive if view.phase(m) == PAUSED]
        if not paused or free <= 0:
            return Plan()
        b = min(view.budget_of(m) for m in alive)
        behind = [m for m in alive if view.phase(m) == ACTIVE and view.budget_of(m) <= b * (1 + TOLERANCE)]
        if behind or view.more_trials():
            return Plan()  # the generation is not complete: members still train to b, or are still to come
        cohort = sorted(m for m in paused if view.budget_of(m) <= b * (1 + TOLERANCE))
        # The generation is every member that reached b, a member already sent on that failed since included:
        # what the members still waiting for a slot do must not depend on when they get one.
        reached = [m for m in view.members() if m in alive or view.budget_of(m) > b * (1 + TOLERANCE)]
        decisions = self.generation(view, reached, b)
        nxt = self.next_boundary(b)
        step = round(b)
        out = []
        for m in cohort[:free]:
            donor, params, reason = decisions[m]
            out.append(Promotion(m, nxt, reason, params=params, donor=donor, step=step))
        return Plan(tuple(out))

    def generation(self, view: CurveView, alive: Sequence[int], b: float
                   ) -> dict[int, tuple[int, dict[str, ParamValue], str]]:
        """What every member does after step b: (donor or 0, parameters, reason); the same on every call for
        the same generation (the members still waiting for a slot get it later), so it is computed once."""
        step = round(b)
        key = (step, tuple((m, self.loss_at(view, m, b), view.checkpointed(m, step)) for m in alive))
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        decisions = self._generation(view, alive, b)
        self._memo = (key, decisions)
        return decisions

    def _generation(self, view: CurveView, alive: Sequence[int], b: float
                    ) -> dict[int, tuple[int, dict[str, ParamValue], str]]:
        step = round(b)
        own = {m: dict(interval_ending_at(view.lineage(m), b)["params"]) for m in alive}
        if self.schedule:
            scheduled = next(p for s, p in self.schedule if s == step)
            return {m: (0, dict(scheduled), f"{self.name}: the schedule's parameters from {self.where(b)} on")
                    for m in alive}
        ranked = sorted((self.loss_at(view, m, b), m) for m in alive)
        n = len(ranked)
        q = math.ceil(n * self.quantile)
        if q > n // 2:
            q = n // 2
        place = {m: i + 1 for i, (_, m) in enumerate(ranked)}
        loss = {m: v for v, m in ranked}
        decisions = {m: (0, own[m], f"{self.name}: {ordinal(place[m])} of {n} at {self.where(b)} "
                                    f"({self.shown(loss[m])}); continues from its own weights")
                     for m in alive}
        if not q:
            return decisions
        top = [m for _, m in ranked[:q]]
        donors = [m for m in top if view.checkpointed(m, step)]
        rng = np.random.default_rng([self.seed, step, 0x9B7])
        chosen: list[dict[str, ParamValue]] = []
        for _, m in ranked[n - q:]:
            head = f"{self.name}: {ordinal(place[m])} of {n} at {self.where(b)} ({self.shown(loss[m])})"
            if not donors:
                decisions[m] = (0, own[m], f"{head}; no member of the top {q} checkpointed at {self.where(b)}, "
                                           "so it continues from its own weights")
                continue
            donor = donors[int(rng.integers(len(donors)))]
            params, how = self.explore(own[donor], rng, view, alive, b, chosen)
            chosen.append(params)
            decisions[m] = (donor, params, f"{head}; exploit: continues from trial {donor}'s weights "
                                           f"({ordinal(place[donor])}, {self.shown(loss[donor])}); "
                                           f"explore: {how}")
        return decisions

    # --- explore ------------------------------------------------------------------------

    def explore(self, params: Mapping[str, ParamValue], rng: np.random.Generator, view: CurveView,
                alive: Sequence[int], b: float, chosen: Sequence[Mapping[str, ParamValue]]
                ) -> tuple[dict[str, ParamValue], str]:
        """The donor's parameters perturbed, and what changed (pb2 overrides how numbers are chosen)."""
        out = dict(params)
        for name in self.mutable:
            if name in out:
                out[name] = self.perturb(self.param(name), out[name], rng)
        return self.settle(out, rng), changes(params, out)

    def param(self, name: str) -> ParamDef:
        assert self.space is not None
        return self.space.by_name[name]

    def perturb(self, p: ParamDef, value: ParamValue, rng: np.random.Generator) -> ParamValue:
        if rng.random() < self.resample:
            return draw(p, rng)
        if p.kind == "categorical":
            i = p.choices.index(value) + (1 if rng.random() < 0.5 else -1)
            return p.choices[min(max(i, 0), len(p.choices) - 1)]
        if value == 0:
            return draw(p, rng)  # no factor would ever move it: the parameter would be stuck for good
        factor = self.factors[int(rng.integers(len(self.factors)))]
        return snap(p, float(value) * factor)  # type: ignore[arg-type]

    def settle(self, params: dict[str, ParamValue], rng: np.random.Generator) -> dict[str, ParamValue]:
        """A valid assignment again: a parameter a changed parent switched on is drawn, one it switched off goes."""
        assert self.space is not None
        out: dict[str, ParamValue] = {}
        for p in self.space.params:
            if not self.space.is_active(p, out):
                continue
            out[p.name] = params[p.name] if p.name in params else draw(p, rng)
        return out


def changes(before: Mapping[str, ParamValue], after: Mapping[str, ParamValue]) -> str:
    moved = [f"{k} {shown(before.get(k))} -> {shown(after.get(k))}" for k in sorted(set(before) | set(after))
             if before.get(k) != after.get(k)]
    return ", ".join(moved) if moved else "no parameter changed"


def shown(value: ParamValue | None) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
