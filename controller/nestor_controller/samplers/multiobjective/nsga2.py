"""NSGA-II (Deb et al. 2002): elitist selection by non-domination rank and crowding distance.

The population is read from the study's history, never stored: finished
trials in the order they ended are taken `population_size` at a time, and
each batch is merged into the population by environmental selection (best
constrained rank, the last front cut by crowding distance). So a restarted
controller sees the same population, and trials that end out of order
(parallel executors) simply join the next merge. Children come from binary
tournaments on (rank, crowding), then SBX crossover and polynomial mutation.
With constraints, Deb's constraint domination applies: a feasible trial beats
an infeasible one, and two infeasible ones compare by total violation. The
first population is a Sobol design. The only state is the generator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_POPULATION
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.model_based import DesignedSampler
from nestor_controller.samplers.multiobjective.pareto import (
    constrained_ranks,
    crowding_distance,
    loss_matrix,
    select,
    total_violation,
)
from nestor_controller.samplers.multiobjective.variation import breed
from nestor_controller.samplers.sampling import draw_assignment
from nestor_controller.space import Space

#: Children drawn before giving up on one not yet tried (a nearly exhausted discrete space).
MAX_TRIES = 50
#: Distribution indexes above this make SBX and the polynomial step numerically a copy.
MAX_ETA = 1000.0


def key(a: Mapping[str, Any]) -> str:
    return json.dumps(a, sort_keys=True)


class NSGA2Sampler(DesignedSampler):
    name = "nsga2"
    accepts_constraints = True
    # Architecture decisions are conditional categorical parameters, which crossover and mutation handle.
    searches_architectures = True
    #: mutation_rate 0 means one over the number of parameters (one change per child on average).
    defaults: Mapping[str, Any] = {"population_size": 20, "crossover_rate": 0.9, "mutation_rate": 0.0,
                                   "eta_crossover": 15.0, "eta_mutation": 20.0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.population_size = setting(s, "population_size", int, minimum=2, maximum=MAX_POPULATION)
        self.crossover_rate = setting(s, "crossover_rate", float, minimum=0.0, maximum=1.0)
        rate = setting(s, "mutation_rate", float, minimum=0.0, maximum=1.0)
        self.mutation_rate = rate or 1.0 / max(1, len(self.space.params))
        self.eta_crossover = setting(s, "eta_crossover", float, minimum=0.0, maximum=MAX_ETA)
        self.eta_mutation = setting(s, "eta_mutation", float, minimum=0.0, maximum=MAX_ETA)

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        sampler = cls(space, objectives, settings, 0)
        if max_trials and sampler.population_size > max_trials:
            raise SpecError(f"spec.algorithm.settings.population_size: a population of {sampler.population_size} "
                            f"is larger than the budget of max_trials={max_trials}, so no child would ever be "
                            "bred; lower population_size or raise max_trials")

    def population(self, history: Sequence[Observation]) -> tuple[list[Observation], np.ndarray, np.ndarray]:
        """(members, their losses, their total violations), replayed from the history."""
        done = [h for h in history if h.values is not None]
        F, V = loss_matrix(self.objectives, done), total_violation(done)
        members = np.zeros(0, dtype=int)
        for start in range(0, len(done), self.population_size):
            pool = np.concatenate([members, np.arange(start, min(len(done), start + self.population_size))])
            members = pool[select(F[pool], V[pool], self.population_size)]
        return [done[i] for i in members], F[members], V[members]

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        members, F, V = self.population(history)
        out = self.initial(count, len(members), self.population_size)
        if len(out) == count:
            return out
        rank = constrained_ranks(F, V)
        crowd = np.zeros(len(F))
        for r in np.unique(rank):
            at = np.flatnonzero(rank == r)
            crowd[at] = crowding_distance(F[at])
        seen = {key(h.params) for h in history} | {key(a) for a in running} | {key(a) for a in out}
        while len(out) < count:
            child = self._child(members, rank, crowd, seen)
            seen.add(key(child))
            out.append(child)
            self.suggested += 1
        return out

    def _tournament(self, rank: np.ndarray, crowd: np.ndarray) -> int:
        i, j = (int(x) for x in self.rng.integers(len(rank), size=2))
        if (rank[i], -crowd[i]) <= (rank[j], -crowd[j]):
            return i
        return j

    def _child(self, members: list[Observation], rank: np.ndarray, crowd: np.ndarray, seen: set[str]) -> Assignment:
        for _ in range(MAX_TRIES):
            a = members[self._tournament(rank, crowd)].params
            b = members[self._tournament(rank, crowd)].params
            child = breed(self.space, a, b, self.rng, crossover_rate=self.crossover_rate,
                          mutation_rate=self.mutation_rate, eta_crossover=self.eta_crossover,
                          eta_mutation=self.eta_mutation)
            if key(child) not in seen:
                return child
        return draw_assignment(self.space, self.rng)
