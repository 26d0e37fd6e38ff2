"""Several objectives and constraints: Pareto ranks, hypervolume, EHVI, NSGA-II."""

from nestor_controller.samplers.multiobjective.nsga2 import NSGA2Sampler

__all__ = ["NSGA2Sampler"]
