"""Adam on the controller's outer variables, in numpy, with a JSON state.

The state (values, both moments, the step count) is what a restarted controller needs to take the very
next step it would have taken: float64 lists round-trip through JSON exactly, so a resumed search
repeats an uninterrupted one bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class AdamSettings:
    lr: float
    beta1: float
    beta2: float
    weight_decay: float = 0.0  # L2 added to the gradient, as torch.optim.Adam (and the DARTS paper) do
    eps: float = 1e-8


@dataclass
class OuterSet:
    """One trial's outer variables (in the strategy's own parametrisation) and their optimizer state."""

    values: Arrays
    m: Arrays = field(default_factory=dict)
    v: Arrays = field(default_factory=dict)
    step: int = 0
    #: Strategy-specific flags that must survive a restart (DARTS: search done, why it stopped).
    info: dict[str, Any] = field(default_factory=dict)

    def adam_step(self, grads: Mapping[str, np.ndarray], s: AdamSettings) -> None:
        self.step += 1
        for name, g in grads.items():
            x = self.values[name]
            g = g + s.weight_decay * x if s.weight_decay else g
            m = s.beta1 * self.m.get(name, np.zeros_like(x)) + (1 - s.beta1) * g
            v = s.beta2 * self.v.get(name, np.zeros_like(x)) + (1 - s.beta2) * g * g
            self.m[name], self.v[name] = m, v
            m_hat = m / (1 - s.beta1 ** self.step)
            v_hat = v / (1 - s.beta2 ** self.step)
            self.values[name] = x - s.lr * m_hat / (np.sqrt(v_hat) + s.eps)

    def to_json(self) -> dict[str, Any]:
        def arrays(d: Arrays) -> dict[str, Any]:
            return {k: {"shape": list(a.shape), "values": a.ravel().tolist()} for k, a in d.items()}

        return {"values": arrays(self.values), "m": arrays(self.m), "v": arrays(self.v), "step": self.step,
                "info": self.info}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> OuterSet:
        def arrays(x: Mapping[str, Any]) -> Arrays:
            return {k: np.asarray(a["values"], dtype=np.float64).reshape(a["shape"]) for k, a in x.items()}

        return cls(arrays(d["values"]), arrays(d["m"]), arrays(d["v"]), int(d["step"]), dict(d.get("info", {})))
