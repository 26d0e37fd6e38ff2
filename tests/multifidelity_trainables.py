"""Trainables for the multi-fidelity tests; executors load them with --trainable."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any


def resumable(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """Trains ctx.budget steps of a curve set by `quality`, checkpointing its step; each report says how many
    steps this run computed so far ("fresh"), so a test can tell a resumed run from one that started over."""
    path = os.path.join(ctx.checkpoint_dir, "progress.json")
    done = 0
    if os.path.exists(path):
        with open(path) as f:
            done = json.load(f)["step"]
    q = float(params["quality"])
    metrics: dict[str, float] = {}
    fresh = 0
    for step in range(1, math.ceil(ctx.budget) + 1):
        if step > done:
            time.sleep(0.02)
            fresh += 1
            with open(path, "w") as f:
                json.dump({"step": step}, f)
        metrics = {"loss": q + 1.0 / step, "fresh": float(fresh), "attempt": float(ctx.attempt)}
        if ctx.report(step, metrics):
            break
    return metrics
