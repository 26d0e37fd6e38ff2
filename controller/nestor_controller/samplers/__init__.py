"""Samplers by algorithm name. A new algorithm joins by being listed here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.auto import AutoSampler
from nestor_controller.samplers.base import Observation, Sampler
from nestor_controller.samplers.bohb import BOHBSampler
from nestor_controller.samplers.evolution import CMAESSampler, GeneticSampler
from nestor_controller.samplers.evolution_arch import RegularizedEvolution
from nestor_controller.samplers.gp import GPSampler
from nestor_controller.samplers.grid import GridSampler
from nestor_controller.samplers.multiobjective import NSGA2Sampler
from nestor_controller.samplers.oneshot import OneShotSampler
from nestor_controller.samplers.quasirandom import QuasiRandomSampler
from nestor_controller.samplers.random import RandomSampler
from nestor_controller.samplers.rl_policy import RLPolicySampler
from nestor_controller.samplers.tpe import TPESampler
from nestor_controller.space import Space

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (RandomSampler, GridSampler, RegularizedEvolution, RLPolicySampler,
                              QuasiRandomSampler, GPSampler, TPESampler, GeneticSampler, CMAESSampler,
                              BOHBSampler, NSGA2Sampler, AutoSampler, OneShotSampler)}

# Bilevel strategies are samplers that also hold outer variables; imported last, as they build on samplers.
from nestor_controller.bilevel.darts import DartsStrategy  # noqa: E402
from nestor_controller.bilevel.hypergrad import HypergradStrategy  # noqa: E402

SAMPLERS.update({cls.name: cls for cls in (DartsStrategy, HypergradStrategy)})


#: What a new study that names no algorithm gets (written into its spec at creation).
DEFAULT_ALGORITHM = "auto"
#: What a stored study that names none ran: it was created before `auto` existed, and goes on as it began.
STORED_DEFAULT = "random"


def sampler_class(name: str) -> type[Sampler]:
    cls = SAMPLERS.get(name or STORED_DEFAULT)
    if cls is None:
        raise SpecError(f"spec.algorithm.name: unknown algorithm {name!r} (known: {', '.join(sorted(SAMPLERS))})")
    return cls


def make_sampler(name: str, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
                 seed: int) -> Sampler:
    return sampler_class(name)(space, objectives, settings, seed)


__all__ = ["DEFAULT_ALGORITHM", "SAMPLERS", "STORED_DEFAULT", "Observation", "Sampler", "make_sampler", "sampler_class"]
