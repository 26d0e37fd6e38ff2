"""Regularized (aging) evolution, Real et al. 2019: tournament selection, one mutation, the oldest dies.

The population is the `population_size` most recently finished trials, so a
member leaves it by age, not by being worse: good architectures must keep
being rediscovered through their children, which regularises against lucky
evaluations. The first `population_size` suggestions are random. After that,
each suggestion samples `sample_size` members, takes the best (the tournament
winner) and mutates it (mutation.py): one operation, one input or one
hyperparameter, an ordered one to a nearby value. A child that was tried
already, or is running, is mutated again from the same parent (up to
REDRAWS / 2 times): on a small or mostly categorical space a repeated
evaluation teaches nothing; when every neighbour of the parent was tried, the
child walks on, one mutation more at a time. Of the parent's first `screen`
new children, only the one the study's results favour is suggested
(screening.py); `screen: 1` is Real et al.'s evolution. Failed trials never
join the population.

The population is read from the history the engine hands over; the only state
is the random search's (the random generator and the count of suggestions).
It is kept between suggestions, only the appended observations joining it
(samplers/history.py), so a suggestion costs the same however long the
history is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_POPULATION
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.encoding import assignment_key
from nestor_controller.samplers.history import Appended
from nestor_controller.samplers.model_based import check_single_objective
from nestor_controller.samplers.mutation import REDRAWS, mutate
from nestor_controller.samplers.random import RandomSampler
from nestor_controller.samplers.screening import DensityRatioScreen
from nestor_controller.space import Space


class RegularizedEvolution(RandomSampler):
    """Random search until the population is full; evolution from then on."""

    name = "regularized_evolution"
    defaults: Mapping[str, Any] = {"population_size": 10, "sample_size": 5, "screen": 8}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.population_size = int(self.settings["population_size"])
        # The default tournament shrinks with a small population; an explicit one was checked to fit.
        self.sample_size = min(int(self.settings["sample_size"]), self.population_size)
        self.screen = int(self.settings["screen"])
        self._screener = DensityRatioScreen(self.space, self.objectives)
        # Derived from the history alone (and again from it after a restart), so not part of state().
        self._cursor = Appended()
        self._population: list[Observation] = []
        #: assignment_key of every trial in the history, failed ones too.
        self._tried: set[tuple] = set()

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        check_single_objective(cls.name, objectives)
        merged = {**cls.defaults, **settings}
        population = setting(merged, "population_size", int, minimum=2, maximum=MAX_POPULATION)
        sample = setting(merged, "sample_size", int, minimum=1)
        setting(merged, "screen", int, minimum=1, maximum=REDRAWS)
        if sample > population and "sample_size" in settings:
            raise SpecError(f"spec.algorithm.settings.sample_size: {sample} is larger than the population "
                            f"({population})")
        if max_trials and population >= max_trials and "population_size" in settings:
            raise SpecError(f"spec.algorithm.settings.population_size: a population of {population} uses the "
                            f"whole budget of max_trials={max_trials} on random trials, so nothing would evolve; "
                            f"set it below {max_trials}")

    def population(self, history: Sequence[Observation]) -> list[Observation]:
        """The living members, oldest first: the last `population_size` trials that finished with a value."""
        restart, new = self._cursor.new(history)
        if restart:
            self._population, self._tried = [], set()
        self._tried.update(assignment_key(obs.params) for obs in new)
        scored = [obs for obs in new if obs.values is not None]
        if scored:
            self._population = [*self._population, *scored][-self.population_size:]
        return list(self._population)

    def tournament(self, population: Sequence[Observation]) -> Observation:
        k = min(self.sample_size, len(population))
        picks = self.rng.choice(len(population), size=k, replace=False)
        o = self.objectives[0]
        # Ties go to the younger member: the newer evaluation of an equally good architecture.
        return min((population[int(i)] for i in picks),
                   key=lambda obs: (o.loss(obs.values[0]), -obs.trial_id))  # type: ignore[index]

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        population = self.population(history)
        taken = {assignment_key(a) for a in running}
        out = []
        for _ in range(count):
            if self.suggested < self.population_size or not population:
                out += super().suggest(1, history, running)
            else:
                parent = self.tournament(population).params
                children = self.children(parent, taken)
                child = children[self._screener.best(children, history, [*running, *out])]
                taken.add(assignment_key(child))
                out.append(child)
                self.suggested += 1
        return out

    def children(self, parent: Assignment, taken: set[tuple]) -> list[Assignment]:
        """Up to `screen` distinct children of `parent` that are neither tried nor running; the last one drawn
        when every attempt was (a walk that found nothing new: it is suggested anyway)."""
        out: list[Assignment] = []
        keys: set[tuple] = set()
        child: Assignment = parent
        for attempt in range(REDRAWS):
            # Half the attempts from the parent; then, only when none of them was new (every neighbour of the
            # parent was tried), a walk from the last child.
            if attempt == REDRAWS // 2 and out:
                break
            child, _ = mutate(self.space, parent if attempt < REDRAWS // 2 else child, self.rng)
            key = assignment_key(child)
            if key not in self._tried and key not in taken and key not in keys:
                out.append(child)
                keys.add(key)
                if len(out) == self.screen:
                    break
        return out or [child]
