"""Client-driven studies over raw gRPC: events, restart, idempotent retries (real controller process)."""

from __future__ import annotations

from pathlib import Path

from cluster import controller_stub, start_controller
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

E = c


def branin_spec(max_trials: int, seed: int = 7) -> s.StudySpec:
    return s.StudySpec(
        name="branin", seed=seed,
        space=sp.SearchSpace(parameters=[
            sp.Parameter(name="x0", double=sp.DoubleDomain(min=-5, max=10)),
            sp.Parameter(name="x1", double=sp.DoubleDomain(min=0, max=15))]),
        objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)], budget=s.Budget(max_trials=max_trials))


def f(t: s.Trial) -> float:
    return (t.params["x0"].double_value - 1) ** 2 + (t.params["x1"].double_value - 2) ** 2


def run_trials(stub, sid: str, n: int) -> None:
    for _ in range(n):
        (t,) = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials
        for step in (1, 2):
            stub.ReportMeasurement(c.ReportMeasurementRequest(
                study_id=sid, trial_id=t.id, measurement=s.Measurement(step=step, metrics={"y": f(t) + 1 / step})))
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id))


def test_watch_streams_every_event_of_the_study(stub) -> None:
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=branin_spec(4))).id
    run_trials(stub, sid, 3)
    live = stub.WatchStudy(c.WatchStudyRequest(study_id=sid))
    run_trials(stub, sid, 1)
    events = list(live)  # ends with the study
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == E.STUDY_EVENT_STUDY_CREATED and types[-1] == E.STUDY_EVENT_STUDY_ENDED
    for trial_id in range(1, 5):
        mine = [e.type for e in events if e.trial_id == trial_id]
        assert mine == [E.STUDY_EVENT_TRIAL_CREATED, E.STUDY_EVENT_TRIAL_STARTED, E.STUDY_EVENT_TRIAL_MEASUREMENT,
                        E.STUDY_EVENT_TRIAL_MEASUREMENT, E.STUDY_EVENT_TRIAL_COMPLETED]
    ended = events[-1]
    assert ended.study_state == s.STUDY_COMPLETED and ended.counts.completed == 4
    measured = [e for e in events if e.type == E.STUDY_EVENT_TRIAL_MEASUREMENT]
    assert [e.measurement.step for e in measured] == [1, 2] * 4
    # A late watcher replays the same history from any point.
    replay = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid, after_seq=5)))
    assert [e.seq for e in replay] == seqs[5:]


def test_batched_watch_sends_the_same_events_several_to_a_message(stub) -> None:
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=branin_spec(4))).id
    run_trials(stub, sid, 3)
    live = stub.WatchStudyBatches(c.WatchStudyRequest(study_id=sid))
    run_trials(stub, sid, 1)
    batches = [list(b.events) for b in live]  # ends with the study
    one_by_one = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid)))
    flat = [e for b in batches for e in b]
    assert [e.SerializeToString(deterministic=True) for e in flat] == \
        [e.SerializeToString(deterministic=True) for e in one_by_one]
    # The stored history comes as one message; the last trial's end and the study's (one commit) as another.
    assert [e.seq for e in batches[0]] == list(range(1, len(batches[0]) + 1)) and len(batches[0]) > 10
    assert [e.type for e in batches[-1]] == [E.STUDY_EVENT_TRIAL_COMPLETED, E.STUDY_EVENT_STUDY_ENDED]
    assert all(b for b in batches)
    replay = [e.seq for b in stub.WatchStudyBatches(c.WatchStudyRequest(study_id=sid, after_seq=5)) for e in b.events]
    assert replay == [e.seq for e in one_by_one][5:]


def test_study_survives_controller_kill_and_continues(tmp_path: Path, store_url: str) -> None:
    ctl = start_controller(tmp_path, store=store_url)
    stub = controller_stub(ctl.address)
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=branin_spec(6))).id
    run_trials(stub, sid, 3)
    held = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    before = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    ctl.kill()

    ctl = start_controller(tmp_path, store=store_url)
    try:
        stub = controller_stub(ctl.address)
        after = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
        # Deterministic bytes: a map (params, metrics) otherwise serialises in no fixed order.
        assert [t.SerializeToString(deterministic=True) for t in after] == \
            [t.SerializeToString(deterministic=True) for t in before]
        # The client still holds its trial and can finish it.
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=held.id,
                                                  final_measurement=s.Measurement(metrics={"y": f(held)})))
        run_trials(stub, sid, 2)
        study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_COMPLETED and study.counts.completed == 6
        ids = [t.id for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials]
        assert ids == [1, 2, 3, 4, 5, 6]
        events = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid)))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
    finally:
        ctl.stop()


def test_same_seed_gives_same_suggestions_across_a_restart(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path / "a")
    stub = controller_stub(ctl.address)
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=branin_spec(6, seed=42))).id
    run_trials(stub, sid, 6)
    straight = [dict(t.params) for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials]
    ctl.stop()

    ctl = start_controller(tmp_path / "b")
    sid = controller_stub(ctl.address).CreateStudy(c.CreateStudyRequest(spec=branin_spec(6, seed=42))).id
    for _ in range(3):
        run_trials(controller_stub(ctl.address), sid, 2)
        ctl.kill()
        ctl = start_controller(tmp_path / "b")
    trials = controller_stub(ctl.address).ListTrials(c.ListTrialsRequest(study_id=sid)).trials
    resumed = [dict(t.params) for t in trials]
    ctl.stop()
    assert resumed == straight


def test_retried_calls_with_the_same_request_id_change_nothing(stub) -> None:
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=branin_spec(4))).id
    ask = c.SuggestTrialsRequest(study_id=sid, count=1, request_id="ask-1")
    first, again = stub.SuggestTrials(ask), stub.SuggestTrials(ask)
    assert first == again
    tid = first.trials[0].id
    report = c.ReportMeasurementRequest(study_id=sid, trial_id=tid, request_id="rep-1",
                                        measurement=s.Measurement(step=1, metrics={"y": 3.0}))
    stub.ReportMeasurement(report)
    stub.ReportMeasurement(report)
    done = c.CompleteTrialRequest(study_id=sid, trial_id=tid, request_id="done-1")
    assert stub.CompleteTrial(done) == stub.CompleteTrial(done)
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    assert len(trials) == 1 and len(trials[0].measurements) == 1


def test_retry_after_a_controller_crash_returns_the_first_answer(tmp_path: Path, store_url: str) -> None:
    ctl = start_controller(tmp_path, store=store_url)
    stub = controller_stub(ctl.address)
    create = c.CreateStudyRequest(spec=branin_spec(5), request_id="create-1")
    sid = stub.CreateStudy(create).id
    ask = c.SuggestTrialsRequest(study_id=sid, count=2, request_id="ask-1")
    first = stub.SuggestTrials(ask)
    tid = first.trials[0].id
    report = c.ReportMeasurementRequest(study_id=sid, trial_id=tid, request_id="rep-1",
                                        measurement=s.Measurement(step=1, metrics={"y": 3.0}))
    answered = stub.ReportMeasurement(report)
    done = c.CompleteTrialRequest(study_id=sid, trial_id=tid, request_id="done-1")
    completed = stub.CompleteTrial(done)
    ctl.kill()

    ctl = start_controller(tmp_path, store=store_url)
    try:
        stub = controller_stub(ctl.address)
        assert stub.CreateStudy(create).id == sid
        assert [t.id for t in stub.SuggestTrials(ask).trials] == [t.id for t in first.trials]
        assert stub.ReportMeasurement(report) == answered
        assert stub.CompleteTrial(done).id == completed.id
        assert len(stub.ListStudies(c.ListStudiesRequest(include_finished=True)).studies) == 1
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
        assert len(trials) == 2 and len(trials[0].measurements) == 1
    finally:
        ctl.stop()
