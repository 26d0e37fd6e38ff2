"""Population-based search: variation operators (shared with NAS), a genetic algorithm, CMA-ES."""

from nestor_controller.samplers.evolution.cmaes import CMAESSampler
from nestor_controller.samplers.evolution.ga import GeneticSampler
from nestor_controller.samplers.evolution.operators import crossover, mutate, mutate_value, tournament

__all__ = ["CMAESSampler", "GeneticSampler", "crossover", "mutate", "mutate_value", "tournament"]
