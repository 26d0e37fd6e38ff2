"""A client-driven study from the Python SDK against a real controller process (no executor)."""

from __future__ import annotations

import threading

import nestor
import pytest
from cluster import Server


def quadratic(params: dict) -> float:
    return (params["x"] - 0.3) ** 2 + (0.5 if params["opt"] == "sgd" else 0.0) + 0.01 * params["width"] / 64


SPEC = {
    "name": "sdk-ask-tell",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": "random",
    "seed": 5,
    "budget": {"max_trials": 12, "max_parallel": 3},
    "space": {
        "x": {"type": "double", "min": -1.0, "max": 1.0},
        "width": {"type": "int", "min": 16, "max": 256, "scale": "log"},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "double", "min": 0.0, "max": 0.99, "when": {"opt": ["sgd"]}},
    },
}


def test_ask_tell_study_runs_to_its_budget(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study(SPEC)
    rounds = 0
    while trials := study.suggest(3):
        rounds += 1
        assert len(trials) <= 3  # max_parallel
        for trial in trials:
            assert ("momentum" in trial.params) == (trial.params["opt"] == "sgd")
            for step in (1, 2, 3):
                assert trial.report(step, {"loss": quadratic(trial.params) + 1 / step}) is False
            trial.complete()
    assert rounds == 4
    info = study.wait(timeout=10)
    assert info.state == nestor.v1.study_pb2.STUDY_COMPLETED and info.counts.completed == 12
    best = study.best()
    assert best is not None
    done = study.trials(measurements=True)
    assert len(done) == 12 and all(len(t.measurements) == 3 for t in done)
    assert best.final_metrics["loss"] == min(t.final_metrics["loss"] for t in done)
    assert best.final_metrics["loss"] == pytest.approx(quadratic(best.params) + 1 / 3)


def test_ask_tell_errors_are_typed(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study(SPEC)
    (trial,) = study.suggest(1)
    # The SDK refuses a NaN before sending it (the controller would too: tests/test_bad_input.py).
    with pytest.raises(ValueError, match="metric 'loss' is nan"):
        trial.report(1, {"loss": float("nan")})
    trial.fail("out of memory")
    assert study.trial(trial.id).error == "out of memory"
    with pytest.raises(nestor.FailedPrecondition, match="is FAILED"):
        trial.complete({"loss": 1.0})
    with pytest.raises(nestor.NotFound):
        client.get_study("does-not-exist")
    bad = dict(SPEC, space={"x": {"type": "double", "min": 2.0, "max": 1.0}})
    with pytest.raises(nestor.InvalidArgument, match=r"\('x'\): min \(2.0\) is greater than max \(1.0\)"):
        client.create_study(bad)


def test_wait_returns_when_another_client_finishes_the_study(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study(dict(SPEC, budget={"max_trials": 3}))
    waited: list[object] = []
    waiter = threading.Thread(target=lambda: waited.append(client.study(study.id).wait(timeout=30)))
    waiter.start()
    while trials := study.suggest(1):
        trials[0].complete({"loss": quadratic(trials[0].params)})
    waiter.join(30)
    assert waited and waited[0].counts.completed == 3
