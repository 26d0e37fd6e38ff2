"""Bilevel strategies through real processes: outer variables held, stepped and persisted by the controller.

Client-driven trials stream their gradients with ReportOuterGradient; managed DARTS searches stream
theirs over RunTrial from `darts_search` on an executor, with tiny networks so each runs in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from nestor import genotype as gt
from nestor.v1 import controller_pb2 as c
from nestor.v1 import executor_pb2 as x
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor_controller.bilevel.derive import derive_scored
from test_sdk_cli import nestor as run_nestor

#: A weight-sharing network of 2 cells of 2 channels, 3 steps per epoch: a search in seconds on a CPU.
TINY = {"channels": 2, "layers": 2, "batch_size": 256, "eval_channels": 4, "eval_layers": 2, "eval_epochs": 1}
CELL = sp.SearchSpace(architecture=sp.ArchitectureSpace(cell=sp.CellSpace(num_nodes=4, operations=gt.PRIMITIVES[1:])))


def values(v: x.OuterVariables) -> dict[str, np.ndarray]:
    return {k: np.asarray(t.values).reshape(list(t.shape)) for k, t in v.values.items()}


def wait_ended(stub, sid: str, timeout: float = 240.0) -> s.Study:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        if study.state != s.STUDY_RUNNING:
            return study
        time.sleep(0.2)
    raise TimeoutError(f"study {sid} still running after {timeout} s")


def darts_spec(config: dict, max_trials: int, **settings: object) -> s.StudySpec:
    spec = s.StudySpec(name="darts", trainable="darts_search", seed=11, space=CELL,
                       objectives=[s.Objective(metric="val_accuracy", goal=s.GOAL_MAXIMIZE)],
                       algorithm=s.AlgorithmSpec(name="darts"), budget=s.Budget(max_trials=max_trials))
    spec.trainable_config.update({**TINY, **config})
    spec.algorithm.settings.update(settings)
    return spec


@pytest.fixture
def controller(tmp_path: Path):
    ctl = start_controller(tmp_path)
    yield ctl
    ctl.stop()


def test_client_driven_hypergradient_steps_are_persisted_idempotent_and_bounded(controller) -> None:
    stub = controller_stub(controller.address)
    spec = s.StudySpec(
        name="hg", seed=3, objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
        algorithm=s.AlgorithmSpec(name="hypergrad"), budget=s.Budget(max_trials=1),
        space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=-2, max=2),
                                                      default_value=sp.Value(double_value=1.5))]))
    spec.algorithm.settings.update({"learning_rate": 0.2})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    trial = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    state = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid)).trials[0]
    assert state.strategy == "hypergrad" and state.values.step == 0
    xv = float(values(state.values)["x"])
    assert xv == pytest.approx(1.5, abs=1e-5)
    for i in range(40):  # d/dx (x - 0.5)^2
        grad = x.OuterGradient(step=i, gradients={"x": x.Tensor(values=[2 * (xv - 0.5)])}, metrics={"loss": 1.0})
        out = stub.ReportOuterGradient(c.ReportOuterGradientRequest(study_id=sid, trial_id=trial.id,
                                                                    gradient=grad, request_id=f"g{i}"))
        assert out.step == i + 1
        xv = float(values(out)["x"])
        assert -2 <= xv <= 2
    assert xv == pytest.approx(0.5, abs=0.15)
    again = stub.ReportOuterGradient(c.ReportOuterGradientRequest(study_id=sid, trial_id=trial.id, gradient=grad,
                                                                  request_id="g39"))
    assert again == out, "a retried gradient must return the first answer and not step again"
    with pytest.raises(grpc.RpcError) as e:
        stub.ReportOuterGradient(c.ReportOuterGradientRequest(study_id=sid, trial_id=trial.id, gradient=x.OuterGradient(
            gradients={"y": x.Tensor(values=[1.0])})))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'y' is not an outer variable" in e.value.details()
    state = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid, include_history=True, history_every=10)).trials[0]
    assert state.values.step == 40
    assert [h.step for h in state.history] == [1, 11, 21, 31, 40]
    assert state.summary["hyperparameters"]["x"] == pytest.approx(xv, abs=1e-6)
    # The best trial is shown with the values its training ended with, not where it started.
    stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=trial.id,
                                              final_measurement=s.Measurement(step=40, metrics={"loss": 0.5})))
    shown = json.loads(run_nestor("study", "best", sid, "--json", "--controller", controller.address).stdout)
    assert shown["params"]["x"] == pytest.approx(1.5) and shown["tuned_params"]["x"] == pytest.approx(xv, abs=1e-6)
    assert "tuned by hypergradient, from 1.5" in run_nestor("study", "best", sid, "--controller",
                                                            controller.address).stdout

    other = stub.CreateStudy(c.CreateStudyRequest(spec=s.StudySpec(
        name="r", objectives=spec.objectives, space=spec.space, budget=s.Budget(max_trials=1)))).id
    with pytest.raises(grpc.RpcError) as e:
        stub.GetOuterState(c.GetOuterStateRequest(study_id=other))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_skip_guard_stops_a_search_and_the_evaluation_of_its_genotype_is_the_result(controller) -> None:
    stub = controller_stub(controller.address)
    spec = darts_spec({}, 2, stop_at_skips=3, guard_after=0.0, max_skips=2, learning_rate=0.05)
    spec.ClearField("trainable")
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    search = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=2)).trials
    assert len(search) == 1, "the evaluation waits for its search"
    search = search[0]
    skip = gt.PRIMITIVES.index("skip_connect")
    grad = np.zeros((14, 8))
    grad[:, skip] = -1.0  # every step makes skip connections stronger: the collapse DARTS is known for
    reason = ""
    for i in range(200):
        out = stub.ReportOuterGradient(c.ReportOuterGradientRequest(study_id=sid, trial_id=search.id, gradient=(
            x.OuterGradient(step=i, gradients={n: x.Tensor(shape=[14, 8], values=grad.ravel().tolist())
                                               for n in ("alpha_normal", "alpha_reduce")},
                            metrics={"progress": 0.5}))))
        answer = stub.ReportMeasurement(c.ReportMeasurementRequest(
            study_id=sid, trial_id=search.id, measurement=s.Measurement(step=i + 1, metrics={"progress": 0.5})))
        if answer.decision == s.DECISION_STOP:
            reason = answer.reason
            break
    assert "skip-connection guard" in reason and out.step < 200
    stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=search.id))
    assert stub.GetTrial(c.GetTrialRequest(study_id=sid, trial_id=search.id)).state == s.TRIAL_STOPPED
    evaluation = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=2)).trials[0]
    genotype = gt.from_json(evaluation.params["genotype"].string_value)
    assert evaluation.params["search_trial"].int_value == search.id
    assert gt.count_op(genotype, "skip_connect") == 2, "max_skips caps the derived normal cell"
    state = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid)).trials[0]
    assert state.summary["phase"] == "done" and "skip-connection guard" in state.summary["stopped"]
    assert state.summary["genotype_text"] == gt.describe(genotype)
    stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=evaluation.id, final_measurement=s.Measurement(
        step=1, metrics={"val_accuracy": 0.9})))
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    assert study.state == s.STUDY_COMPLETED
    best = stub.GetBestTrials(c.GetBestTrialsRequest(study_id=sid)).trials
    assert [t.id for t in best] == [evaluation.id]


def test_managed_search_streams_alpha_pipelined_then_its_genotype_is_evaluated(tmp_path: Path, controller) -> None:
    ex = start_executor(tmp_path, controller.address)
    try:
        stub = controller_stub(controller.address)
        wait_for_executors(stub, 1)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=darts_spec({"epochs": 2, "pipelined": True}, 2))).id
        study = wait_ended(stub, sid)
        assert study.state == s.STUDY_COMPLETED, study.reason
        search, evaluation = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
        assert search.state == evaluation.state == s.TRIAL_COMPLETED, (search.error, evaluation.error)
        assert "genotype" not in search.params and "val_accuracy" not in search.final_measurement.metrics
        assert 0.0 <= evaluation.final_measurement.metrics["val_accuracy"] <= 1.0
        assert [t.id for t in stub.GetBestTrials(c.GetBestTrialsRequest(study_id=sid)).trials] == [evaluation.id]
        state = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid, include_history=True)).trials
        assert [t.trial_id for t in state] == [search.id]
        steps = [h.step for h in state[0].history]
        assert steps == list(range(1, 7)), "2 epochs of 3 steps, each applied once"
        # Pipelined: each gradient was computed at most one update behind.
        assert all(h.step - 2 <= h.gradient_step <= h.step - 1 for h in state[0].history)
        assert search.measurements[-1].metrics["outer_step"] >= 5
        assert gt.from_json(evaluation.params["genotype"].string_value) == gt.check(
            _plain(state[0].summary["genotype"]))
    finally:
        ex.stop()


def test_a_search_selecting_by_perturbation_scores_its_operations_and_their_genotype_is_evaluated(
        tmp_path: Path, controller) -> None:
    ex = start_executor(tmp_path, controller.address)
    try:
        stub = controller_stub(controller.address)
        wait_for_executors(stub, 1)
        spec = darts_spec({"epochs": 2, "pipelined": True, "perturbation_images": 64}, 2, selection="perturbation")
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
        study = wait_ended(stub, sid)
        assert study.state == s.STUDY_COMPLETED, study.reason
        search, evaluation = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
        assert search.state == evaluation.state == s.TRIAL_COMPLETED, (search.error, evaluation.error)
        assert search.params["selection"].string_value == "perturbation" and "selection" not in evaluation.params
        state = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid, include_history=True)).trials[0]
        summary = state.summary
        assert summary["selected_by"] == "perturbation"
        # The scores came once, after the last alpha step, and did not move alpha.
        assert [h.step for h in state.history] == [*range(1, 7), 6]
        assert "perturbation_seconds" in state.history[-1].metrics
        assert state.history[-1].values["alpha_normal"].values == state.history[-2].values["alpha_normal"].values
        scores = {f"{kind}_{cell}": np.asarray(summary["perturbation"][cell][kind]) for cell in gt.CELLS
                  for kind in ("op", "edge")}
        assert scores["op_normal"].shape == (14, 8) and np.abs(scores["edge_normal"]).max() > 0
        genotype = gt.from_json(evaluation.params["genotype"].string_value)
        assert genotype == gt.check(_plain(summary["genotype"])) == derive_scored(scores, 4)
        text = cli_outer(controller.address, sid)
        assert "genotype (selected by perturbation):" in text
        assert "normal cell: loss rise when an operation (or the whole edge) is removed" in text
        assert "whole edge" in text and "5 <- 4" in text
    finally:
        ex.stop()


def _plain(struct_value: object) -> dict:
    """A Struct's genotype back as plain JSON (numbers come back as floats)."""
    d = dict(struct_value)  # type: ignore[call-overload]
    return {k: [int(i) for i in v] if k.endswith("_concat") else [[op, int(j)] for op, j in v] for k, v in d.items()}


def test_a_search_whose_executor_is_killed_resumes_elsewhere_with_the_controllers_alpha(tmp_path: Path,
                                                                                         controller) -> None:
    stub = controller_stub(controller.address)
    first = start_executor(tmp_path, controller.address, name="first")
    second = None
    try:
        wait_for_executors(stub, 1)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=darts_spec({"epochs": 3}, 1, evaluations=0))).id
        deadline = time.monotonic() + 120
        while not stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials[0].measurements:
            assert time.monotonic() < deadline, "the search never finished its first epoch"
            time.sleep(0.05)
        first.kill()  # SIGKILL: the executor and its worker, mid-search, after the first checkpoint
        while stub.GetTrial(c.GetTrialRequest(study_id=sid, trial_id=1)).state != s.TRIAL_PENDING:
            assert time.monotonic() < deadline, "the search was not requeued"
            time.sleep(0.05)
        held = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid)).trials[0].values
        assert held.step >= 3
        second = start_executor(tmp_path, controller.address, name="second")
        study = wait_ended(stub, sid)
        assert study.state == s.STUDY_COMPLETED, study.reason
        trial = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials[0]
        assert trial.state == s.TRIAL_COMPLETED and trial.attempt == 2
        assert [m.step for m in trial.measurements] == [1, 2, 3]
        resumed = [m for m in trial.measurements if m.metrics["attempt_start_epoch"] >= 1]
        assert resumed, "the second attempt started from the first one's weight checkpoint"
        history = stub.GetOuterState(c.GetOuterStateRequest(study_id=sid, include_history=True)).trials[0].history
        assert [h.step for h in history] == list(range(1, len(history) + 1)), "alpha was never reset"
        at_loss = next(h for h in history if h.step == held.step)
        assert at_loss.attempt == 1
        for name, held_values in values(held).items():
            np.testing.assert_allclose(values(at_loss)[name], held_values)
        after = next(h for h in history if h.step == held.step + 1)
        # The second executor's first gradient was computed at exactly the alpha the controller held.
        assert after.attempt == 2 and after.gradient_step == held.step
    finally:
        first.kill()
        if second is not None:
            second.stop()


def cli_outer(address: str, study_id: str, *args: str) -> str:
    """What `nestor study outer` prints."""
    out = subprocess.run([sys.executable, "-m", "nestor", "--controller", address, "study", "outer", study_id, *args],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_sdk_streams_outer_gradients_and_the_cli_shows_alpha(controller) -> None:
    import json

    import nestor

    client = nestor.Client(controller.address)
    spec = darts_spec({}, 2)
    spec.ClearField("trainable")
    study = client.create_study(spec)
    (trial,) = study.suggest(1)
    alpha = trial.outer()
    assert sorted(alpha) == ["alpha_normal", "alpha_reduce"] and len(alpha["alpha_normal"]) == 14
    skip = gt.PRIMITIVES.index("skip_connect")
    grad = [[-1.0 if k == skip else 0.0 for k in range(8)] for _ in range(14)]
    after = trial.send_outer_grad({"alpha_normal": grad, "alpha_reduce": np.zeros((14, 8))}, {"val_loss": 2.0})
    assert after["alpha_normal"][0][skip] > alpha["alpha_normal"][0][skip]

    def cli(*args: str) -> str:
        return cli_outer(controller.address, study.id, *args)

    text = cli("--history")
    assert "softmax(alpha_normal) per edge" in text and "5 <- 4" in text and "skip_connect" in text
    assert "genotype (selected by alpha):" in text and "outer steps" in text
    (data,) = json.loads(cli("--json", "--history"))
    assert data["step"] == 1 and data["history"][0]["metrics"] == {"val_loss": 2.0}
    assert data["summary"]["genotype"]["normal"][0][0] == "skip_connect"
