"""Quasi-random search: a scrambled Sobol sequence, one coordinate per parameter.

Sobol points fill the space more evenly than independent draws (no clumps,
no holes), which is why the model-based samplers start from them too. The
sequence is fixed by the study's seed, so its state is only how many points
were drawn.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.sampling import snap
from nestor_controller.space import Space

if TYPE_CHECKING:
    from scipy.stats import qmc


class SobolDesign:
    """Scrambled Sobol points of a space, resumable from a count."""

    def __init__(self, space: Space, seed: int, scramble: bool = True) -> None:
        self.encoder = Encoder(space)
        self.seed = seed
        self.scramble = scramble
        self.drawn = 0
        self._engine: qmc.Sobol | None = None

    def _sequence(self) -> qmc.Sobol:
        if self._engine is None:
            # Imported here: scipy.stats takes a second to load, which every controller start would pay.
            from scipy.stats import qmc

            self._engine = qmc.Sobol(max(1, self.encoder.n_params), scramble=self.scramble,
                                     rng=np.random.default_rng(self.seed))
            # Unscrambled, the sequence starts at the origin, a corner no one wants to try first.
            skip = self.drawn + (0 if self.scramble else 1)
            if skip:
                self._engine.fast_forward(skip)
        return self._engine

    def cube(self, count: int) -> np.ndarray:
        with warnings.catch_warnings():
            # Balance is best at powers of two, but a study asks for what it has slots for.
            warnings.simplefilter("ignore", UserWarning)
            U = self._sequence().random(count)
        self.drawn += count
        return U

    def draw(self, count: int, defaults_first: bool = False) -> list[Assignment]:
        X, act = self.encoder.from_cube(self.cube(count))
        out = self.encoder.decode(X, act)
        if defaults_first and out:
            defaults = {p.name: p.default for p in self.encoder.params if p.default is not None}
            if defaults:
                out[0] = _with_defaults(self.encoder.space, out[0], defaults)
        return out

    def state(self) -> dict[str, int]:
        return {"seed": self.seed, "drawn": self.drawn}

    def load(self, state: Mapping[str, int]) -> None:
        self.seed, self.drawn = int(state["seed"]), int(state["drawn"])
        self._engine = None


def _with_defaults(space: Space, a: Assignment, defaults: Mapping[str, Any]) -> Assignment:
    """`a` with the given defaults, re-resolving which parameters are active (defaults may switch branches)."""
    out: Assignment = {}
    for p in space.params:
        if not space.is_active(p, out):
            continue
        if p.name in defaults:
            out[p.name] = defaults[p.name]
        elif p.name in a:
            out[p.name] = a[p.name]
        else:  # activated by a default: its range's middle
            out[p.name] = p.choices[0] if p.kind == "categorical" else snap(p, (p.low + p.high) / 2)
    return out


class QuasiRandomSampler(Sampler):
    name = "quasirandom"
    accepts_constraints = True  # it models nothing, so constraints change nothing in what it draws
    defaults: Mapping[str, Any] = {"scramble": True}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.design = SobolDesign(self.space, self.seed, setting(self.settings, "scramble", bool))

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        setting({**cls.defaults, **settings}, "scramble", bool)

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        return self.design.draw(count, defaults_first=self.design.drawn == 0)

    def state(self) -> dict[str, Any]:
        return {"sobol": self.design.state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.design.load(state["sobol"])
