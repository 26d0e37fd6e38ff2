"""TPE: the Parzen estimator (shared with BOHB) and the sampler."""

from nestor_controller.samplers.tpe.kde import ParzenEstimator
from nestor_controller.samplers.tpe.sampler import TPESampler, split_good

__all__ = ["ParzenEstimator", "TPESampler", "split_good"]
