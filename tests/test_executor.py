"""The executor: a real `nestor-executor` process driven over real gRPC, as the controller drives it."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from executor_helpers import (
    TEST_TRAINABLES,
    ExecutorProcess,
    assignment,
    kinds,
    run_trial,
    start_trial,
    wait_until,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from nestor.trainable import run_local
from nestor.v1 import controller_pb2, controller_pb2_grpc, executor_pb2, study_pb2
from nestor_executor.trainables import digits_mlp, functions, synthetic

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorProcess]:
    """Two slots, the test trainables, shared by the tests that leave its workers alive."""
    log_dir = tmp_path_factory.mktemp("executor2")
    with ExecutorProcess(slots=2, trainables=TEST_TRAINABLES, log_dir=log_dir) as ex:
        yield ex


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorProcess]:
    """One slot: a trial after a crash necessarily runs on the crashed slot's new worker."""
    log_dir = tmp_path_factory.mktemp("executor1")
    with ExecutorProcess(slots=1, trainables=TEST_TRAINABLES, log_dir=log_dir) as ex:
        yield ex


def result_of(messages: list[executor_pb2.ExecutorMessage]) -> executor_pb2.TrialResult:
    assert kinds(messages)[0] == "started" and kinds(messages)[-1] == "result", kinds(messages)
    assert kinds(messages).count("result") == 1
    return messages[-1].result


def measurements(messages: list[executor_pb2.ExecutorMessage]) -> list[study_pb2.Measurement]:
    return [m.measurement for m in messages if m.WhichOneof("body") == "measurement"]


def assert_next_trial_succeeds(ex: ExecutorProcess) -> None:
    msgs = run_trial(ex.stub, assignment("echo", {"a": 1.5}))
    result = result_of(msgs)
    assert result.error == "", result.error
    assert msgs[0].started.slot == 0
    assert [m.metrics["a"] for m in measurements(msgs)] == [1.5]


# -- service basics ---------------------------------------------------------------------------------


def test_describe_health_and_reflection(executor: ExecutorProcess) -> None:
    info = executor.stub.Describe(executor_pb2.DescribeRequest())
    assert info.slots == 2 and info.busy_slots == 0
    assert info.executor_id
    assert info.executor_id == executor.stub.Describe(executor_pb2.DescribeRequest()).executor_id
    assert list(info.trainables) == sorted(info.trainables)
    assert {"digits_mlp", "synthetic", "noop", "raises", "echo"} <= set(info.trainables)
    assert [(d.name, d.kind) for d in info.devices] == [("cpu", "cpu")] and info.devices[0].memory_bytes > 0
    assert info.version == importlib.metadata.version("nestor-executor")

    health = health_pb2_grpc.HealthStub(executor.channel)
    for service in ("", "nestor.v1.Executor"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(executor.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answers = reflection.ServerReflectionInfo(iter([request]))
    services = {s.name for a in answers for s in a.list_services_response.service}
    assert {"nestor.v1.Executor", "grpc.health.v1.Health"} <= services


def test_unknown_trainable_is_not_found(executor: ExecutorProcess) -> None:
    with pytest.raises(grpc.RpcError) as err:
        run_trial(executor.stub, assignment("nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    details = err.value.details()
    assert details.startswith("trainable 'nope' is not served by this executor (it serves: bilevel, ")
    served = details.split("(it serves: ", 1)[1].rstrip(")").split(", ")
    assert served == sorted(served) and {"digits_mlp", "synthetic", "noop", "echo"} <= set(served)


def test_first_message_must_be_an_assignment(executor: ExecutorProcess) -> None:
    stop = executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial(reason="x"))
    with pytest.raises(grpc.RpcError) as err:
        list(executor.stub.RunTrial(iter([stop]), timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message must be an assignment, got stop" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        list(executor.stub.RunTrial(iter([]), timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- trials that succeed ----------------------------------------------------------------------------


def test_digits_mlp_streams_epochs_and_resumes(executor: ExecutorProcess) -> None:
    # Absolute, as a controller with a shared --artifact-dir sends it: inside the executor's artifact directory.
    ckpt = Path(executor.artifact_dir) / "digits" / "trial-1"
    common = {"study_id": "digits", "fidelity_name": "epoch", "max_budget": 9, "seed": 7,
              "checkpoint_dir": str(ckpt)}
    msgs = run_trial(executor.stub, assignment("digits_mlp", {"lr": 3e-3, "hidden": 32}, budget=3, **common))
    result = result_of(msgs)
    assert result.error == "" and not result.stopped
    ms = measurements(msgs)
    assert [m.step for m in ms] == [1, 2, 3]
    assert all({"val_accuracy", "val_loss", "train_loss"} <= set(m.metrics) for m in ms)
    assert [m.elapsed_s for m in ms] == sorted(m.elapsed_s for m in ms)
    checkpoints = [m.checkpoint for m in msgs if m.WhichOneof("body") == "checkpoint"]
    assert [c.step for c in checkpoints] == [1, 2, 3]
    assert checkpoints[-1].path == str(ckpt / "checkpoint.nestor") and os.path.exists(checkpoints[-1].path)
    assert result.final_measurement.step == 3
    assert result.final_measurement.metrics["val_accuracy"] == ms[-1].metrics["val_accuracy"] > 0.5
    assert msgs[0].started.device == "cpu" and msgs[0].started.executor_id

    # Promoted to 5 epochs, as Hyperband would: the curve continues from epoch 4, after sending again what
    # the checkpoint holds (a report lost with the previous attempt is not lost for good).
    msgs = run_trial(executor.stub, assignment("digits_mlp", {"lr": 3e-3, "hidden": 32}, budget=5, **common))
    assert result_of(msgs).error == ""
    resumed = measurements(msgs)
    assert [m.step for m in resumed] == [1, 2, 3, 4, 5]
    assert [dict(m.metrics) for m in resumed[:3]] == [dict(m.metrics) for m in ms]
    # The step the run resumed from is said again (the controller may have restarted since it was saved).
    assert [c.checkpoint.step for c in msgs if c.WhichOneof("body") == "checkpoint"] == [3, 4, 5]


def test_synthetic_reports_each_fidelity_step_and_ends_exact(executor: ExecutorProcess) -> None:
    exact = functions.get("branin")([1.0, 2.0])
    a = assignment("synthetic", {"x0": 1.0, "x1": 2.0}, config={"function": "branin"}, budget=3.5,
                   max_budget=3.5, fidelity_name="epoch", seed=3)
    msgs = run_trial(executor.stub, a)
    result = result_of(msgs)
    ms = measurements(msgs)
    assert [m.step for m in ms] == [1, 2, 3, 4]
    assert ms[0].metrics["value"] != pytest.approx(exact)
    assert result.final_measurement.metrics["value"] == pytest.approx(exact)
    assert result.final_measurement.metrics["regret"] == pytest.approx(exact - 5 / (4 * math.pi))
    # The same seed gives the same curve.
    again = measurements(run_trial(executor.stub, a))
    assert [m.metrics["value"] for m in again] == [m.metrics["value"] for m in ms]

    no_fidelity = run_trial(executor.stub, assignment("synthetic", {"x0": 1.0, "x1": 2.0}))
    assert [m.step for m in measurements(no_fidelity)] == [1]
    assert result_of(no_fidelity).final_measurement.metrics["value"] == pytest.approx(exact)


def test_noop_reports_steps_times(executor: ExecutorProcess) -> None:
    msgs = run_trial(executor.stub, assignment("noop", {"steps": 50, "w": 2.0}))
    ms = measurements(msgs)
    assert [m.step for m in ms] == list(range(1, 51))
    assert result_of(msgs).final_measurement.metrics["value"] == pytest.approx(2.0 + 1 / 50)


def test_fast_reports_go_in_batches_to_a_controller_that_takes_them(executor: ExecutorProcess) -> None:
    msgs = run_trial(executor.stub, assignment("noop", {"steps": 2000}, accepts_measurement_batches=True))
    batches = [m.measurements.measurements for m in msgs if m.WhichOneof("body") == "measurements"]
    assert batches, "2,000 reports in a tight loop never outran a message"
    assert all(1 <= len(b) <= 256 for b in batches)
    steps = [m.step for m in msgs for m in ([m.measurement] if m.WhichOneof("body") == "measurement"
                                            else m.measurements.measurements)]
    assert steps == list(range(1, 2001))  # every report once, in order
    assert kinds(msgs)[-1] == "result"


def test_context_carries_the_assignment(executor: ExecutorProcess) -> None:
    a = assignment("echo", {"lr": 0.25, "n": 3, "name": "x"}, config={"k": "v", "m": 1}, study_id="s:1",
                   trial_id=42, budget=2.0, max_budget=8.0, fidelity_name="epoch", seed=99, attempt=2)
    msgs = run_trial(executor.stub, a)
    assert measurements(msgs)[0].metrics == {"lr": 0.25, "n": 3.0}
    final = result_of(msgs).final_measurement.metrics
    assert final == {"budget": 2.0, "max_budget": 8.0, "seed": 99.0, "attempt": 2.0, "trial_id": 42.0,
                     "config_len": 2.0, "fidelity_len": 5.0, "cpu": 1.0}
    # Without a checkpoint_dir from the controller: <artifact-dir>/<study>/<trial>.
    echoed = Path(executor.artifact_dir) / "s_1" / "42" / "echo.json"
    assert json.loads(echoed.read_text()) == {"k": "v", "m": 1.0}


def test_outer_variables_and_gradients(executor: ExecutorProcess) -> None:
    alpha = executor_pb2.Tensor(shape=[2, 3], values=[1, 2, 3, 4, 5, 6])
    a = assignment("bilevel", outer=executor_pb2.OuterVariables(step=0, values={"alpha": alpha}))
    call = start_trial(executor.stub, a)
    stream = iter(call)
    assert next(stream).WhichOneof("body") == "started"
    first = next(stream)
    assert first.WhichOneof("body") == "outer_gradient"
    assert first.outer_gradient.step == 0 and first.outer_gradient.metrics == {"val_loss": 1.0}
    g = first.outer_gradient.gradients["alpha"]
    assert list(g.shape) == [2, 3] and list(g.values) == [2, 4, 6, 8, 10, 12]
    new_alpha = executor_pb2.Tensor(shape=[2, 3], values=[0, 0, 0, 0, 0, 1])
    outer = executor_pb2.OuterVariables(step=1, values={"alpha": new_alpha})
    call.send(executor_pb2.ControllerMessage(outer=outer))
    second = next(stream)
    assert second.outer_gradient.step == 1
    assert list(second.outer_gradient.gradients["alpha"].values) == [0, 0, 0, 0, 0, 2]
    result = next(stream).result
    assert result.error == "" and result.final_measurement.metrics == {"alpha_sum": 1.0, "rank": 2.0}


# -- stopping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["answer", "stop"])
def test_controller_stops_a_trial(executor: ExecutorProcess, how: str) -> None:
    call = start_trial(executor.stub, assignment("slow_until_stopped"))
    stream = iter(call)
    assert next(stream).WhichOneof("body") == "started"
    for _ in range(3):
        m = next(stream).measurement
        call.send(executor_pb2.ControllerMessage(answer=executor_pb2.MeasurementAnswer(
            step=m.step, decision=study_pb2.DECISION_CONTINUE)))
    if how == "answer":
        stop = executor_pb2.ControllerMessage(answer=executor_pb2.MeasurementAnswer(
            step=3, decision=study_pb2.DECISION_STOP, reason="below the median"))
    else:
        stop = executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial(reason="study stopped"))
    call.send(stop)
    rest = list(stream)
    assert kinds(rest)[-1] == "result" and kinds(rest).count("result") == 1
    result = rest[-1].result
    assert result.stopped and result.error == ""
    assert result.final_measurement.metrics["step"] >= 3


def test_cancelled_stream_stops_the_trial_and_frees_its_slot(executor: ExecutorProcess) -> None:
    call = start_trial(executor.stub, assignment("slow_until_stopped"))
    stream = iter(call)
    next(stream)
    next(stream)
    assert executor.stub.Describe(executor_pb2.DescribeRequest()).busy_slots == 1
    call.cancel()
    wait_until(lambda: executor.stub.Describe(executor_pb2.DescribeRequest()).busy_slots == 0, timeout=10)
    assert_echo_runs(executor)


def refused_after_assignment(ex: ExecutorProcess, trainable: str) -> grpc.RpcError:
    """A RunTrial stream whose assignment is followed by bytes that are not a ControllerMessage."""
    first = executor_pb2.ControllerMessage(assignment=assignment(trainable, trial_id=77)).SerializeToString()
    call = ex.channel.stream_stream("/nestor.v1.Executor/RunTrial")(iter([first, b"\xff\xff\xff"]), timeout=60)
    with pytest.raises(grpc.RpcError) as err:
        for _ in call:
            pass
    return err.value


@pytest.mark.parametrize("where", ["running", "waiting for a slot"])
def test_undecodable_message_after_the_assignment_lets_the_trial_go(executor: ExecutorProcess, where: str) -> None:
    """Garbage after the assignment is refused at once, and the trial leaves its slot or the backlog, however
    long it would have run or waited."""
    busy = [start_trial(executor.stub, assignment("slow_until_stopped", trial_id=i)) for i in range(2)]
    if where == "running":
        busy.pop().cancel()
        wait_until(lambda: executor.stub.Describe(executor_pb2.DescribeRequest()).busy_slots == 1, timeout=10)
    err = refused_after_assignment(executor, "hangs")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "/nestor.v1.Executor/RunTrial: the request could not be decoded" in err.details()
    # Refused, it is no longer the executor's: out of the backlog while the slots stay busy, or stopping.
    wait_until(lambda: all(r.trial_id != 77 for r in executor.stub.Describe(executor_pb2.DescribeRequest()).running),
               timeout=30)
    for call in busy:
        call.cancel()
    wait_until(lambda: not executor.stub.Describe(executor_pb2.DescribeRequest()).running, timeout=10)
    assert_echo_runs(executor)


def test_busy_slots_queue_trials_up_to_the_backlog_then_refuse(executor: ExecutorProcess) -> None:
    def queued() -> int:
        return executor.stub.Describe(executor_pb2.DescribeRequest()).queued

    calls = [start_trial(executor.stub, assignment("slow_until_stopped", trial_id=i)) for i in (1, 2)]
    streams = [iter(c) for c in calls]
    assert sorted(next(s).started.slot for s in streams) == [0, 1]
    for i in (3, 4):  # one at a time, so that their order in the backlog is known
        calls.append(start_trial(executor.stub, assignment("slow_until_stopped", trial_id=i)))
        streams.append(iter(calls[-1]))
        wait_until(lambda i=i: queued() == i - 2)
    info = executor.stub.Describe(executor_pb2.DescribeRequest())
    assert (info.queue_capacity, info.busy_slots) == (2, 2)
    with pytest.raises(grpc.RpcError) as err:
        run_trial(executor.stub, assignment("echo", trial_id=5))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == "all 2 slots are busy and 2 trials wait for them"
    # A slot that frees goes at once to the oldest waiting trial.
    calls[0].send(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial()))
    assert list(streams[0])[-1].result.stopped
    assert next(streams[2]).WhichOneof("body") == "started"
    assert queued() == 1
    # A waiting trial that is cancelled leaves the backlog without running.
    calls[3].cancel()
    wait_until(lambda: queued() == 0)
    for i in (1, 2):
        calls[i].send(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial()))
        assert list(streams[i])[-1].result.stopped
    assert_echo_runs(executor)


def test_a_waiting_trial_starts_in_the_worker_of_the_slot_that_frees_first(executor: ExecutorProcess) -> None:
    """Sent ahead to a busy slot's worker, a waiting trial still goes to whichever slot frees first: one that
    frees with nothing else waiting takes it back from the other worker."""
    calls = [start_trial(executor.stub, assignment("slow_until_stopped", trial_id=i)) for i in (1, 2)]
    streams = [iter(c) for c in calls]
    slots = [next(s).started.slot for s in streams]
    assert sorted(slots) == [0, 1]
    for s in streams:
        assert next(s).WhichOneof("body") == "measurement"  # both run: the next trial can be sent ahead
    for trial_id, first in ((3, 1), (4, 0)):
        waiting = iter(start_trial(executor.stub, assignment("echo", {"a": trial_id}, trial_id=trial_id)))
        # Sent ahead to slot 0's worker (the first busy slot); slot `first` frees first.
        wait_until(lambda: executor.stub.Describe(executor_pb2.DescribeRequest()).queued == 1)
        i = slots.index(first)
        calls[i].send(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial()))
        assert list(streams[i])[-1].result.stopped
        msgs = list(waiting)
        assert msgs[0].started.slot == first and result_of(msgs).error == ""
        assert measurements(msgs)[0].metrics["a"] == trial_id
        # The other slot's trial still runs; the freed slot runs a new long one for the next round.
        assert executor.stub.Describe(executor_pb2.DescribeRequest()).busy_slots == 1
        calls[i] = start_trial(executor.stub, assignment("slow_until_stopped", trial_id=10 + trial_id))
        streams[i] = iter(calls[i])
        assert next(streams[i]).started.slot == first
        assert next(streams[i]).WhichOneof("body") == "measurement"
    for call, stream in zip(calls, streams, strict=True):
        call.send(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial()))
        assert list(stream)[-1].result.stopped
    assert_echo_runs(executor)


def test_a_trial_sent_ahead_to_a_worker_that_dies_runs_on_its_replacement(single: ExecutorProcess) -> None:
    first = start_trial(single.stub, assignment("exits_when_stopped", trial_id=1))
    stream = iter(first)
    assert next(stream).WhichOneof("body") == "started"
    assert next(stream).WhichOneof("body") == "measurement"
    waiting = iter(start_trial(single.stub, assignment("echo", {"a": 2}, trial_id=2)))
    wait_until(lambda: single.stub.Describe(executor_pb2.DescribeRequest()).queued == 1)
    first.send(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial()))
    assert list(stream)[-1].result.error == "worker process exited with code 3"
    msgs = list(waiting)
    assert result_of(msgs).error == "" and measurements(msgs)[0].metrics["a"] == 2


def assert_echo_runs(ex: ExecutorProcess) -> None:
    assert result_of(run_trial(ex.stub, assignment("echo", {"a": 1}))).error == ""


# -- trials that fail, and the executor that keeps serving ------------------------------------------


def test_exception_fails_only_its_trial(single: ExecutorProcess) -> None:
    msgs = run_trial(single.stub, assignment("raises", {"lr": 0.5}))
    result = result_of(msgs)
    assert result.error.startswith("RuntimeError: boom at lr=0.5\nTraceback")
    assert "trainables_for_tests.py" in result.error and len(result.error) <= 4100
    assert not result.HasField("final_measurement")
    assert [m.step for m in measurements(msgs)] == [1]
    assert_next_trial_succeeds(single)


def test_worker_exit_code_fails_the_trial_and_the_slot_gets_a_new_worker(single: ExecutorProcess) -> None:
    result = result_of(run_trial(single.stub, assignment("exits")))
    assert result.error == "worker process exited with code 3"
    assert_next_trial_succeeds(single)


def test_segfault_fails_the_trial(single: ExecutorProcess) -> None:
    result = result_of(run_trial(single.stub, assignment("segfaults")))
    assert result.error == "worker process was killed by signal SIGSEGV (11)"
    assert_next_trial_succeeds(single)


def test_deadline_kills_a_hanging_trial(single: ExecutorProcess) -> None:
    msgs = run_trial(single.stub, assignment("hangs", deadline_s=2))
    assert result_of(msgs).error == "trial exceeded its deadline of 2 s"
    assert [m.step for m in measurements(msgs)] == [1]
    assert_next_trial_succeeds(single)


def test_nan_metric_fails_the_trial_naming_it(single: ExecutorProcess) -> None:
    result = result_of(run_trial(single.stub, assignment("reports_nan")))
    assert result.error.startswith("LocalRefusal: report at step 2: metric 'loss' is nan")
    assert_next_trial_succeeds(single)


def test_no_metrics_at_all_is_an_error(single: ExecutorProcess) -> None:
    result = result_of(run_trial(single.stub, assignment("returns_nothing")))
    assert result.error == "trainable 'returns_nothing' returned no metrics and reported none"


def test_worker_output_does_not_block_the_executor(single: ExecutorProcess) -> None:
    assert result_of(run_trial(single.stub, assignment("prints_a_lot"))).error == ""


# -- process level: command line, shutdown, registration --------------------------------------------


@pytest.mark.parametrize(("spec", "why"), [
    ("nospec", "expected NAME=module:function"),
    ("x=no_such_module_zz:train", "cannot import module 'no_such_module_zz'"),
    ("x=trainables_for_tests:no_such_function", "has no attribute 'no_such_function'"),
    ("x=trainables_for_tests:TESTS_CONSTANT", "not a function"),
])
def test_bad_trainable_spec_exits_2(spec: str, why: str) -> None:
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-m", "nestor_executor", "--port", "0", "--trainable", spec],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and repr(spec) in lines[0] and why in lines[0], proc.stderr
    assert proc.stdout == ""


def test_sigterm_interrupts_running_trials_and_exits_0(tmp_path: Path) -> None:
    ex = ExecutorProcess(slots=1, trainables=TEST_TRAINABLES, log_dir=tmp_path)
    try:
        call = start_trial(ex.stub, assignment("slow_until_stopped"))
        stream = iter(call)
        next(stream)
        next(stream)
        # A second trial waits in the backlog (sent ahead to the busy worker).
        waiting = iter(start_trial(ex.stub, assignment("echo", trial_id=2)))
        wait_until(lambda: ex.stub.Describe(executor_pb2.DescribeRequest()).queued == 1)
        ex.terminate()
        for s, why in ((stream, "the executor shut down"),
                       (waiting, "the executor shut down before the trial started")):
            with pytest.raises(grpc.RpcError) as err:
                list(s)
            # Not a result: the controller puts the trial back in its queue for another executor. Said by the
            # executor, not by its server cancelling what was left when it stopped.
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
            assert why in err.value.details()
        assert ex.stop() == 0, ex.log()
    finally:
        ex.kill()


class RecordingController(controller_pb2_grpc.ControllerServicer):
    def __init__(self) -> None:
        self.requests: list[controller_pb2.RegisterExecutorRequest] = []

    def RegisterExecutor(self, request: controller_pb2.RegisterExecutorRequest,
                         context: grpc.ServicerContext) -> controller_pb2.RegisterExecutorResponse:
        self.requests.append(request)
        return controller_pb2.RegisterExecutorResponse(executor_id=request.info.executor_id)


def start_controller(port: int) -> tuple[grpc.Server, RecordingController]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    recorder = RecordingController()
    controller_pb2_grpc.add_ControllerServicer_to_server(recorder, server)
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    server.start()
    return server, recorder


def test_registers_with_a_controller_that_starts_late_and_restarts(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ExecutorProcess("--register-interval", "0.3", "--device", "cpu", slots=1, log_dir=tmp_path,
                         controller=f"127.0.0.1:{port}") as ex:
        time.sleep(0.5)  # the controller is not there yet: the executor keeps serving and retrying
        assert ex.stub.Describe(executor_pb2.DescribeRequest()).slots == 1
        for _ in range(2):  # a controller that starts late, then one that restarts
            server, recorder = start_controller(port)
            try:
                wait_until(lambda r=recorder: len(r.requests) >= 2, timeout=20)
            finally:
                server.stop(None)
            request = recorder.requests[0]
            assert request.address == ex.address
            assert request.info.slots == 1 and "digits_mlp" in request.info.trainables
        assert ex.alive()


# -- in-process unit tests of the built-in trainables ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(functions.FUNCTIONS))
def test_function_value_at_its_argmin_is_its_optimum(name: str) -> None:
    f = functions.get(name)
    for dim in [f.fixed_dim] if f.fixed_dim else [2, 5]:
        x = f.argmin(dim)
        assert f(x) == pytest.approx(f.optimum(dim), abs=1e-6)
        assert all(lo <= xi <= hi for xi, (lo, hi) in zip(x, f.bounds(dim), strict=True))
        lo, hi = zip(*f.bounds(dim), strict=True)
        assert f([(a + b) / 2 + 0.1 for a, b in zip(lo, hi, strict=True)]) > f.optimum(dim)


def test_synthetic_needs_every_coordinate() -> None:
    with pytest.raises(ValueError, match="needs parameter 'x1'"):
        run_local(synthetic.train, {"x0": 1.0})
    ones = {f"x{i}": 1.0 for i in range(4)}
    final, ctx = run_local(synthetic.train, ones, config={"function": "rosenbrock"})
    assert final == {"value": 0.0, "regret": 0.0} and len(ctx.reports) == 1


def test_digits_mlp_resumes_the_same_curve(tmp_path: Path) -> None:
    params = {"lr": 3e-3, "hidden": 32, "dropout": 0.1}
    straight, ctx = run_local(digits_mlp.train, params, budget=4, seed=5, checkpoint_dir=str(tmp_path / "a"))
    assert [s for s, _ in ctx.reports] == [1, 2, 3, 4]
    run_local(digits_mlp.train, params, budget=2, seed=5, checkpoint_dir=str(tmp_path / "b"))
    first = ctx.reports
    resumed, ctx = run_local(digits_mlp.train, params, budget=4, seed=5, checkpoint_dir=str(tmp_path / "b"))
    assert [s for s, _ in ctx.reports] == [1, 2, 3, 4]  # what the checkpoint holds, sent again, then more
    assert ctx.reports[:2] == first[:2]
    assert resumed["val_loss"] == pytest.approx(straight["val_loss"], rel=1e-4)


def test_digits_mlp_good_settings_reach_95_percent(tmp_path: Path) -> None:
    final, ctx = run_local(digits_mlp.train, {"lr": 3e-3, "hidden": 128, "optimizer": "adam"},
                           checkpoint_dir=str(tmp_path))
    assert len(ctx.reports) == 20
    assert final["val_accuracy"] >= 0.95


def test_stop_in_the_middle_of_training(tmp_path: Path) -> None:
    final, ctx = run_local(digits_mlp.train, {"hidden": 16}, checkpoint_dir=str(tmp_path), stop_after_step=2)
    assert [s for s, _ in ctx.reports] == [1, 2]
    assert final["val_accuracy"] == ctx.reports[-1][1]["val_accuracy"]
