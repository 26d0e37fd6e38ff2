"""`pbt_toy`: the toy problem of the PBT paper (Jaderberg et al. 2017, section 4.1).

The weights are theta = (theta0, theta1), starting at (0.9, 0.9); the objective is
Q(theta) = 1.2 - (theta0^2 + theta1^2), at most 1.2 at theta = 0. Each step is
gradient ascent, with learning rate `lr` (trainable_config, 0.02), on a surrogate
Q(theta | h) = 1.2 - (h0 * theta0^2 + h1 * theta1^2) whose hyperparameters h0, h1
are the trial's parameters. With h = (1, 0) or (0, 1), the paper's initial
population, one coordinate never moves and Q stays at 0.39 however long it
trains; a schedule that switches h, which copying weights and perturbing h finds,
reaches 1.2. Steps are the fidelity; theta is checkpointed every step as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

START = (0.9, 0.9)


def q(theta: tuple[float, float]) -> float:
    return 1.2 - (theta[0] ** 2 + theta[1] ** 2)


def train(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    h0, h1 = float(params.get("h0", 1.0)), float(params.get("h1", 0.0))
    lr = float(ctx.config.get("lr", 0.02))
    steps = int(ctx.budget) if ctx.budget > 0 else int(ctx.config.get("steps", 40))
    saved = ctx.load_checkpoint()
    theta, done = (tuple(saved["theta"]), int(saved["step"])) if saved else (START, 0)
    if saved and ctx.report(done, {"q": q(theta), "theta0": theta[0], "theta1": theta[1]}):
        # Reported again: a run cut off between its save and its report would otherwise leave that step
        # unmeasured (the first report of a step stands, so a repeat changes nothing).
        return {"q": q(theta), "theta0": theta[0], "theta1": theta[1]}
    for step in range(done + 1, steps + 1):
        if ctx.should_stop:
            break
        theta = (theta[0] - lr * 2 * h0 * theta[0], theta[1] - lr * 2 * h1 * theta[1])
        if not ctx.save_checkpoint({"theta": list(theta), "step": step}, step):
            break
        if ctx.report(step, {"q": q(theta), "theta0": theta[0], "theta1": theta[1]}):
            break
    return {"q": q(theta), "theta0": theta[0], "theta1": theta[1]}
