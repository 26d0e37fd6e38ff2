"""Nestor's side of bench/multifidelity.py: one study per method and seed through a real controller.

Each study runs until it has spent the total budget (counted in measurements:
a promoted trial resumes from its checkpoint, so each measurement is one new
epoch or step), then it is stopped. The log is read back from WatchStudy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mflib.problem import Spent

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from nestor.spec import load_spec  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402

RANDOM = {"name": "random"}
#: Each method: its algorithm and scheduler. Random search trains every trial to the full budget.
METHODS: dict[str, dict[str, Any]] = {
    "random": {"algorithm": RANDOM, "scheduler": {"name": "none"}},
    "sha": {"algorithm": RANDOM, "scheduler": {"name": "successive_halving"}},
    "hyperband": {"algorithm": RANDOM, "scheduler": {"name": "hyperband"}},
    "asha": {"algorithm": RANDOM, "scheduler": {"name": "asha"}},
    # ASHA is combinable with any sampler: with TPE proposing (it sees each trial's latest rung).
    "asha_tpe": {"algorithm": {"name": "tpe"}, "scheduler": {"name": "asha"}},
    "bohb": {"algorithm": {"name": "bohb"}, "scheduler": {"name": "hyperband"}},
    "median": {"algorithm": RANDOM, "scheduler": {"name": "median"}},
}

DIGITS_SPACE: dict[str, Any] = {
    "lr": {"type": "double", "min": 1e-5, "max": 1.0, "scale": "log"},
    "hidden": {"type": "int", "min": 8, "max": 256, "scale": "log"},
    "depth": {"type": "int", "min": 1, "max": 3},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
    "weight_decay": {"type": "double", "min": 1e-7, "max": 0.1, "scale": "log"},
    "dropout": {"type": "double", "min": 0.0, "max": 0.6},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
}


def digits_spec(method: str, seed: int, epochs: int, min_epochs: int = 1) -> dict[str, Any]:
    return {"trainable": "digits_mlp", "space": DIGITS_SPACE, "objective": {"metric": "val_accuracy",
                                                                          "goal": "maximize"},
            "fidelity": {"name": "epoch", "min": min_epochs, "max": epochs}, **METHODS[method], "seed": seed}


def synthetic_spec(method: str, seed: int, function: str, dim: int, bounds: list[tuple[float, float]],
                   steps: int) -> dict[str, Any]:
    space = {f"x{i}": {"type": "double", "min": lo, "max": hi} for i, (lo, hi) in enumerate(bounds[:dim])}
    return {"trainable": "synthetic", "trainable_config": {"function": function}, "space": space,
            "objective": {"metric": "regret", "goal": "minimize"},
            "fidelity": {"name": "step", "min": 1, "max": steps}, **METHODS[method], "seed": seed,
            "budget": {"max_parallel": 1}}


def run_study(stub: Any, spec: dict[str, Any], total: int, error: Callable[[dict[str, float]], float]) -> list[Spent]:
    """Runs the study until `total` measurements were made; the log of the first `total`."""
    spec = {"name": f"mf-{spec.get('seed')}", "budget": {}, **spec}
    spec["budget"] = {"max_trials": 100_000, **spec["budget"]}
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=load_spec(spec))).id
    log: list[Spent] = []
    t0 = None
    stopped = False
    for ev in stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=3600):
        now = ev.time.ToNanoseconds() / 1e9
        t0 = now if t0 is None else t0
        if ev.type == c.STUDY_EVENT_TRIAL_MEASUREMENT and len(log) < total:
            m = ev.measurement
            log.append(Spent(len(log) + 1, now - t0, float(m.step), error(dict(m.metrics))))
        if len(log) >= total and not stopped:
            stub.StopStudy(c.StopStudyRequest(study_id=sid, reason="the benchmark's budget is spent"))
            stopped = True
        if ev.type == c.STUDY_EVENT_STUDY_ENDED:
            break
    stub.DeleteStudy(c.DeleteStudyRequest(study_id=sid))
    return log
