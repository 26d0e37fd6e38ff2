"""Trainables for the chaos tests: they checkpoint every step and log what each attempt ran."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any


def _log(ctx: Any, **entry: Any) -> None:
    path = ctx.config.get("log")
    if path:
        # One short line per write with O_APPEND: lines from concurrent executors do not interleave.
        line = json.dumps({"trial": ctx.trial_id, "attempt": ctx.attempt, **entry}) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def steady(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """`steps` steps of `sleep_s` each; resumes from its checkpoint and re-reports the steps it holds."""
    steps = int(ctx.config.get("steps", 5))
    sleep_s = float(ctx.config.get("sleep_s", 0.05))
    x = float(params["x"])
    path = os.path.join(ctx.checkpoint_dir, "state.json")
    history: list[list[Any]] = []
    if os.path.exists(path):
        with open(path) as f:
            history = json.load(f)["history"]
    _log(ctx, event="start", resumed_at=len(history), pid=os.getpid())
    # A report sent just before a crash may never have been stored: send again what the checkpoint holds.
    for step, metrics in history:
        ctx.report(step, metrics)
    for step in range(len(history) + 1, steps + 1):
        time.sleep(sleep_s)
        metrics = {"loss": (x - 0.3) ** 2 + 1.0 / step}
        history.append([step, metrics])
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"history": history}, f)
        os.replace(tmp, path)
        ctx.checkpoint_saved(step, path)
        _log(ctx, event="step", step=step)
        if ctx.report(step, metrics):
            break
    _log(ctx, event="done")
    return dict(history[-1][1])
