"""A steady-state genetic algorithm: every free slot gets a child of the current population.

The population is read from the study's history, so the only state is the
random generator: the best `population_size` finished trials (replacement
"worst": the worst are the ones replaced) or the latest ones (replacement
"oldest": regularised evolution, which keeps exploring on noisy objectives).
A child is the uniform crossover of two tournament winners (with probability
`crossover_rate`) or a copy of one, then mutated; it is never a trial that
was already tried or is running. Until the first population is complete the
trials come from a Sobol design.

The population and the keys of the tried trials are kept between suggestions
and only the appended observations are added (samplers/history.py), so a
suggestion costs the same however long the history is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_POPULATION
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.evolution.operators import crossover, mutate, tournament
from nestor_controller.samplers.history import Appended
from nestor_controller.samplers.model_based import DesignedSampler, check_single_objective
from nestor_controller.samplers.sampling import draw_assignment
from nestor_controller.space import Space

REPLACEMENT = ("worst", "oldest")
#: Children drawn before giving up on finding one not yet tried (a nearly exhausted discrete space).
MAX_TRIES = 50


def key(a: Mapping[str, Any]) -> str:
    return json.dumps(a, sort_keys=True)


class GeneticSampler(DesignedSampler):
    name = "ga"
    defaults: Mapping[str, Any] = {"population_size": 20, "tournament_size": 3, "mutation_rate": 0.2,
                                   "mutation_scale": 0.1, "crossover_rate": 0.5, "replacement": "worst"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.population_size = setting(s, "population_size", int, minimum=2, maximum=MAX_POPULATION)
        self.tournament_size = setting(s, "tournament_size", int, minimum=1)
        self.mutation_rate = setting(s, "mutation_rate", float, minimum=0.0)
        self.mutation_scale = setting(s, "mutation_scale", float, minimum=0.0)
        self.crossover_rate = setting(s, "crossover_rate", float, minimum=0.0)
        self.replacement = s["replacement"]
        # Derived from the history alone (and again from it after a restart), so not part of state().
        self._cursor = Appended()
        self._seen: set[str] = set()
        self._members: list[tuple[Mapping[str, Any], float]] = []

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        check_single_objective(cls.name, objectives)
        sampler = cls(space, objectives, settings, 0)
        for name in ("mutation_rate", "crossover_rate"):
            if getattr(sampler, name) > 1.0:
                raise SpecError(f"spec.algorithm.settings.{name}: a probability must be <= 1, "
                                f"got {getattr(sampler, name)}")
        if sampler.replacement not in REPLACEMENT:
            raise SpecError(f"spec.algorithm.settings.replacement: expected one of {', '.join(REPLACEMENT)}, "
                            f"got {sampler.replacement!r}")
        if sampler.tournament_size > sampler.population_size:
            raise SpecError(f"spec.algorithm.settings.tournament_size: {sampler.tournament_size} is larger than "
                            f"population_size={sampler.population_size}")
        if max_trials and sampler.population_size > max_trials:
            raise SpecError(f"spec.algorithm.settings.population_size: a population of {sampler.population_size} "
                            f"is larger than the budget of max_trials={max_trials}, so no child would ever be "
                            "bred; lower population_size or raise max_trials")

    def population(self, history: Sequence[Observation]) -> tuple[list[Mapping[str, Any]], list[float]]:
        """(members, their losses): the best population_size finished trials (ties: the earlier), or the
        latest ones. Kept between calls: only the observations appended since the last call are added."""
        restart, new = self._cursor.new(history)
        if restart:
            self._seen, self._members = set(), []
        self._seen.update(key(h.params) for h in new)
        o = self.objectives[0]
        done = [(h.params, o.loss(h.values[0])) for h in new if h.values is not None]
        if self.replacement == "worst":
            # The kept members are sorted by loss and precede the new ones in the history, so a stable sort of
            # both gives the same first population_size as a stable sort of every result.
            self._members = sorted([*self._members, *done], key=lambda pl: pl[1])[:self.population_size]
        elif done:
            self._members = [*self._members, *done][-self.population_size:]
        return [p for p, _ in self._members], [loss for _, loss in self._members]

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        members, member_losses = self.population(history)
        # The history's keys stay in self._seen; the few of this call (running, chosen now) are kept apart so
        # that the history's set is never copied.
        seen = {key(a) for a in running}
        out = self.initial(count, len(members), self.population_size)
        seen |= {key(a) for a in out}
        while len(out) < count:
            child = self._child(members, member_losses, seen)
            seen.add(key(child))
            out.append(child)
            self.suggested += 1
        return out

    def _child(self, members: list[Mapping[str, Any]], member_losses: list[float], seen: set[str]) -> Assignment:
        """A child whose key is in neither `seen` nor the history's."""
        child: Assignment = {}
        for _ in range(MAX_TRIES):
            a = members[tournament(member_losses, self.tournament_size, self.rng)]
            if self.rng.random() < self.crossover_rate:
                b = members[tournament(member_losses, self.tournament_size, self.rng)]
                a = crossover(self.space, a, b, self.rng)
            child = mutate(self.space, a, self.rng, self.mutation_rate, self.mutation_scale)
            k = key(child)
            if k not in seen and k not in self._seen:
                return child
        return draw_assignment(self.space, self.rng)
