"""`noop`: reports `steps` times and returns; measures the overhead of everything around a trainable."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

OWN = ("steps", "sleep_s")


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    config = ctx.config
    steps = int(params.get("steps", config.get("steps", 10)))
    sleep_s = float(params.get("sleep_s", config.get("sleep_s", 0.0)))
    # A deterministic value that differs between configurations, so that searches have something to compare.
    base = sum(float(v) for k, v in params.items()
               if k not in OWN and isinstance(v, int | float) and not isinstance(v, bool))
    pause = sleep_s / steps if steps > 0 else 0.0
    value = base
    for step in range(1, steps + 1):
        if pause > 0:
            time.sleep(pause)
        value = base + 1.0 / step
        if ctx.report(step, {"value": value}):
            break
    return {"value": value}
