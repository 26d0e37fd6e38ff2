"""Several objectives and constraints end to end: a real controller process over gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from cluster import controller_stub, start_controller
from nestor.progress import ProgressModel
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s


def spec(algorithm: str, max_trials: int, settings: dict | None = None) -> s.StudySpec:
    out = s.StudySpec(
        name=f"mo-{algorithm}", seed=11,
        space=sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=0, max=1))
                                         for i in range(3)]),
        objectives=[s.Objective(metric="f1", goal=s.GOAL_MINIMIZE),
                    s.Objective(metric="score", goal=s.GOAL_MAXIMIZE)],
        # x0 <= 0.7 is the feasible region (the unconstrained front spans x0 in [0, 1]).
        constraints=[s.Constraint(metric="x0_measured", max=0.7)],
        algorithm=s.AlgorithmSpec(name=algorithm), budget=s.Budget(max_trials=max_trials))
    out.algorithm.settings.update(settings or {})
    return out


def metrics(t: s.Trial) -> dict[str, float]:
    x = [t.params[f"x{i}"].double_value for i in range(3)]
    g = 1 + 9 * (x[1] + x[2]) / 2
    f2 = g * (1 - (x[0] / g) ** 0.5)
    return {"f1": x[0], "score": -f2, "x0_measured": x[0]}


def run(stub, sid: str, n: int) -> None:
    for _ in range(n):
        (t,) = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id,
                                                  final_measurement=s.Measurement(metrics=metrics(t))))


@pytest.mark.parametrize("algorithm", ["nsga2", "tpe", "gp"])
def test_front_hypervolume_and_infeasible_flags_survive_a_restart(tmp_path: Path, algorithm: str) -> None:
    settings = {"nsga2": {"population_size": 6}, "tpe": {"n_initial": 6}, "gp": {"n_initial": 6}}[algorithm]
    ctl = start_controller(tmp_path)
    try:
        stub = controller_stub(ctl.address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec(algorithm, 16, settings))).id
        run(stub, sid, 10)
        before = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        ctl.kill()
        ctl = start_controller(tmp_path)
        stub = controller_stub(ctl.address)
        after = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        assert after.HasField("hypervolume") and after.hypervolume == before.hypervolume > 0
        assert list(after.reference_point) == list(before.reference_point) and len(after.reference_point) == 2
        run(stub, sid, 6)
        study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_COMPLETED and study.hypervolume >= before.hypervolume
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
        flagged = {t.id for t in trials if t.infeasible}
        assert flagged == {t.id for t in trials if t.final_measurement.metrics["x0_measured"] > 0.7}
        front = stub.GetBestTrials(c.GetBestTrialsRequest(study_id=sid)).trials
        assert front and not {t.id for t in front} & flagged
        # The progress view follows the hypervolume the trial-end events carry.
        model = ProgressModel.for_study(study)
        rows = [row for ev in stub.WatchStudy(c.WatchStudyRequest(study_id=sid)) if (row := model.apply(ev))]
        assert model.hypervolume == study.hypervolume and "(hypervolume " in model.line(rows[-1])
    finally:
        ctl.stop()


def test_constraints_are_checked_where_they_enter(stub) -> None:
    bad = spec("cmaes", 10)
    bad.objectives.pop()
    with pytest.raises(grpc.RpcError) as e:
        stub.CreateStudy(c.CreateStudyRequest(spec=bad))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "spec.constraints" in e.value.details()
    for constraint, where in [(s.Constraint(metric="m"), "spec.constraints[0]"),
                              (s.Constraint(metric="m", min=2, max=1), "min (2) is greater than max"),
                              (s.Constraint(metric="m", max=float("nan")), "spec.constraints[0].max")]:
        bad = spec("random", 10)
        del bad.constraints[:]
        bad.constraints.append(constraint)
        with pytest.raises(grpc.RpcError) as e:
            stub.CreateStudy(c.CreateStudyRequest(spec=bad))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and where in e.value.details()


def test_a_result_without_its_constraint_metric_is_refused_naming_it(stub) -> None:
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec("random", 4))).id
    (t,) = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials
    with pytest.raises(grpc.RpcError) as e:
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id, final_measurement=s.Measurement(
            metrics={"f1": 0.5, "score": 0.1})))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "constraint metric 'x0_measured'" in e.value.details()
