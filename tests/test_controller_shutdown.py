"""SIGTERM on the controller: it flushes what it acknowledged and exits cleanly."""

from __future__ import annotations

from pathlib import Path

from cluster import controller_stub, start_controller
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s


def test_sigterm_flushes_every_acknowledged_change_even_with_durability_off(tmp_path: Path) -> None:
    # With durability off a call is answered before its commit: only the shutdown flush saves the tail.
    ctl = start_controller(tmp_path, "--durability", "off")
    stub = controller_stub(ctl.address)
    spec = s.StudySpec(
        name="flush", seed=4, objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)],
        space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
        budget=s.Budget(max_trials=1000))
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    told = {}
    for _ in range(300):
        (t,) = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials
        y = t.params["x"].double_value ** 2
        stub.ReportMeasurement(c.ReportMeasurementRequest(
            study_id=sid, trial_id=t.id, measurement=s.Measurement(step=1, metrics={"y": y})))
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id))
        told[t.id] = y
    assert ctl.stop() == 0

    ctl = start_controller(tmp_path)
    try:
        stub = controller_stub(ctl.address)
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
        assert {t.id: t.final_measurement.metrics["y"] for t in trials} == told
        assert all(t.state == s.TRIAL_COMPLETED and len(t.measurements) == 1 for t in trials)
        assert stub.GetStudy(c.GetStudyRequest(study_id=sid)).counts.completed == 300
    finally:
        ctl.stop()
