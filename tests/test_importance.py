"""Parameter importance (nestor.importance): where only two of six parameters matter, those two rank first;
`nestor study importance ID` prints the same ranking from a real controller."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from cluster import start_controller
from nestor import Client
from nestor.importance import importance


def branin(x0: float, x1: float) -> float:
    """The `synthetic` trainable's branin: two dimensions, whatever other parameters a trial carries."""
    a, b, c, r, s, t = 1, 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return a * (x1 - b * x0 ** 2 + c * x0 - r) ** 2 + s * (1 - t) * math.cos(x0) + s


def six_parameters(rng: random.Random) -> dict[str, float | str]:
    return {"x0": rng.uniform(-5, 10), "x1": rng.uniform(0, 15), "x2": rng.uniform(0, 1), "x3": rng.uniform(0, 1),
            "x4": rng.uniform(1e-4, 1), "x5": rng.choice(["a", "b", "c"])}


@pytest.mark.parametrize("n", [40, 200, 2000])
def test_the_two_parameters_that_matter_rank_first(n: int) -> None:
    rng = random.Random(n)
    results = [(p, branin(p["x0"], p["x1"])) for p in (six_parameters(rng) for _ in range(n))]
    shares = importance(results)
    assert set(list(shares)[:2]) == {"x0", "x1"}, shares
    assert math.isclose(sum(shares.values()), 1.0) and all(v >= 0 for v in shares.values())
    assert shares["x0"] + shares["x1"] > 0.6  # the four others share what chance gives them


def test_a_categorical_parameter_that_matters_and_edge_cases() -> None:
    rng = random.Random(1)
    results = [({"opt": o, "noise": rng.random()}, {"adam": 0.1, "sgd": 0.5}[o] + rng.gauss(0, 0.01))
               for o in (rng.choice(["adam", "sgd"]) for _ in range(100))]
    assert list(importance(results)) == ["opt", "noise"]
    assert importance([]) == {}
    assert importance(results[:3], ["opt"]) == {"opt": 0.0}  # too few results to say anything
    assert importance([(p, math.nan) for p, _ in results], ["opt"]) == {"opt": 0.0}


def test_the_cli_prints_the_ranking(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    try:
        with Client(ctl.address) as client:
            space = {"x0": {"type": "double", "min": -5, "max": 10}, "x1": {"type": "double", "min": 0, "max": 15},
                     **{f"x{i}": {"type": "double", "min": 0, "max": 1} for i in range(2, 6)}}
            study = client.create_study({"name": "importance", "algorithm": "random", "seed": 1, "space": space,
                                         "objective": {"metric": "value", "goal": "minimize"},
                                         "budget": {"max_trials": 120}})
            for t in study.suggest(120):
                t.complete({"value": branin(t.params["x0"], t.params["x1"])})
        out = subprocess.run([sys.executable, "-m", "nestor", "--controller", ctl.address, "study", "importance",
                              study.id, "--json"], capture_output=True, text=True, timeout=60, check=True).stdout
        shares = json.loads(out)
        assert len(shares) == 6 and set(list(shares)[:2]) == {"x0", "x1"}, shares
        text = subprocess.run([sys.executable, "-m", "nestor", "--controller", ctl.address, "study", "importance",
                               study.id], capture_output=True, text=True, timeout=60, check=True).stdout
        assert text.split()[:2] == ["1", next(iter(shares))]
    finally:
        ctl.stop()
