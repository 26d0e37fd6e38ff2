"""Trainables that misbehave on purpose, for the executor tests (loaded with --trainable)."""

from __future__ import annotations

import ctypes
import json
import os
import time
from collections.abc import Mapping
from typing import Any


def raises(params: Mapping[str, Any], ctx: Any) -> None:
    ctx.report(1, {"loss": 1.0})
    raise RuntimeError(f"boom at lr={params.get('lr')}")


def exits(params: Mapping[str, Any], ctx: Any) -> None:
    ctx.report(1, {"loss": 1.0})
    os._exit(3)


def segfaults(params: Mapping[str, Any], ctx: Any) -> None:
    ctypes.string_at(0)


def hangs(params: Mapping[str, Any], ctx: Any) -> None:
    ctx.report(1, {"loss": 1.0})
    while True:
        time.sleep(3600)


def reports_nan(params: Mapping[str, Any], ctx: Any) -> None:
    ctx.report(1, {"loss": 1.0})
    ctx.report(2, {"loss": float("nan")})


def returns_nothing(params: Mapping[str, Any], ctx: Any) -> None:
    return None


def echo(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """Reports its numeric params at step 1, then returns what it saw of its context."""
    ctx.report(1, {k: float(v) for k, v in params.items() if isinstance(v, int | float)})
    with open(os.path.join(ctx.checkpoint_dir, "echo.json"), "w") as f:
        json.dump(dict(ctx.config), f)
    return {"budget": ctx.budget, "max_budget": ctx.max_budget, "seed": float(ctx.seed),
            "attempt": float(ctx.attempt), "trial_id": float(ctx.trial_id),
            "config_len": float(len(ctx.config)), "fidelity_len": float(len(ctx.fidelity)),
            "cpu": float(ctx.device == "cpu")}


def slow_until_stopped(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    step = 0
    while not ctx.should_stop:
        step += 1
        if ctx.report(step, {"step": float(step)}):
            break
        time.sleep(0.02)
    return {"step": float(step)}


def bilevel(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """Sends 2 * alpha as the gradient, waits for the controller's next alpha, and does it again."""
    first = ctx.outer["alpha"].copy()
    ctx.send_outer_grad({"alpha": 2 * first}, {"val_loss": 1.0})
    deadline = time.monotonic() + 20
    while (ctx.outer["alpha"] == first).all() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = ctx.outer["alpha"]
    ctx.send_outer_grad({"alpha": [list(row) for row in 2 * second]})
    return {"alpha_sum": float(second.sum()), "rank": float(second.ndim)}


def exits_when_stopped(params: Mapping[str, Any], ctx: Any) -> None:
    """Runs until told to stop, then its worker process exits with code 3."""
    slow_until_stopped(params, ctx)
    os._exit(3)


def prints_a_lot(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """Output that would fill the executor's stdout pipe if the workers wrote there."""
    for _ in range(2000):
        print("x" * 100)
    return {"ok": 1.0}


TESTS_CONSTANT = 42  # a --trainable spec pointing here must be refused: not callable
