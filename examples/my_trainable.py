"""A trainable of your own, for `docs/running.md`: a noisy quadratic "trained" over epochs.

The executor imports it by module path, so the module must be importable by the executor's Python: installed
in its environment (`pip install -e .` of your project) or on its PYTHONPATH, e.g.

    PYTHONPATH=examples nestor-executor --controller localhost:50051 --trainable my_model=my_trainable:train
"""

from __future__ import annotations

import math
import random
from typing import Any


def train(params: dict[str, Any], ctx: Any) -> dict[str, float]:
    rng = random.Random(ctx.seed)
    loss = 0.0
    for epoch in range(1, int(ctx.budget or 10) + 1):
        # What a real trainable would measure after an epoch of training.
        gap = (math.log10(params["lr"]) + 2.0) ** 2 + (params["width"] - 64) ** 2 / 4096
        loss = gap + 1.0 / epoch + 0.01 * rng.random()
        if ctx.report(epoch, {"loss": loss}):  # True: the scheduler stops this trial early
            break
    return {"loss": loss}
