"""Trainables for the managed-study tests; executors load them with --trainable."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any


def flaky(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """Behaves as its `mode` parameter says: succeed, raise, kill its process, hang or report NaN."""
    mode = params["mode"]
    ctx.report(1, {"y": 1.0})
    if mode == "raise":
        raise RuntimeError("the model diverged on purpose")
    if mode == "exit":
        os._exit(7)
    if mode == "hang":
        time.sleep(3600)
    if mode == "nan":
        ctx.report(2, {"y": float("nan")})
    return {"y": float(params.get("x", 0.0))}


def curve(params: Mapping[str, Any], ctx: Any) -> None:
    """A learning curve whose level is the `quality` parameter; honours should_stop."""
    q = float(params["quality"])
    for step in range(1, int(ctx.budget or 10) + 1):
        time.sleep(0.01)
        if ctx.report(step, {"acc": q * (1 - 0.5 / step)}):
            return
