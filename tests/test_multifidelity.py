"""Multi-fidelity studies over real processes: Hyperband by ask/tell, ASHA and promotions on executors."""

from __future__ import annotations

import itertools

import pytest
from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

END_OF_RUN = {c.STUDY_EVENT_TRIAL_PAUSED, c.STUDY_EVENT_TRIAL_COMPLETED, c.STUDY_EVENT_TRIAL_STOPPED}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("multifidelity")
    ctl = start_controller(tmp)
    executors = [start_executor(tmp, ctl.address, name=f"executor{i}",
                                trainables=["resumable=multifidelity_trainables:resumable"]) for i in range(2)]
    stub = controller_stub(ctl.address)
    wait_for_executors(stub, 2)
    yield stub
    for e in executors:
        e.stop()
    ctl.stop()


def spec(scheduler: str, max_trials: int, *, trainable: str = "", **settings: object) -> s.StudySpec:
    out = s.StudySpec(
        # Random search: these tests are about the schedulers (and a slot must not wait for a model's suggestion).
        name=scheduler, seed=11, trainable=trainable, algorithm=s.AlgorithmSpec(name="random"),
        space=sp.SearchSpace(parameters=[sp.Parameter(name="quality", double=sp.DoubleDomain(min=0, max=1))]),
        objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
        scheduler=s.SchedulerSpec(name=scheduler), fidelity=s.Fidelity(name="epoch", min=1, max=9),
        budget=s.Budget(max_trials=max_trials))
    out.scheduler.settings.update(settings)
    return out


def loss(quality: float, step: int) -> float:
    return quality + 1.0 / step


def test_hyperband_brackets_rungs_and_promotions_by_ask_tell(cluster) -> None:
    stub = cluster
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec("hyperband", 17))).id
    ids = itertools.count()
    first_budget: dict[int, float] = {}
    while True:
        got = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1, request_id=f"s{next(ids)}"))
        if not got.trials:
            break
        t = got.trials[0]
        first_budget.setdefault(t.id, t.budget)
        q = t.params["quality"].double_value
        # A promoted trial comes back as itself with a larger budget; it sends its whole curve again
        # (as a trainable that restarted would), and the controller keeps the first copy of each step.
        for step in range(1, 10):
            answer = stub.ReportMeasurement(c.ReportMeasurementRequest(
                study_id=sid, trial_id=t.id, measurement=s.Measurement(step=step, metrics={"loss": loss(q, step)})))
            if answer.decision == s.DECISION_STOP:
                assert step == t.budget and "the budget it was given is used" in answer.reason
                break
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id))
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    assert study.state == s.STUDY_COMPLETED and study.counts.completed + study.counts.stopped == 17
    trials = {t.id: t for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials}
    # Brackets s=2, 1, 0 of eta=3 over 1..9 epochs: 9 trials at 1 epoch, 5 at 3, 3 at 9.
    assert [first_budget[i] for i in range(1, 18)] == [1] * 9 + [3] * 5 + [9] * 3
    q = {i: t.params["quality"].double_value for i, t in trials.items()}
    best = lambda ids, n: sorted(ids, key=lambda i: (q[i], i))[:n]  # noqa: E731
    rung1 = best(range(1, 10), 3)
    top1 = best(rung1, 1) + best(range(10, 15), 1)
    expected_budget = {i: 9 if i in top1 or i >= 15 else 3 if i in rung1 or 10 <= i <= 14 else 1 for i in trials}
    assert {i: t.budget for i, t in trials.items()} == expected_budget
    for t in trials.values():
        assert [m.step for m in t.measurements] == list(range(1, int(t.budget) + 1))  # no step stored twice
        assert t.state == (s.TRIAL_COMPLETED if t.budget == 9 else s.TRIAL_STOPPED)
        if t.state == s.TRIAL_STOPPED:
            assert t.decision == t.stop_reason and "hyperband: not promoted from rung" in t.decision
    assert trials[rung1[0]].attempt >= 1
    events = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=30))
    kinds = [e.type for e in events]
    assert kinds.count(c.STUDY_EVENT_TRIAL_PROMOTED) == 3 + 1 + 1
    assert kinds.count(c.STUDY_EVENT_TRIAL_PAUSED) == 9 + 3 + 5
    promoted = [e for e in events if e.type == c.STUDY_EVENT_TRIAL_PROMOTED]
    assert "promoted to rung 1 (epoch 3): 1st of 9 at rung 0, bracket 1 (s=2): the best 3 go on" in promoted[0].message


def test_asha_keeps_every_slot_busy_and_promotions_resume(cluster) -> None:
    stub = cluster
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec("asha", 12, trainable="resumable"))).id
    events = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=240))
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    assert study.state == s.STUDY_COMPLETED, study.reason
    assert study.counts.completed >= 1 and study.counts.completed + study.counts.stopped == 12
    # While trials could still be created, a slot never waited: both executors always had a trial (the
    # executors' backlog holds one more each, so a run that ends is followed at once by the next).
    created = 0
    for e in events:
        created += e.type == c.STUDY_EVENT_TRIAL_CREATED
        if e.type == c.STUDY_EVENT_TRIAL_MEASUREMENT and created < 12:
            assert e.counts.running >= 2
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    promoted = [t for t in trials if t.budget > 1]
    assert promoted
    for t in promoted:
        steps = [m.step for m in t.measurements]
        assert steps == list(range(1, int(t.budget) + 1))
        # Resumed from its checkpoint: the first step after each rung was the first one that run computed.
        for rung in (1, 3):
            if t.budget > rung:
                assert t.measurements[rung].metrics["fresh"] == 1.0
    assert all(t.decision for t in trials)
    assert any(e.type == c.STUDY_EVENT_TRIAL_PROMOTED and "promoted to rung 1 (epoch 3)" in e.message
               for e in events)


def test_restart_promotions_start_the_trial_over(cluster) -> None:
    stub = cluster
    spec_ = spec("successive_halving", 9, trainable="resumable", promotion="restart", n_configs=9)
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec_)).id
    list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=240))
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    top = [t for t in trials if t.budget == 9]
    assert len(top) == 1 and top[0].state == s.TRIAL_COMPLETED and top[0].attempt == 3
    ms = top[0].measurements
    assert [m.step for m in ms] == list(range(1, 10))
    # Each promoted run started over: its first new step was its (step)th computed step.
    assert ms[1].metrics["fresh"] == 2.0 and ms[3].metrics["fresh"] == 4.0
    assert [m.metrics["attempt"] for m in ms] == [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]


def test_learning_curve_decision_in_the_answer_the_trial_and_the_events(cluster) -> None:
    stub = cluster
    spec_ = spec("learning_curve", 2)
    spec_.fidelity.max = 30
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec_)).id
    curves = [lambda k: 0.1 + 0.8 * k ** -0.7, lambda k: 0.6 + 0.4 * 2.718 ** (-k / 2)]  # good, then flat at 0.6
    answers = []
    for curve in curves:
        t = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
        for step in range(1, 31):
            answer = stub.ReportMeasurement(c.ReportMeasurementRequest(
                study_id=sid, trial_id=t.id, measurement=s.Measurement(step=step, metrics={"loss": curve(step)})))
            if answer.decision == s.DECISION_STOP:
                break
        answers.append((step, answer))
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id))
    assert answers[0][0] == 30 and answers[0][1].decision == s.DECISION_CONTINUE  # the good curve ran to the end
    step, answer = answers[1]
    assert step < 10 and "learning curve: P(" in answer.reason
    bad = stub.GetTrial(c.GetTrialRequest(study_id=sid, trial_id=2))
    assert bad.state == s.TRIAL_STOPPED and bad.stop_reason == bad.decision == answer.reason
    events = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=30))
    assert [e.message for e in events if e.type == c.STUDY_EVENT_TRIAL_DECISION] == [answer.reason]
