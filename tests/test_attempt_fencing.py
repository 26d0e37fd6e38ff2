"""Attempt fencing: a stale run of a trial writes nothing and reports nothing once a newer attempt has it.

The checkpoint helpers (`ctx.save_checkpoint`, `ctx.load_checkpoint`) on real
files; a stale attempt sent straight to a real executor; and the fault itself: a
managed trial whose executor is frozen (SIGSTOP) until the controller gives its
trial to another executor, then thawed (SIGCONT). The frozen run's one more step
reaches neither the store nor the newer attempt's checkpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fencing_trainables
import pytest
from cluster import Server, controller_stub, start_controller, start_executor, wait_for_executors
from executor_helpers import ExecutorProcess, assignment, kinds, run_trial
from nestor.checkpoints import CHECKPOINT_FILE, LOCK_FILE, CheckpointDir, CheckpointError, StaleAttempt, decode
from nestor.trainable import run_local
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

pytestmark = pytest.mark.timeout(180)

FENCED = "fenced=fencing_trainables:fenced_steps"


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return found


# -- the helpers on real files ------------------------------------------------------------------------------


def test_save_and_load_json_and_bytes_atomically(tmp_path: Path) -> None:
    folder = CheckpointDir(str(tmp_path / "trial"), attempt=1)
    assert folder.load() is None
    folder.claim()
    assert folder.holder() == 1
    assert folder.save({"history": [1, 2]}, step=2) == str(tmp_path / "trial" / CHECKPOINT_FILE)
    found = folder.load()
    assert found is not None and (found.state, found.step, found.attempt) == ({"history": [1, 2]}, 2, 1)
    folder.save(b"\x00weights\n\xff", step=3)
    found = folder.load()
    assert found is not None and (found.state, found.step) == (b"\x00weights\n\xff", 3)
    # Only the checkpoint, the marker and the lock: no temporary file is left behind.
    assert sorted(os.listdir(tmp_path / "trial")) == sorted([CHECKPOINT_FILE, ".nestor-attempt", LOCK_FILE])
    with pytest.raises(TypeError, match="bytes or JSON-serialisable"):
        folder.save({"tensor": object()}, step=4)
    (tmp_path / "trial" / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a Nestor checkpoint"):
        folder.load()


def test_a_stale_attempt_writes_nothing_and_cannot_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "trial")
    old, new = CheckpointDir(path, attempt=1), CheckpointDir(path, attempt=2)
    old.claim()
    assert old.save({"by": 1}, step=1)
    new.claim()  # the trial moved on: the newer attempt holds the folder now
    assert new.load().state == {"by": 1}  # type: ignore[union-attr]
    assert new.save({"by": 2}, step=2)
    assert old.save({"by": 1}, step=2) is None
    assert isinstance(old.stale, StaleAttempt) and "attempt 2 of the same trial holds" in str(old.stale)
    assert old.save({"by": 1}, step=3) is None  # and every later save
    assert new.load().state == {"by": 2}  # type: ignore[union-attr]
    with pytest.raises(StaleAttempt, match="attempt 1 is stale"):
        CheckpointDir(path, attempt=1).claim()
    assert CheckpointDir(path, attempt=2).holder() == 2


def test_run_local_gives_the_helpers_and_a_stale_local_run_stops(tmp_path: Path) -> None:
    config = {"steps": 3, "sleep_s": 0.0}
    final, ctx = run_local(fencing_trainables.fenced_steps, {}, config=config, checkpoint_dir=str(tmp_path),
                           attempt=1)
    assert [step for step, _ in ctx.reports] == [1, 2, 3] and final["attempt"] == 1.0
    CheckpointDir(str(tmp_path), attempt=5).claim()
    _, stale = run_local(fencing_trainables.fenced_steps, {}, config={"steps": 4, "sleep_s": 0.0},
                         checkpoint_dir=str(tmp_path), attempt=2)
    assert stale.should_stop and [step for step, _ in stale.reports] == [1, 2, 3]  # resumed, wrote nothing
    assert decode((tmp_path / CHECKPOINT_FILE).read_bytes(), "").step == 3


# -- a stale attempt sent to a real executor ----------------------------------------------------------------


def test_a_stale_attempt_does_not_run_on_an_executor(tmp_path: Path) -> None:
    with ExecutorProcess(trainables=(FENCED,), log_dir=tmp_path) as ex:
        log = tmp_path / "runs.log"
        common = {"study_id": "s-fence", "trial_id": 1, "checkpoint_dir": "s-fence/trial-1",
                  "config": {"steps": 2, "sleep_s": 0.0, "log": str(log)}}
        msgs = run_trial(ex.stub, assignment("fenced", attempt=2, **common))
        assert msgs[-1].result.error == "" and kinds(msgs).count("measurement") == 2
        checkpoint = Path(ex.artifact_dir) / "s-fence" / "trial-1" / CHECKPOINT_FILE
        written = checkpoint.read_bytes()

        msgs = run_trial(ex.stub, assignment("fenced", attempt=1, **common))
        assert kinds(msgs) == ["started", "result"]  # no measurement, no checkpoint: it never ran
        assert msgs[-1].result.error.startswith("attempt 1 is stale: attempt 2 of the same trial holds")
        assert not msgs[-1].result.HasField("final_measurement")
        assert checkpoint.read_bytes() == written
        assert [e["attempt"] for e in read_log(log) if e["event"] == "start"] == [2]

        # A newer attempt resumes from it, as the controller's next dispatch would.
        msgs = run_trial(ex.stub, assignment("fenced", attempt=3, **{**common, "config": {**common["config"],
                                                                                        "steps": 3}}))
        assert msgs[-1].result.error == "" and msgs[-1].result.final_measurement.metrics["attempt"] == 3.0
        assert decode(checkpoint.read_bytes(), "").attempt == 3


# -- the fault: an executor frozen past its health checks, then thawed ----------------------------------------


def group_stopped(pgid: int) -> bool:
    """Every process of the group is stopped (state T): a SIGSTOP is sent at once but takes effect later."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            states.append(fields[0])
    return bool(states) and all(state in "TtZX" for state in states)  # zombies never run again


def freeze(victim: Server, folder: Path) -> None:
    """SIGSTOP the executor and its worker at a moment its run does not hold the checkpoint's lock.

    A run frozen inside the lock (it is held for a rename, microseconds) would make the newer attempt wait for
    the thaw; that is correct, but it is not the fault this test is about."""
    while True:
        victim.signal(signal.SIGSTOP)
        wait_for("the executor stops", lambda: group_stopped(victim.proc.pid), timeout=10)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        finally:
            os.close(fd)  # releases the probe's lock too
        victim.signal(signal.SIGCONT)
        time.sleep(0.05)


def test_a_frozen_executor_thawed_after_its_trial_moved_reaches_neither_store_nor_checkpoint(
        tmp_path: Path) -> None:
    artifacts, log = tmp_path / "artifacts", tmp_path / "runs.log"
    steps = 10
    # The artifact directory is shared, at the same path for the controller and both executors.
    ctl = start_controller(tmp_path, "--artifact-dir", str(artifacts), "--health-interval", "0.3")
    executors = [start_executor(tmp_path, ctl.address, "--register-interval", "0.3", name=f"executor{i}",
                                trainables=(FENCED,)) for i in range(2)]
    victim: Server | None = None
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 2)
        spec = s.StudySpec(
            name="fencing", trainable="fenced",
            space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
            objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
            budget=s.Budget(max_trials=1, max_parallel=1))
        spec.trainable_config.update({"steps": steps, "sleep_s": 0.25, "log": str(log)})
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec), timeout=30).id

        def running_at(step: int) -> s.Trial | None:
            made = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True), timeout=30).trials
            t = made[0] if made else None  # none yet while the algorithm suggests the first
            return t if t is not None and t.state == s.TRIAL_RUNNING and len(t.measurements) >= step else None

        first = wait_for("the trial reaches step 2", lambda: running_at(2))
        assert first.attempt == 1
        victim = next(e for e in executors if e.address == first.executor)
        survivor = next(e for e in executors if e is not victim)
        folder = artifacts / sid / "trial-1"
        freeze(victim, folder)
        saved_before = [e["step"] for e in read_log(log) if e["attempt"] == 1 and e["event"] == "saved"]
        assert saved_before == list(range(1, len(saved_before) + 1)) and len(saved_before) < steps

        # The controller misses its health checks, gives the trial to the other executor (attempt 2), and that
        # run claims the checkpoint and saves a step of its own while the first one is still frozen.
        wait_for("attempt 2 saves a step",
                 lambda: any(e["attempt"] == 2 and e["event"] == "saved" for e in read_log(log)))
        victim.signal(signal.SIGCONT)
        fenced = wait_for("the thawed run tries its next save",
                          lambda: [e for e in read_log(log) if e["attempt"] == 1 and e["event"] == "fenced"])
        assert [e["step"] for e in fenced] == [len(saved_before) + 1] and fenced[0]["should_stop"]

        study = wait_for("the study ends", lambda: (lambda st: st if st.state != s.STUDY_RUNNING else None)(
            stub.GetStudy(c.GetStudyRequest(study_id=sid), timeout=30)))
        assert study.state == s.STUDY_COMPLETED, study.reason
        (trial,) = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True), timeout=30).trials
        assert (trial.state, trial.attempt, trial.executor) == (s.TRIAL_COMPLETED, 2, survivor.address)
        assert trial.final_measurement.metrics["attempt"] == 2.0

        # The store: every step once; what attempt 1 measured is only what it saved before it froze.
        assert [m.step for m in trial.measurements] == list(range(1, steps + 1))
        by_first = [m.step for m in trial.measurements if m.metrics["attempt"] == 1.0]
        assert set(by_first) <= set(saved_before), (by_first, saved_before)
        assert all(m.metrics["attempt"] == 2.0 for m in trial.measurements if m.step > len(saved_before))

        # The checkpoint: attempt 2's, whole; attempt 1's steps only up to its freeze.
        found = decode((folder / CHECKPOINT_FILE).read_bytes(), str(folder))
        assert (found.attempt, found.step) == (2, steps)
        assert [(h["step"], h["attempt"]) for h in found.state["history"]] == \
            [(n, 1 if n <= len(saved_before) else 2) for n in range(1, steps + 1)]
        assert CheckpointDir(str(folder), 2).holder() == 2

        events = list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=30))
        completed = [e for e in events if e.type == c.StudyEventType.STUDY_EVENT_TRIAL_COMPLETED]
        assert len(completed) == 1
    finally:
        if victim is not None:
            victim.signal(signal.SIGCONT)
        for e in executors:
            e.stop()
        ctl.stop()
