"""`synthetic`: a standard test function as a trainable, optionally multi-fidelity.

With a fidelity the value at step s < max_budget is the true value plus a bias
and noise that shrink as s approaches max_budget, like the validation loss of a
short training run. The bias differs from point to point (some regions "learn
slowly"), so the ranking at a low budget is only an imperfect guide to the
final one, as with real training. The noise is a deterministic function of
(seed, params, step), so a rerun reproduces the same curve. Progress is
checkpointed: a promoted trial resumes after its last step (re-reporting the
earlier ones) instead of sleeping through them again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from nestor_executor.trainables import functions

X_PARAM = re.compile(r"^x(\d+)$")


def dimension(f: functions.SyntheticFunction, params: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    if f.fixed_dim is not None:
        return f.fixed_dim
    if config.get("dim") is not None:
        return int(config["dim"])
    count = sum(1 for name in params if X_PARAM.match(name))
    return count or 2


def point(f: functions.SyntheticFunction, params: Mapping[str, Any], dim: int) -> np.ndarray:
    x = []
    for i in range(dim):
        name = f"x{i}"
        if name not in params:
            raise ValueError(f"synthetic function {f.name!r} in {dim} dimensions needs parameter {name!r} "
                             f"(got {', '.join(sorted(params)) or 'none'})")
        x.append(float(params[name]))
    return np.asarray(x)


def noise(seed: int, x: np.ndarray, step: int) -> float:
    key = json.dumps([int(seed), [float(v) for v in x], int(step)]).encode()
    digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    return float(np.random.default_rng(digest).standard_normal())


def slowness(f: functions.SyntheticFunction, x: np.ndarray) -> float:
    """A smooth function of the point in [0, 1]: how far behind a short run is there."""
    lo, hi = np.array(f.bounds(len(x))).T
    u = (x - lo) / np.where(hi > lo, hi - lo, 1.0)
    return float(np.mean(0.5 + 0.5 * np.sin(3.0 * math.pi * u + np.arange(len(x)))))


def steps_done(ctx: Any) -> int:
    state = ctx.load_checkpoint()
    return int(state["step"]) if isinstance(state, dict) and "step" in state else 0


def save_progress(ctx: Any, step: int) -> bool:
    """False when a newer attempt holds the checkpoint: this run is stale and stops."""
    return bool(ctx.save_checkpoint({"step": step}, step))


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    config = ctx.config
    f = functions.get(str(config.get("function", "branin")))
    dim = dimension(f, params, config)
    x = point(f, params, dim)
    exact = f(x)
    optimum = f.optimum(dim)
    sleep_s = float(config.get("sleep_s", 0.0))
    if ctx.budget <= 0:
        if sleep_s > 0:
            time.sleep(sleep_s)
        m = {"value": exact, "regret": exact - optimum}
        ctx.report(1, m)
        return m
    max_budget = ctx.max_budget if ctx.max_budget > 0 else ctx.budget
    bias = float(config.get("fidelity_bias", 0.1)) * f.scale(dim) * 2.0 * slowness(f, x)
    noise_sd = float(config.get("fidelity_noise", 0.05)) * f.scale(dim)
    done = steps_done(ctx)
    m = {}
    for step in range(1, math.ceil(ctx.budget) + 1):
        if step > done:
            if sleep_s > 0:
                time.sleep(sleep_s)
            if not save_progress(ctx, step):
                break
        remaining = max(0.0, 1.0 - step / max_budget)
        value = exact + remaining * (bias + noise_sd * noise(ctx.seed, x, step))
        m = {"value": value, "regret": value - optimum}
        if ctx.report(step, m):
            break
    return m
