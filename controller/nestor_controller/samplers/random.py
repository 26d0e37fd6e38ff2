"""Random search: every parameter drawn independently from its prior."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nestor_controller.samplers.base import Assignment, Observation, Sampler
from nestor_controller.samplers.sampling import draw_assignment, rng_from_state, rng_state


class RandomSampler(Sampler):
    name = "random"
    accepts_constraints = True  # it models nothing, so constraints change nothing in what it draws
    searches_architectures = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.suggested = 0

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        out = []
        for _ in range(count):
            defaults = {p.name: p.default for p in self.space.params if p.default is not None}
            # The first trial tries the defaults the user gave: a known good point anchors the search.
            fixed = defaults if self.suggested == 0 and defaults else None
            out.append(draw_assignment(self.space, self.rng, fixed))
            self.suggested += 1
        return out

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "suggested": self.suggested}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_state(state["rng"])
        self.suggested = int(state["suggested"])
