"""Client-driven (ask/tell) tuning with the Nestor SDK: minimise the Branin function.

Your program owns the loop: it asks the controller for trials, evaluates them
itself, reports intermediate values (the scheduler may stop a poor trial
early) and tells the result. No executor is involved.

    python examples/ask_tell.py --local tour.db [--trials 60]     # a private controller, no server to start
    python examples/ask_tell.py --controller localhost:50051      # or a controller you run

Branin's minimum is 0.397887 at (-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import nestor

HERE = Path(__file__).resolve().parent
BRANIN_MIN = 0.397887
STEPS = 5


def branin(x0: float, x1: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x1 - b * x0**2 + c * x0 - 6) ** 2 + 10 * (1 - t) * math.cos(x0) + 10


def evaluate(params: dict[str, float], step: int) -> float:
    """A stand-in for an iterative computation: the estimate improves with each step, ending exact."""
    y = branin(params["x0"], params["x1"])
    return y * (1 + 0.5 * (STEPS - step) / STEPS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--controller", default=None, help="default: $NESTOR_CONTROLLER or localhost:50051")
    p.add_argument("--local", metavar="STORE", help="no server: a private controller on this SQLite store")
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--batch", type=int, default=4, help="trials asked for at a time")
    args = p.parse_args()

    spec = nestor.load_spec(HERE / "branin_ask_tell.yaml")
    spec.budget.max_trials = args.trials
    with nestor.Client.local(args.local) if args.local else nestor.Client(args.controller) as client:
        study = client.create_study(spec)
        print(f"study {study.id}: {args.trials} trials of Branin, {args.batch} at a time")
        while trials := study.suggest(args.batch):
            for trial in trials:
                try:
                    for step in range(1, STEPS + 1):
                        if trial.report(step, {"y": evaluate(trial.params, step)}):
                            break  # the scheduler says this one will not win
                    trial.complete()  # the last report is the result
                except ArithmeticError as e:
                    trial.fail(f"evaluation failed: {e}")
        final = study.wait(timeout=60)
        best = study.best()
        print(f"study {final.id} ended: {final.reason or nestor.study.STUDY_STATE_NAMES[final.state]}")
        if best is not None:
            y = best.final_metrics["y"]
            x0, x1 = best.params["x0"], best.params["x1"]
            print(f"best trial {best.id}: y = {y:.4f} (optimum {BRANIN_MIN}) at x0 = {x0:.4f}, x1 = {x1:.4f}")


if __name__ == "__main__":
    main()
