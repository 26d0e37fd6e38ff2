"""The SDK against a scripted in-process controller: retries, request ids, errors, streams, progress."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import nestor
import pytest
from nestor import progress
from nestor.errors import from_rpc_error
from nestor.v1 import controller_pb2, controller_pb2_grpc, study_pb2
from nestor.values import params_to_proto
from rich.console import Console

E = controller_pb2

SPEC = nestor.load_spec({
    "name": "fake", "objective": {"metric": "y", "goal": "minimize"}, "algorithm": "random",
    "budget": {"max_trials": 3}, "space": {"x": {"type": "double", "min": 0, "max": 1}, "opt": ["a", "b"]},
})


def trial(i: int, state: int = study_pb2.TRIAL_RUNNING, y: float | None = None,
          error: str = "") -> study_pb2.Trial:
    t = study_pb2.Trial(study_id="s1", id=i, params=params_to_proto({"x": i / 10, "opt": "a"}), state=state,
                        executor="127.0.0.1:7001", error=error)
    t.start_time.FromSeconds(1_000 + i)
    if y is not None:
        t.final_measurement.step = 3
        t.final_measurement.metrics["y"] = y
    if state in (study_pb2.TRIAL_COMPLETED, study_pb2.TRIAL_STOPPED, study_pb2.TRIAL_FAILED):
        t.end_time.FromSeconds(1_010 + i)
    return t


def scripted_events(trials: int, measurements: int = 2) -> list[controller_pb2.StudyEvent]:
    """A plausible event log: created, started, measured, ended per trial, then the study's end."""
    evs: list[controller_pb2.StudyEvent] = []
    done = 0

    def add(type_: int, t: study_pb2.Trial | None = None, **kw: Any) -> None:
        ev = controller_pb2.StudyEvent(seq=len(evs) + 1, study_id="s1", type=type_,  # type: ignore[arg-type]
                                       study_state=study_pb2.STUDY_RUNNING, **kw)
        ev.counts.completed = done
        if t is not None:
            ev.trial_id = t.id
            ev.trial.CopyFrom(t)
        evs.append(ev)

    add(E.STUDY_EVENT_STUDY_CREATED)
    for i in range(1, trials + 1):
        add(E.STUDY_EVENT_TRIAL_CREATED, trial(i, study_pb2.TRIAL_PENDING))
        add(E.STUDY_EVENT_TRIAL_STARTED, trial(i))
        for step in range(1, measurements + 1):
            add(E.STUDY_EVENT_TRIAL_MEASUREMENT, trial(i),
                measurement=study_pb2.Measurement(step=step, metrics={"y": 1.0 / (i + step)}))
        if i == 2:
            add(E.STUDY_EVENT_TRIAL_FAILED, trial(i, study_pb2.TRIAL_FAILED, error="ValueError: boom"))
        else:
            done += 1
            add(E.STUDY_EVENT_TRIAL_COMPLETED, trial(i, study_pb2.TRIAL_COMPLETED, y=1.0 / i))
    add(E.STUDY_EVENT_STUDY_ENDED, message=f"budget of {done} trials spent")
    evs[-1].study_state = study_pb2.STUDY_COMPLETED
    return evs


class FakeController(controller_pb2_grpc.ControllerServicer):
    """Answers like the controller would; fails on purpose where a test says so."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, str]]] = []
        self.unavailable: dict[str, int] = {}  # method -> how many more calls fail with UNAVAILABLE
        self.events = scripted_events(3)
        self.break_watch_after: int | None = None  # seq after which the first watch stream breaks
        self.study = study_pb2.Study(id="s1", spec=SPEC, state=study_pb2.STUDY_RUNNING, seed=5)
        self.study.create_time.FromSeconds(1_000)
        self.next_trial = 1
        self.lock = threading.Lock()

    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.calls.append((method, request, dict(context.invocation_metadata())))
            left = self.unavailable.get(method, 0)
            if left:
                self.unavailable[method] = left - 1
        if left:
            context.abort(grpc.StatusCode.UNAVAILABLE, "controller restarting")

    def requests(self, method: str) -> list[Any]:
        return [r for m, r, _ in self.calls if m == method]

    def _study(self, study_id: str, context: grpc.ServicerContext) -> study_pb2.Study:
        if study_id != "s1":
            context.abort(grpc.StatusCode.NOT_FOUND, f"study {study_id!r} not found")
        return self.study

    def CreateStudy(self, request: Any, context: grpc.ServicerContext) -> study_pb2.Study:
        self._enter("CreateStudy", request, context)
        if not request.spec.objectives:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "spec.objectives: at least one is required")
        return self.study

    def GetStudy(self, request: Any, context: grpc.ServicerContext) -> study_pb2.Study:
        self._enter("GetStudy", request, context)
        return self._study(request.study_id, context)

    def ListStudies(self, request: Any, context: grpc.ServicerContext) -> controller_pb2.ListStudiesResponse:
        self._enter("ListStudies", request, context)
        return controller_pb2.ListStudiesResponse(studies=[self.study])

    def SuggestTrials(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("SuggestTrials", request, context)
        with self.lock:
            ids = range(self.next_trial, min(self.next_trial + request.count, 4))
            self.next_trial = max(self.next_trial, ids.stop)
        return controller_pb2.SuggestTrialsResponse(trials=[trial(i) for i in ids],
                                                     study_done=self.next_trial > 3)

    def ReportMeasurement(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ReportMeasurement", request, context)
        stop = request.measurement.step >= 3
        return controller_pb2.ReportMeasurementResponse(
            decision=study_pb2.DECISION_STOP if stop else study_pb2.DECISION_CONTINUE,
            reason="median rule" if stop else "")

    def CompleteTrial(self, request: Any, context: grpc.ServicerContext) -> study_pb2.Trial:
        self._enter("CompleteTrial", request, context)
        if request.error:
            return trial(request.trial_id, study_pb2.TRIAL_FAILED, error=request.error)
        t = trial(request.trial_id, study_pb2.TRIAL_COMPLETED)
        t.final_measurement.CopyFrom(request.final_measurement)
        return t

    def GetBestTrials(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetBestTrials", request, context)
        best = [trial(3, study_pb2.TRIAL_COMPLETED, y=0.25), trial(1, study_pb2.TRIAL_COMPLETED, y=1.0)]
        return controller_pb2.GetBestTrialsResponse(trials=best[: request.count or 1])

    def ListExecutors(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ListExecutors", request, context)
        status = controller_pb2.ExecutorStatus(address="127.0.0.1:7001", healthy=True, running_trials=1)
        status.info.slots, status.info.busy_slots, status.info.trainables[:] = 2, 1, ["digits_mlp"]
        return controller_pb2.ListExecutorsResponse(executors=[status])

    def WatchStudy(self, request: Any, context: grpc.ServicerContext) -> Iterator[controller_pb2.StudyEvent]:
        self._enter("WatchStudy", request, context)
        self._study(request.study_id, context)
        for ev in self.events:
            if ev.seq <= request.after_seq:
                continue
            if ev.type == controller_pb2.STUDY_EVENT_STUDY_ENDED:
                # Before the event goes out: a client that stops reading at it asks GetStudy next.
                self.study.state = study_pb2.STUDY_COMPLETED
            yield ev
            if self.break_watch_after == ev.seq:
                self.break_watch_after = None
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
        self.study.state = study_pb2.STUDY_COMPLETED


@pytest.fixture
def fake() -> Iterator[tuple[FakeController, str]]:
    servicer = FakeController()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    controller_pb2_grpc.add_ControllerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


def test_mutating_calls_retry_unavailable_with_the_same_request_id(fake: tuple[FakeController, str]) -> None:
    servicer, address = fake
    servicer.unavailable["CreateStudy"] = 2
    with nestor.Client(address, token="s3cret") as client:
        study = client.create_study(SPEC)
    assert study.id == "s1"
    calls = [(r, md) for m, r, md in servicer.calls if m == "CreateStudy"]
    assert len(calls) == 3
    ids = {r.request_id for r, _ in calls}
    assert len(ids) == 1 and len(ids.pop()) == 32
    assert all(md["authorization"] == "Bearer s3cret" for _, md in calls)


def test_each_call_gets_a_fresh_request_id(fake: tuple[FakeController, str]) -> None:
    servicer, address = fake
    with nestor.Client(address) as client:
        study = client.study("s1")
        (t1,) = study.suggest(1)
        t1.report(1, {"y": 0.5})
        t1.report(2, {"y": 0.4})
        t1.complete()
    ids = [r.request_id for m, r, _ in servicer.calls if m != "GetStudy"]
    assert len(ids) == 4 and len(set(ids)) == 4 and all(ids)
    assert all("authorization" not in md for _, _, md in servicer.calls)


def test_errors_become_nestor_errors_with_the_server_message(fake: tuple[FakeController, str]) -> None:
    _, address = fake
    with nestor.Client(address) as client:
        with pytest.raises(nestor.NotFound) as info:
            client.get_study("nope")
        assert info.value.code == grpc.StatusCode.NOT_FOUND
        assert info.value.details == "study 'nope' not found"
        assert str(info.value) == "NOT_FOUND: study 'nope' not found"
        with pytest.raises(nestor.InvalidArgument, match=r"spec\.objectives: at least one"):
            client.create_study({"name": "no objective"})


def test_unreachable_controller_is_unavailable_within_the_timeout() -> None:
    start = time.monotonic()
    with nestor.Client("127.0.0.1:1", timeout=1.0) as client, pytest.raises(nestor.Unavailable) as info:
        client.list_studies()
    assert time.monotonic() - start < 3
    assert "cannot reach the controller at 127.0.0.1:1" in str(info.value)


def test_from_rpc_error_maps_codes() -> None:
    class Failed(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode) -> None:
            self._code = code

        def code(self) -> grpc.StatusCode:
            return self._code

        def details(self) -> str:
            return "what and where"

    for code, cls in [(grpc.StatusCode.FAILED_PRECONDITION, nestor.FailedPrecondition),
                      (grpc.StatusCode.RESOURCE_EXHAUSTED, nestor.ResourceExhausted),
                      (grpc.StatusCode.UNAUTHENTICATED, nestor.Unauthenticated),
                      (grpc.StatusCode.DEADLINE_EXCEEDED, nestor.DeadlineExceeded),
                      (grpc.StatusCode.DATA_LOSS, nestor.NestorError)]:
        err = from_rpc_error(Failed(code))
        assert type(err) is cls and err.code == code and err.details == "what and where"
    assert isinstance(from_rpc_error(Failed(grpc.StatusCode.DEADLINE_EXCEEDED)), TimeoutError)


def test_ask_tell(fake: tuple[FakeController, str]) -> None:
    servicer, address = fake
    with nestor.Client(address) as client:
        study = client.study("s1")
        trials = study.suggest(2, client_id="me")
        assert [t.id for t in trials] == [1, 2] and not study.exhausted
        t1, t2 = trials
        assert t1.params == {"x": 0.1, "opt": "a"} and t1.state == study_pb2.TRIAL_RUNNING
        assert [t1.report(step, {"y": 1.0 / step}) for step in (1, 2, 3)] == [False, False, True]
        assert t1.should_stop and t1.stop_reason == "median rule"
        assert t1.complete({"y": 0.2}) is t1
        assert t1.state == study_pb2.TRIAL_COMPLETED and t1.final_metrics == {"y": 0.2}
        final = servicer.requests("CompleteTrial")[-1]
        assert final.final_measurement.step == 3 and final.final_measurement.elapsed_s > 0
        t2.fail("diverged")
        assert t2.state_name == "FAILED" and t2.error == "diverged"
        assert servicer.requests("SuggestTrials")[0].client_id == "me"
        (t3,) = study.suggest(5)
        assert study.exhausted and study.suggest(1) == []
        with pytest.raises(ValueError, match="'y' is nan"):
            t3.report(1, {"y": float("nan")})


def test_best(fake: tuple[FakeController, str]) -> None:
    _, address = fake
    with nestor.Client(address) as client:
        study = client.study("s1")
        best = study.best()
        assert best is not None and best.id == 3 and best.final_metrics == {"y": 0.25}
        assert [t.id for t in study.best_trials(2)] == [3, 1]


def test_watch_resumes_after_a_broken_stream(fake: tuple[FakeController, str]) -> None:
    servicer, address = fake
    servicer.break_watch_after = 4
    with nestor.Client(address) as client:
        seqs = [ev.seq for ev in client.study("s1").watch()]
    assert seqs == list(range(1, len(servicer.events) + 1))
    assert [r.after_seq for r in servicer.requests("WatchStudy")] == [0, 4]


def test_wait_returns_when_the_study_ends(fake: tuple[FakeController, str]) -> None:
    _, address = fake
    with nestor.Client(address) as client:
        final = client.study("s1").wait(timeout=10)
    assert final.state == study_pb2.STUDY_COMPLETED


def test_wait_polls_when_watching_fails_and_times_out(fake: tuple[FakeController, str]) -> None:
    servicer, address = fake
    servicer.unavailable["WatchStudy"] = 1_000
    with nestor.Client(address) as client:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="still running"):
            client.study("s1").wait(timeout=0.5)
        assert time.monotonic() - start < 2
        servicer.study.state = study_pb2.STUDY_STOPPED
        assert client.study("s1").wait(timeout=5).state == study_pb2.STUDY_STOPPED


def _model() -> progress.ProgressModel:
    info = study_pb2.Study(id="s1", spec=SPEC, state=study_pb2.STUDY_RUNNING)
    info.create_time.FromSeconds(1_000)
    return progress.ProgressModel.for_study(info)


def test_progress_plain_lines() -> None:
    out = io.StringIO()
    model = progress.follow_events(scripted_events(3), _model(), Console(file=out, width=200), live=False)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith("[1/3] trial 1 COMPLETED y=1 (best 1 in trial 1) x=0.1 opt=a in 10.0s on 127")
    assert "trial 2 FAILED" in lines[1] and "ValueError: boom" in lines[1]
    assert lines[2].startswith("[2/3] trial 3 COMPLETED y=0.3333 (best 0.3333 in trial 3)")
    assert lines[3].startswith("study s1 COMPLETED: budget of 2 trials spent")
    assert model.finished and model.best is not None and model.best.trial_id == 3


def test_progress_keeps_up_with_many_events() -> None:
    events = scripted_events(2_000, measurements=8)
    assert len(events) > 20_000
    out = io.StringIO()
    start = time.monotonic()
    console = Console(file=out, force_terminal=True, width=150)
    model = progress.follow_events(events, _model(), console, live=True)
    elapsed = time.monotonic() - start
    assert model.finished and model.events == len(events)
    assert len(model.rows) <= progress.MAX_ROWS
    assert elapsed < 5, f"{len(events)} events took {elapsed:.1f} s"
    assert "trials/min" in out.getvalue()
