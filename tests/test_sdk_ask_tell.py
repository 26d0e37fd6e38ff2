"""A client-driven study from the Python SDK against a real controller process (no executor)."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import nestor
import pytest
from cluster import Server, controller_stub, start_controller
from nestor.v1 import controller_pb2, study_pb2


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


def test_deferred_reports_go_with_the_result_in_one_call_and_survive_a_restart(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    try:
        client = nestor.Client(ctl.address)
        study = client.create_study(dict(SPEC, budget={"max_trials": 2}))
        trial, failing = study.suggest(2)
        for step in (1, 2, 3):
            assert trial.report(step, {"loss": 1.0 / step}, defer=True) is False
        assert not study.trial(trial.id).measurements  # kept by the client until the result
        trial.complete()
        failing.report(1, {"loss": 9.0}, defer=True)
        failing.fail("diverged")
    finally:
        ctl.stop()
    ctl = start_controller(tmp_path)  # the same store: what the answers said was committed
    try:
        study = nestor.Client(ctl.address).study(study.id)
        done = study.trial(trial.id)
        assert done.state == nestor.v1.study_pb2.TRIAL_COMPLETED
        assert [(m.step, m.metrics["loss"]) for m in done.measurements] == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
        elapsed = [m.elapsed_s for m in done.measurements]
        assert elapsed == sorted(elapsed) and elapsed[0] >= 0.0  # each taken when it was reported
        assert done.final_metrics["loss"] == pytest.approx(1 / 3)  # no metrics given: the last report
        failed = study.trial(failing.id)
        assert failed.error == "diverged" and [m.step for m in failed.measurements] == [1]
    finally:
        ctl.stop()


def test_measurements_told_with_the_result_are_checked_whole_first(controller: Server) -> None:
    client = nestor.Client(controller.address)
    stub = controller_stub(controller.address)
    early = client.create_study(dict(SPEC, name="median", scheduler={"name": "median"}))
    (trial,) = early.suggest(1)
    with pytest.raises(nestor.FailedPrecondition, match=r"stops trials early \(scheduler median\)"):
        trial.report(1, {"loss": 1.0}, defer=True)  # the SDK knows from the spec: nothing is kept
    with pytest.raises(grpc.RpcError) as e:  # and the controller refuses it from any client
        stub.CompleteTrial(controller_pb2.CompleteTrialRequest(study_id=early.id, trial_id=trial.id,
                                                               measurements=[study_pb2.Measurement(step=1)]))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "stops trials early (scheduler median)" in e.value.details() and "ReportMeasurement" in e.value.details()
    plain = client.create_study(SPEC)
    (other,) = plain.suggest(1)

    def m(step: int, loss: float) -> study_pb2.Measurement:
        return study_pb2.Measurement(step=step, metrics={"loss": loss})

    bad = {"steps must increase": [m(2, 1.0), m(1, 0.5)], "'loss' at step 2 is nan": [m(1, 1.0), m(2, float("nan"))],
           "10001 measurements exceed the limit of 10000": [m(i, 1.0) for i in range(1, 10_002)],
           "lacks objective metric 'loss'": [study_pb2.Measurement(step=1, metrics={"acc": 0.9})]}
    for message, measurements in bad.items():
        with pytest.raises(grpc.RpcError) as e:
            stub.CompleteTrial(controller_pb2.CompleteTrialRequest(study_id=plain.id, trial_id=other.id,
                                                                   measurements=measurements))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in e.value.details(), e.value.details()
    # A refused call changed nothing: both trials still run, with no measurement.
    for study, t in ((early, trial), (plain, other)):
        now = study.trial(t.id)
        assert now.state == nestor.v1.study_pb2.TRIAL_RUNNING and not now.measurements
