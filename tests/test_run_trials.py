"""RunTrials: many runs over one stream, each as RunTrial would run it; and a controller that still speaks
RunTrial to an executor that does not serve RunTrials."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cluster import controller_stub, start_controller, wait_for_executors
from executor_helpers import TEST_TRAINABLES, ExecutorProcess, assignment, wait_until
from nestor.v1 import controller_pb2 as c
from nestor.v1 import executor_pb2
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

ROOT = Path(__file__).resolve().parents[1]
OK, NOT_FOUND, INVALID_ARGUMENT = (code.value[0] for code in (
    grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT))


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorProcess]:
    with ExecutorProcess(slots=2, trainables=TEST_TRAINABLES, log_dir=tmp_path_factory.mktemp("runs")) as ex:
        yield ex


class Runs:
    """One RunTrials stream driven item by item; the replies are read per run."""

    def __init__(self, ex: ExecutorProcess) -> None:
        self._requests: queue.Queue[executor_pb2.RunControls | None] = queue.Queue()
        self.call = ex.stub.RunTrials(iter(self._requests.get, None), timeout=120)
        self._replies = iter(self.call)
        self.got: dict[int, list[executor_pb2.RunReply]] = {}

    def send(self, *items: executor_pb2.RunControl) -> None:
        self._requests.put(executor_pb2.RunControls(items=items))

    def assign(self, run: int, trainable: str, **kw: object) -> None:
        a = assignment(trainable, trial_id=run, **kw)  # type: ignore[arg-type]
        self.send(executor_pb2.RunControl(run=run, message=executor_pb2.ControllerMessage(assignment=a)))

    def until(self, run: int, kind: str) -> executor_pb2.RunReply:
        """Reads replies (of any run) until `run` has one of `kind` ("end", or a message's body)."""
        while True:
            for r in self.got.get(run, []):
                if (r.WhichOneof("body") if kind == "end" else r.message.WhichOneof("body")) == kind:
                    return r
            reply = next(self._replies)
            for item in reply.items:
                self.got.setdefault(item.run, []).append(item)

    def close(self) -> None:
        self._requests.put(None)


def test_runs_share_a_stream_each_as_run_trial_would_run_it(executor: ExecutorProcess) -> None:
    assert executor.stub.Describe(executor_pb2.DescribeRequest()).runs_trials_together
    runs = Runs(executor)
    runs.assign(1, "slow_until_stopped")
    runs.assign(2, "echo", params={"a": 1.5})
    runs.assign(3, "nope")
    runs.send(executor_pb2.RunControl(run=4, message=executor_pb2.ControllerMessage(
        stop=executor_pb2.StopTrial(reason="x"))))

    # Each run's messages come in RunTrial's order, and it ends with RunTrial's status.
    assert runs.until(2, "end").end.code == OK
    kinds = [r.message.WhichOneof("body") for r in runs.got[2][:-1]]
    assert kinds[0] == "started" and kinds[-1] == "result", kinds
    assert runs.got[2][1].message.measurement.metrics["a"] == 1.5
    assert runs.got[2][-2].message.result.final_measurement.metrics["trial_id"] == 2
    end = runs.until(3, "end").end
    assert end.code == NOT_FOUND and end.details.startswith("trainable 'nope' is not served by this executor")
    end = runs.until(4, "end").end
    assert end.code == INVALID_ARGUMENT and "first message must be an assignment, got stop" in end.details

    # A stop in a run's items stops that run only.
    runs.until(1, "started")
    runs.assign(5, "slow_until_stopped")
    runs.until(5, "started")
    runs.send(executor_pb2.RunControl(run=1, message=executor_pb2.ControllerMessage(
        stop=executor_pb2.StopTrial(reason="enough"))))
    assert runs.until(1, "result").message.result.stopped
    assert runs.until(1, "end").end.code == OK
    assert 5 not in {r.run for r in runs.got.get(5, []) if r.WhichOneof("body") == "end"}

    # Cancelled, a run leaves its slot; items for runs that ended, or older numbers, start nothing.
    runs.send(executor_pb2.RunControl(run=5, cancel=True),
              executor_pb2.RunControl(run=1, message=executor_pb2.ControllerMessage(
                  assignment=assignment("slow_until_stopped", trial_id=1))))
    wait_until(lambda: not executor.stub.Describe(executor_pb2.DescribeRequest()).running, timeout=30)
    runs.assign(6, "echo", params={"a": 2.0})
    assert runs.until(6, "end").end.code == OK
    assert all(r.WhichOneof("body") != "end" for r in runs.got[5])  # a cancelled run is not answered for

    # Half-closed, the stream ends once its runs have: OK.
    runs.assign(7, "echo", params={"a": 3.0})
    runs.close()
    for reply in runs._replies:
        for item in reply.items:
            runs.got.setdefault(item.run, []).append(item)
    assert runs.got[7][-1].end.code == OK
    assert runs.call.code() == grpc.StatusCode.OK


def test_a_stream_cut_lets_every_run_on_it_go(executor: ExecutorProcess) -> None:
    runs = Runs(executor)
    for run in (1, 2, 3):
        runs.assign(run, "slow_until_stopped")  # two run, one waits in the backlog
    runs.until(1, "started")
    runs.until(2, "started")
    wait_until(lambda: len(executor.stub.Describe(executor_pb2.DescribeRequest()).running) == 3, timeout=30)
    runs.call.cancel()
    runs.close()
    wait_until(lambda: not executor.stub.Describe(executor_pb2.DescribeRequest()).running, timeout=30)


def test_an_item_without_a_body_ends_the_stream(executor: ExecutorProcess) -> None:
    runs = Runs(executor)
    runs.send(executor_pb2.RunControl(run=1))
    with pytest.raises(grpc.RpcError) as err:
        runs.until(1, "end")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "/nestor.v1.Executor/RunTrials: the item for run 1 has no body"
    runs.close()


@pytest.mark.parametrize("together", [False, True], ids=["RunTrial-only executors", "RunTrials executors"])
def test_the_controller_runs_trials_over_what_the_executor_serves(tmp_path: Path, together: bool) -> None:
    """bench/loadgen.py with --run-trial-streams speaks the protocol as an executor older than RunTrials."""
    ctl = start_controller(tmp_path)
    stats = tmp_path / "loadgen.json"
    gen = subprocess.Popen([sys.executable, str(ROOT / "bench" / "loadgen.py"), "--controller", ctl.address,
                            "--executors", "2", "--slots", "2", "--stats", str(stats),
                            *([] if together else ["--run-trial-streams"])],
                           stdout=subprocess.PIPE, text=True)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 2)
        spec = s.StudySpec(
            name="old-executors", trainable="noop", seed=1, algorithm=s.AlgorithmSpec(name="random"),
            space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
            objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
            budget=s.Budget(max_trials=30, max_parallel=4))
        spec.trainable_config.update({"steps": 3})
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
        for _ in stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=120):
            pass
        study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_COMPLETED and study.counts.completed == 30, study
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
        assert sorted(t.final_measurement.step for t in trials) == [3] * 30
    finally:
        gen.terminate()
        gen.wait(timeout=30)
        ctl.stop()
    served = json.loads(stats.read_text())
    assert served["trials"] == 30, served
    # One stream per executor that serves RunTrials (a broken one would be opened again), none otherwise.
    assert served["run_trials_streams"] == (2 if together else 0), served
