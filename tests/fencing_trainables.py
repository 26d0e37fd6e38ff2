"""A trainable that checkpoints through ctx.save_checkpoint and logs every save, for the fencing tests."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from chaos_trainables import _log


def log(ctx: Any, **entry: Any) -> None:
    _log(ctx, pid=os.getpid(), **entry)


def fenced_steps(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """`steps` steps of `sleep_s`; each step is saved (with the attempt that ran it) before it is reported.

    The save comes first and regardless of `should_stop`: a run woken after its trial moved tries exactly
    one more save, which the fencing must refuse.
    """
    steps = int(ctx.config.get("steps", 4))
    sleep_s = float(ctx.config.get("sleep_s", 0.05))
    state = ctx.load_checkpoint() or {"history": []}
    history: list[dict[str, Any]] = state["history"]
    log(ctx, event="start", resumed_at=len(history))
    for entry in history:  # what an earlier attempt saved may not have been stored yet
        ctx.report(entry["step"], entry["metrics"])
    for step in range(len(history) + 1, steps + 1):
        time.sleep(sleep_s)
        metrics = {"loss": 1.0 / step, "attempt": float(ctx.attempt)}
        history.append({"step": step, "metrics": metrics, "attempt": ctx.attempt})
        if not ctx.save_checkpoint({"history": history}, step):
            log(ctx, event="fenced", step=step, should_stop=ctx.should_stop)
            break
        log(ctx, event="saved", step=step)
        if ctx.report(step, metrics):
            break
    log(ctx, event="done")
    return {"loss": 1.0 / len(history), "attempt": float(ctx.attempt)}
