"""Managed studies: a real controller dispatching to real executor processes."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s


def watch(stub, sid: str) -> list[c.StudyEvent]:
    return list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=240))


def branin(max_trials: int, parallel: int) -> s.StudySpec:
    spec = s.StudySpec(
        name="branin", trainable="synthetic", seed=3,
        space=sp.SearchSpace(parameters=[sp.Parameter(name="x0", double=sp.DoubleDomain(min=-5, max=10)),
                                         sp.Parameter(name="x1", double=sp.DoubleDomain(min=0, max=15))]),
        objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
        budget=s.Budget(max_trials=max_trials, max_parallel=parallel))
    spec.trainable_config.update({"function": "branin", "sleep_s": 0.05})
    return spec


@pytest.fixture
def cluster2(tmp_path: Path):
    ctl = start_controller(tmp_path)
    extra = ("flaky=managed_trainables:flaky", "curve=managed_trainables:curve")
    executors = [start_executor(tmp_path, ctl.address, name=f"executor{i}", trainables=extra) for i in range(2)]
    stub = controller_stub(ctl.address)
    wait_for_executors(stub, 2)
    yield ctl, executors, stub
    for e in executors:
        e.stop()
    ctl.stop()


def test_managed_study_runs_to_budget_in_parallel_on_two_executors(cluster2) -> None:
    _, executors, stub = cluster2
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=branin(10, 2))).id
    events = watch(stub, sid)
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    assert study.state == s.STUDY_COMPLETED, study.reason
    assert study.counts.completed == 10 and study.counts.failed == 0
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
    assert sorted(t.id for t in trials) == list(range(1, 11))
    assert {t.executor for t in trials} == {e.address for e in executors}
    assert max(e.counts.running for e in events) == 2  # both slots busy at once, never more than max_parallel
    for t in trials:
        assert t.final_measurement.metrics["value"] >= 0.397887 - 1e-6  # Branin's minimum
    best = stub.GetBestTrials(c.GetBestTrialsRequest(study_id=sid)).trials[0]
    assert best.final_measurement.metrics["value"] == min(t.final_measurement.metrics["value"] for t in trials)


def test_failing_trainables_fail_only_their_trial(cluster2) -> None:
    _, executors, stub = cluster2
    modes = ["raise", "exit", "hang", "nan", "ok"]
    spec = s.StudySpec(
        name="flaky", trainable="flaky", trial_timeout_s=8.0,
        space=sp.SearchSpace(parameters=[sp.Parameter(name="mode", categorical=sp.CategoricalDomain(
            choices=[sp.Value(string_value=m) for m in modes]))]),
        objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)],
        algorithm=s.AlgorithmSpec(name="grid"), budget=s.Budget(max_parallel=1, max_failed=10))
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    watch(stub, sid)
    trials = {t.params["mode"].string_value: t for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials}
    assert trials["raise"].state == s.TRIAL_FAILED and "the model diverged on purpose" in trials["raise"].error
    assert trials["exit"].state == s.TRIAL_FAILED and "code 7" in trials["exit"].error
    assert trials["hang"].state == s.TRIAL_FAILED and "deadline" in trials["hang"].error
    assert trials["nan"].state == s.TRIAL_FAILED and "'y'" in trials["nan"].error
    assert trials["ok"].state == s.TRIAL_COMPLETED  # the executor kept serving after every failure
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    assert study.state == s.STUDY_COMPLETED and "exhausted" in study.reason
    assert all(e.alive() for e in executors)


def test_unknown_trainable_is_rejected_when_executors_are_known(cluster2) -> None:
    _, _, stub = cluster2
    spec = branin(2, 1)
    spec.trainable = "resnet9000"
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateStudy(c.CreateStudyRequest(spec=spec))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no executor serves trainable 'resnet9000'" in err.value.details()
    assert "synthetic" in err.value.details()


def test_median_rule_stops_bad_curves(cluster2) -> None:
    _, _, stub = cluster2
    spec = s.StudySpec(
        name="median", trainable="curve", algorithm=s.AlgorithmSpec(name="grid"),
        space=sp.SearchSpace(parameters=[sp.Parameter(name="quality", categorical=sp.CategoricalDomain(
            choices=[sp.Value(double_value=q) for q in (0.9, 0.8, 0.85, 0.88, 0.1, 0.2)]))]),
        objectives=[s.Objective(metric="acc", goal=s.GOAL_MAXIMIZE)], fidelity=s.Fidelity(name="step", min=1, max=10),
        scheduler=s.SchedulerSpec(name="median"), budget=s.Budget(max_parallel=1))
    spec.scheduler.settings.update({"min_steps": 2, "min_trials": 3})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    events = watch(stub, sid)
    trials = {t.params["quality"].double_value: t
              for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials}
    for q in (0.9, 0.8, 0.85, 0.88):
        assert trials[q].state == s.TRIAL_COMPLETED and len(trials[q].measurements) == 10
    for q in (0.1, 0.2):
        assert trials[q].state == s.TRIAL_STOPPED
        assert "median rule" in trials[q].stop_reason
        assert len(trials[q].measurements) < 10
    decisions = [e for e in events if e.type == c.STUDY_EVENT_TRIAL_DECISION]
    assert len(decisions) == 2 and all("median rule" in e.message for e in decisions)


def test_every_fast_report_is_recorded_once_in_order(cluster2) -> None:
    # The executor sends reports that outrun the stream in batches; each is recorded and decided as if alone.
    _, _, stub = cluster2
    spec = s.StudySpec(
        name="fast", trainable="noop", space=sp.SearchSpace(parameters=[
            sp.Parameter(name="w", double=sp.DoubleDomain(min=0, max=1))]),
        objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)], budget=s.Budget(max_trials=4, max_parallel=2))
    spec.trainable_config.update({"steps": 1000})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    events = watch(stub, sid)
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    assert [t.state for t in trials] == [s.TRIAL_COMPLETED] * 4
    for t in trials:
        assert [m.step for m in t.measurements] == list(range(1, 1001))
        reported = [e.measurement.step for e in events
                    if e.type == c.STUDY_EVENT_TRIAL_MEASUREMENT and e.trial_id == t.id]
        assert reported == list(range(1, 1001))


def test_watchers_see_every_event_in_order_with_durability_off(tmp_path: Path) -> None:
    """Without durability nothing waits for the store, so a commit queued for later (a batch of reports) and
    one awaited at once (the trial's end) must still reach watchers in their order, none skipped."""
    ctl = start_controller(tmp_path, "--durability", "off")
    ex = start_executor(tmp_path, ctl.address, slots=2)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1)
        spec = s.StudySpec(
            name="fast", trainable="noop", space=sp.SearchSpace(parameters=[
                sp.Parameter(name="w", double=sp.DoubleDomain(min=0, max=1))]),
            objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
            budget=s.Budget(max_trials=6, max_parallel=2))
        spec.trainable_config.update({"steps": 300})
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
        events = watch(stub, sid)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials:
            reported = [e.measurement.step for e in events
                        if e.type == c.STUDY_EVENT_TRIAL_MEASUREMENT and e.trial_id == t.id]
            assert reported == [m.step for m in t.measurements] == list(range(1, 301))
    finally:
        ex.stop()
        ctl.stop()


def test_lost_executor_trials_go_back_to_the_queue(cluster2) -> None:
    _, executors, stub = cluster2
    spec = branin(8, 2)
    spec.trainable_config.update({"sleep_s": 0.5})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    for ev in stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=120):
        if ev.type == c.STUDY_EVENT_TRIAL_STARTED and ev.trial.executor == executors[0].address:
            break
    executors[0].kill()
    watch(stub, sid)
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    assert study.state == s.STUDY_COMPLETED and study.counts.completed == 8
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
    assert len(trials) == 8 and all(t.state == s.TRIAL_COMPLETED for t in trials)
    assert any(t.attempt > 1 for t in trials)


def test_two_one_slot_executors_are_both_busy_at_once(cluster2) -> None:
    """Dispatch fills idle slots across executors before any backlog: with max_parallel 2 the first two trials
    go to different executors, not one running and one waiting behind it."""
    _, _, stub = cluster2
    spec = branin(4, 2)
    spec.trainable_config.update({"sleep_s": 0.5})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    events = watch(stub, sid)
    started = [e.trial for e in events if e.type == c.STUDY_EVENT_TRIAL_STARTED]
    first_two = {t.id: t.executor for t in started[:2]}
    assert sorted(first_two) == [1, 2] and len(set(first_two.values())) == 2, first_two
