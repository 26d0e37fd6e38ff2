"""GP Bayesian optimisation: kernel, hyperparameter fit, incremental posterior, log EI, its optimiser."""

from nestor_controller.samplers.gp.sampler import GPSampler

__all__ = ["GPSampler"]
