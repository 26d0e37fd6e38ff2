"""Which of a few candidate children to evaluate: the one where good trials are densest relative to the rest.

Regularized evolution spends one evaluation per child. Screening draws several
distinct children of the tournament winner and evaluates only the one the
study's own results favour, scored as TPE scores its candidates: log l(x) -
log g(x), with l fitted to the best `gamma` fraction of the finished trials
and g to the rest (and to the trials still running, so parallel workers are
sent to different children). The mutation still decides where the search can
go (one change from a living parent); the model only decides which of those
changes comes first. This is the predictor-guided mutation of Wen et al.
2020 and NPENAS (Wei et al. 2022), with a density ratio as the predictor.

The encoded history is kept incrementally (samplers/history.py) and g sees at
most `max_bad` observations, so screening costs the same at 100 results as at
100,000. It is derived from the history alone, so it is not sampler state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.history import EncodedHistory
from nestor_controller.samplers.tpe.kde import ParzenEstimator
from nestor_controller.samplers.tpe.sampler import split_capped
from nestor_controller.space import Space

GAMMA = 0.15
MAX_GOOD = 25
MAX_BAD = 1000


class DensityRatioScreen:
    """Scores candidate assignments by log l - log g over a study's finished (and running) trials."""

    def __init__(self, space: Space, objectives: Sequence[ObjectiveDef]) -> None:
        self.encoder = Encoder(space)
        self._history = EncodedHistory(self.encoder, objectives)

    def best(self, candidates: Sequence[Assignment], history: Sequence[Observation],
             running: Sequence[Assignment]) -> int:
        """Index of the candidate with the highest density ratio; the first one on ties or with no results."""
        h = self._history.update(history)
        if len(candidates) < 2 or h.n_valid < 2:
            return 0
        enc = self.encoder
        good, bad = split_capped(h.y, GAMMA, MAX_GOOD, MAX_BAD)
        Xg, Ag = h.X[bad], h.act[bad]
        if running:
            Xr, Ar = enc.encode(running)
            Xg, Ag = np.vstack([Xg, Xr]), np.vstack([Ag, Ar])
        C, Ca = enc.encode(candidates)
        l_model = ParzenEstimator(enc, h.X[good], h.act[good])
        g_model = ParzenEstimator(enc, Xg, Ag)
        score = l_model.log_pdf(C, Ca) - g_model.log_pdf(C, Ca)
        return int(np.argmax(score))
