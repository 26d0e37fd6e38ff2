"""Every bad input gets a precise gRPC error and changes nothing (real controller process)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import grpc
import pytest
from cluster import controller_stub, start_controller
from nestor.v1 import controller_pb2 as c
from nestor.v1 import controller_pb2_grpc
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s


def double(name: str, lo: float, hi: float, log: bool = False) -> sp.Parameter:
    return sp.Parameter(name=name, double=sp.DoubleDomain(min=lo, max=hi, scale=sp.SCALE_LOG if log else 0))


def cat(name: str, *choices: str, when: dict[str, list[str]] | None = None) -> sp.Parameter:
    p = sp.Parameter(name=name, categorical=sp.CategoricalDomain(choices=[sp.Value(string_value=x) for x in choices]))
    for parent, values in (when or {}).items():
        p.conditions.add(parent=parent, values=[sp.Value(string_value=v) for v in values])
    return p


def spec(*params: sp.Parameter, **kw: object) -> s.StudySpec:
    out = s.StudySpec(name="t", space=sp.SearchSpace(parameters=params),
                      objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)], budget=s.Budget(max_trials=4))
    for k, v in kw.items():
        if isinstance(v, s.Budget | s.AlgorithmSpec | s.SchedulerSpec | s.Fidelity):
            getattr(out, k).CopyFrom(v)
        elif k == "labels":
            out.labels.update(v)  # type: ignore[call-overload]
        elif k == "objectives":
            del out.objectives[:]
            out.objectives.extend(v)  # type: ignore[arg-type]
        else:
            setattr(out, k, v)
    return out


def expect(code: grpc.StatusCode, *fragments: str):
    class Expect:
        def __enter__(self) -> None:
            return None

        def __exit__(self, et: object, e: BaseException | None, tb: object) -> bool:
            assert isinstance(e, grpc.RpcError), f"expected {code.name}, the call succeeded"
            assert e.code() == code, f"expected {code.name}, got {e.code().name}: {e.details()}"
            for f in fragments:
                assert f in e.details(), f"{f!r} not in {e.details()!r}"
            return True

    return Expect()


def study_count(stub) -> int:
    return len(stub.ListStudies(c.ListStudiesRequest(include_finished=True)).studies)


BAD_SPECS = [
    (spec(), ["the search space is empty"]),
    (spec(double("lr", 1.0, 0.1)), ["parameters[0] ('lr')", "min (1.0) is greater than max (0.1)"]),
    (spec(double("lr", 0.0, 0.1, log=True)), ["('lr')", "log scale needs min > 0"]),
    (spec(double("lr", -1.0, 0.1, log=True)), ["log scale needs min > 0, got min=-1.0"]),
    (spec(sp.Parameter(name="n", int=sp.IntDomain(min=5, max=2))), ["('n')", "min (5) is greater than max (2)"]),
    (spec(double("x", 0, 1), double("x", 0, 2)), ["parameters[1]", "duplicate parameter name 'x'"]),
    (spec(sp.Parameter(name="k", categorical=sp.CategoricalDomain())), ["('k')", "no choices"]),
    (spec(double("x", 0, math.nan)), ["('x')", "max must be finite"]),
    (spec(cat("opt", "adam", "sgd"), cat("m", "a", when={"opt": ["rmsprop"]})),
     ["('m')", "condition value 'rmsprop' can never be taken by 'opt'"]),
    (spec(cat("a", "x", when={"b": ["y"]}), cat("b", "y", when={"a": ["x"]})), ["conditions form a cycle"]),
    (spec(cat("a", "x", when={"zz": ["y"]})), ["condition on unknown parameter 'zz'"]),
    (spec(double("x", 0, 1), algorithm=s.AlgorithmSpec(name="quantum-annealing")),
     ["spec.algorithm.name", "unknown algorithm 'quantum-annealing'", "known: ", "grid, ", "random"]),
    (spec(double("x", 0, 1), scheduler=s.SchedulerSpec(name="nope")), ["unknown scheduler 'nope'"]),
    (spec(double("x", 0, 1), objectives=[]), ["at least one objective"]),
    (spec(double("x", 0, 1), objectives=[s.Objective(metric="y")]), ["goal must be"]),
    (spec(double("x", 0, 1), budget=s.Budget(max_trials=-3)), ["spec.budget.max_trials", "must be >= 0"]),
    (spec(double("x", 0, 1), fidelity=s.Fidelity(name="epoch", min=10, max=2)),
     ["spec.fidelity", "min (10.0) is greater than max (2.0)"]),
    (spec(double("x", 0, 1), scheduler=s.SchedulerSpec(name="median"), trial_timeout_s=-1.0),
     ["spec.trial_timeout_s"]),
]


def with_settings(base: s.StudySpec, field: str, name: str, settings: dict) -> s.StudySpec:
    getattr(base, field).name = name
    getattr(base, field).settings.update(settings)
    return base


def with_config(base: s.StudySpec, config: dict) -> s.StudySpec:
    base.trainable_config.update(config)
    return base


def int_param(name: str, lo: int, hi: int) -> sp.Parameter:
    return sp.Parameter(name=name, int=sp.IntDomain(min=lo, max=hi))


EPOCHS = s.Fidelity(name="epoch", min=1, max=1e6)
# Accepted before limits existed, and then either failed every later call or stalled the controller.
OUT_OF_LIMITS = [
    (spec(double("x", -1e308, 1e308)), ["('x')", "max - min must be a finite number"]),
    (spec(int_param("n", -2**63, 2**63 - 1)), ["('n')", "min must be within ±2**53"]),
    (spec(double("x", 0, 1), fidelity=s.Fidelity(name="epoch", min=1e-300, max=1e300)),
     ["spec.fidelity.min: must be between 1e-09 and 1e+15"]),
    (spec(sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1, scale=99))), ["('x')", "scale 99 is none of"]),
    (spec(sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1e300, step=1e-300))), ["more than 2**53 values"]),
    (spec(double("x", 0, 1), seed=-1), ["spec.seed: must be >= 0"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "grid", {"points_per_dimension": math.nan}),
     ["spec.algorithm.settings.points_per_dimension: must be a finite number, got nan"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "tpe", {"gamma": math.inf}),
     ["spec.algorithm.settings.gamma: must be a finite number"]),
    (with_settings(spec(double("x", 0, 1)), "scheduler", "median", {"min_steps": math.nan}),
     ["spec.scheduler.settings.min_steps: must be a finite number"]),
    (with_config(spec(double("x", 0, 1)), {"lr": math.nan}), ["spec.trainable_config.lr: must be a finite"]),
    (spec(double("x" * 1_000_000, 0, 1)),
     ["spec.space.parameters[0].name: 1000000 characters exceed the limit of 256"]),
    (spec(double("x", 0, 1), labels={"k" * 1_000_000: "v"}), ["spec.labels: key", "exceed the limit of 256"]),
    (spec(double("x", 0, 1), labels={f"k{i}": "v" for i in range(65)}), ["65 labels exceed the limit of 64"]),
    (spec(cat("k", "a" * 2000)), ["choices[0]: 2000 characters exceed the limit of 1024"]),
    (spec(double("x", 0, 1), objectives=[s.Objective(metric=f"m{i}", goal=s.GOAL_MINIMIZE) for i in range(17)]),
     ["17 objectives exceed the limit of 16"]),
    (spec(double("x", 0, 1), objectives=[s.Objective(metric="y", goal=99)]), ["goal must be"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "grid", {"points_per_dimension": 1e9}),
     ["spec.algorithm.settings.points_per_dimension: must be <= 1000000 (the limit), got 1000000000"]),
    (with_settings(spec(*[double(f"x{i}", 0, 1) for i in range(10)]), "algorithm", "grid", {}),
     ["the grid has more than 1000000 points"]),
    (with_settings(spec(*[double(f"x{i}", 0, 1) for i in range(200)]), "algorithm", "grid",
                   {"points_per_dimension": 2}), ["the grid has more than 10000000 values"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "gp", {"candidates": 1e8}),
     ["spec.algorithm.settings.candidates: must be <= 65536"]),
    (with_settings(spec(*[double(f"x{i}", 0, 1) for i in range(512)]), "algorithm", "gp", {"candidates": 65536}),
     ["65536 candidates x 512 encoded columns exceed the limit of 16777216 values"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "gp", {"restarts": 1e6}),
     ["spec.algorithm.settings.restarts: must be <= 100"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "tpe", {"candidates": 1e9}),
     ["spec.algorithm.settings.candidates: must be <= 10000"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "ga", {"population_size": 1e9}),
     ["spec.algorithm.settings.population_size: must be <= 10000"]),
    (with_settings(spec(double("x", 0, 1)), "algorithm", "rl", {"numeric_bins": 1e9}),
     ["spec.algorithm.settings.numeric_bins: must be <= 1000"]),
    (with_settings(spec(double("x", 0, 1), fidelity=EPOCHS), "scheduler", "hyperband", {"eta": 1.0001}),
     ["spec.scheduler.settings.eta", "rungs, over the limit of 100"]),
    (with_settings(spec(double("x", 0, 1), fidelity=EPOCHS), "scheduler", "median", {"min_steps": 1e12}),
     ["spec.scheduler.settings.min_steps: must be <= 1000000"]),
]


@pytest.fixture(scope="module")
def refusing_stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controller_pb2_grpc.ControllerStub]:
    """One controller for the refusals: none of them creates anything, each checks that."""
    server = start_controller(tmp_path_factory.mktemp("refusals"))
    yield controller_stub(server.address)
    server.stop()


@pytest.mark.parametrize(("bad", "fragments"), OUT_OF_LIMITS, ids=[f[0][:60] for _, f in OUT_OF_LIMITS])
def test_out_of_limits_spec_is_refused_naming_the_field_and_limit(refusing_stub, bad: s.StudySpec,
                                                                  fragments: list[str]) -> None:
    with expect(grpc.StatusCode.INVALID_ARGUMENT, *fragments):
        refusing_stub.CreateStudy(c.CreateStudyRequest(spec=bad), timeout=30)
    assert study_count(refusing_stub) == 0


@pytest.mark.parametrize(("bad", "fragments"), BAD_SPECS, ids=[f[0] for _, f in BAD_SPECS])
def test_bad_spec_is_rejected_precisely_and_creates_nothing(stub, bad: s.StudySpec, fragments: list[str]) -> None:
    with expect(grpc.StatusCode.INVALID_ARGUMENT, *fragments):
        stub.CreateStudy(c.CreateStudyRequest(spec=bad))
    assert study_count(stub) == 0


def test_unknown_algorithm_setting_names_the_setting(stub) -> None:
    bad = spec(double("x", 0, 1), algorithm=s.AlgorithmSpec(name="grid"))
    bad.algorithm.settings.update({"points": 3})
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "unknown setting 'points'", "points_per_dimension"):
        stub.CreateStudy(c.CreateStudyRequest(spec=bad))


def ask_tell_study(stub, max_trials: int = 4) -> str:
    return stub.CreateStudy(c.CreateStudyRequest(spec=spec(double("x", -1, 1), budget=s.Budget(
        max_trials=max_trials)))).id


def trials_snapshot(stub, study_id: str) -> list[bytes]:
    resp = stub.ListTrials(c.ListTrialsRequest(study_id=study_id, include_measurements=True))
    return [t.SerializeToString(deterministic=True) for t in resp.trials]  # maps in a fixed order


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_non_finite_metric_is_rejected_and_nothing_recorded(stub, bad_value: float) -> None:
    sid = ask_tell_study(stub)
    trial = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    before = trials_snapshot(stub, sid)
    with expect(grpc.StatusCode.INVALID_ARGUMENT, f"trial {trial.id} of study {sid}", "metric 'y'", "finite"):
        stub.ReportMeasurement(c.ReportMeasurementRequest(
            study_id=sid, trial_id=trial.id, measurement=s.Measurement(step=1, metrics={"y": bad_value})))
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "metric 'y'", "finite"):
        stub.CompleteTrial(c.CompleteTrialRequest(
            study_id=sid, trial_id=trial.id, final_measurement=s.Measurement(metrics={"y": bad_value})))
    assert trials_snapshot(stub, sid) == before


def test_complete_without_objective_metric_is_rejected(stub) -> None:
    sid = ask_tell_study(stub)
    trial = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "lacks objective metric 'y'", "has: loss"):
        stub.CompleteTrial(c.CompleteTrialRequest(
            study_id=sid, trial_id=trial.id, final_measurement=s.Measurement(metrics={"loss": 1.0})))
    got = stub.GetTrial(c.GetTrialRequest(study_id=sid, trial_id=trial.id))
    assert got.state == s.TRIAL_RUNNING


def test_unknown_study_and_trial_are_not_found(stub) -> None:
    with expect(grpc.StatusCode.NOT_FOUND, "study 'nope' not found"):
        stub.GetStudy(c.GetStudyRequest(study_id="nope"))
    with expect(grpc.StatusCode.NOT_FOUND, "study 'nope' not found"):
        stub.ReportMeasurement(c.ReportMeasurementRequest(study_id="nope", trial_id=1,
                                                          measurement=s.Measurement(metrics={"y": 1})))
    sid = ask_tell_study(stub)
    with expect(grpc.StatusCode.NOT_FOUND, f"trial 99 of study {sid} not found"):
        stub.ReportMeasurement(c.ReportMeasurementRequest(study_id=sid, trial_id=99,
                                                          measurement=s.Measurement(metrics={"y": 1})))
    with expect(grpc.StatusCode.NOT_FOUND, f"trial 99 of study {sid} not found"):
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=99))
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "study_id: required"):
        stub.GetStudy(c.GetStudyRequest())


def test_report_for_finished_trial_is_failed_precondition(stub) -> None:
    sid = ask_tell_study(stub)
    trial = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=trial.id,
                                              final_measurement=s.Measurement(metrics={"y": 0.5})))
    before = trials_snapshot(stub, sid)
    with expect(grpc.StatusCode.FAILED_PRECONDITION, f"trial {trial.id} of study {sid} is COMPLETED"):
        stub.ReportMeasurement(c.ReportMeasurementRequest(study_id=sid, trial_id=trial.id,
                                                          measurement=s.Measurement(step=2, metrics={"y": 1})))
    with expect(grpc.StatusCode.FAILED_PRECONDITION, "is COMPLETED"):
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=trial.id,
                                                  final_measurement=s.Measurement(metrics={"y": 0.1})))
    assert trials_snapshot(stub, sid) == before


def test_stopped_study_refuses_further_changes(stub) -> None:
    sid = ask_tell_study(stub)
    trial = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    stopped = stub.StopStudy(c.StopStudyRequest(study_id=sid, reason="enough"))
    assert stopped.state == s.STUDY_STOPPED and stopped.reason == "enough"
    with expect(grpc.StatusCode.FAILED_PRECONDITION, "already STOPPED"):
        stub.StopStudy(c.StopStudyRequest(study_id=sid))
    with expect(grpc.StatusCode.FAILED_PRECONDITION, "is STOPPED"):
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=trial.id,
                                                  final_measurement=s.Measurement(metrics={"y": 0.1})))
    resp = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1))
    assert not resp.trials and resp.study_done


def test_message_over_size_limit_is_rejected_and_creates_nothing(stub) -> None:
    huge = spec(*[double(f"p{i:07d}" + "x" * 100, 0, 1) for i in range(45_000)])
    assert huge.ByteSize() > 4 * 1024 * 1024
    with expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"):
        stub.CreateStudy(c.CreateStudyRequest(spec=huge))
    assert study_count(stub) == 0


def test_too_many_parameters_is_invalid(stub) -> None:
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "1001 parameters exceed the limit of 1000"):
        stub.CreateStudy(c.CreateStudyRequest(spec=spec(*[double(f"p{i}", 0, 1) for i in range(1001)])))


def test_suggest_count_must_be_positive(stub) -> None:
    sid = ask_tell_study(stub)
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "count: must be between 1 and 1000, got 0"):
        stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=0))


def test_list_trials_refuses_states_outside_the_enum(stub) -> None:
    sid = ask_tell_study(stub)
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "states: 99 is no trial state", "TRIAL_PAUSED"):
        stub.ListTrials(c.ListTrialsRequest(study_id=sid, states=[s.TRIAL_RUNNING, 99]))  # type: ignore[list-item]


@pytest.mark.parametrize(("address", "fragment"), [
    ("127.0.0.1:0", "the port must be a number from 1 to 65535"),
    ("127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    (":50052", "the host is empty"),
    ("http://x:1/", "without a scheme"),
    ("exec\x00utor:50052", "no DNS name"),
    ("0.0.0.0:50052", "wildcard"),
    ("[::]:50052", "wildcard"),
    ("::1:50052", "in brackets"),
    ("host", "expected host:port"),
])
def test_register_executor_refuses_an_address_that_cannot_be_dialled(refusing_stub, address: str,
                                                                    fragment: str) -> None:
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "address: ", "cannot be dialled", fragment):
        refusing_stub.RegisterExecutor(c.RegisterExecutorRequest(address=address))
    assert not refusing_stub.ListExecutors(c.ListExecutorsRequest()).executors


def test_register_executor_refuses_negative_slots(stub) -> None:
    from nestor.v1 import executor_pb2

    with expect(grpc.StatusCode.INVALID_ARGUMENT, "info.slots: must be between 0 and 4096, got -5"):
        stub.RegisterExecutor(c.RegisterExecutorRequest(address="127.0.0.1:1", info=executor_pb2.ExecutorInfo(
            slots=-5)))
    assert not stub.ListExecutors(c.ListExecutorsRequest()).executors


def test_long_texts_are_refused_and_errors_quote_them_briefly(stub) -> None:
    sid = ask_tell_study(stub)
    with expect(grpc.StatusCode.INVALID_ARGUMENT, "reason: 70000 characters exceed the limit of 65536"):
        stub.StopStudy(c.StopStudyRequest(study_id=sid, reason="r" * 70_000))
    with expect(grpc.StatusCode.NOT_FOUND, "characters in all"):
        stub.GetStudy(c.GetStudyRequest(study_id="s" * 1_000_000))


def test_watch_of_an_ended_study_sends_what_remains_and_closes(stub) -> None:
    sid = ask_tell_study(stub)
    stub.StopStudy(c.StopStudyRequest(study_id=sid))
    events = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=60))
    assert events[-1].type == c.STUDY_EVENT_STUDY_ENDED
    last = events[-1].seq
    # At and past its last event: nothing remains, and the stream ends (it used to wait forever).
    for after in (last, last + 5):
        assert list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid, after_seq=after), timeout=60)) == []
    assert [e.seq for e in stub.WatchStudy(c.WatchStudyRequest(study_id=sid, after_seq=last - 1), timeout=60)] \
        == [last]
