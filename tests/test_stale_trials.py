"""Ask/tell trials whose client is gone expire (`heartbeat_timeout_s`, `trial_timeout_s`) while the study goes on.

The abandoned client is a real process killed with SIGKILL after it asked for a trial."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import nestor
from cluster import Server

SPEC = {
    "name": "stale", "seed": 3, "objective": {"metric": "y", "goal": "minimize"},
    "budget": {"max_trials": 4}, "space": {"x": {"type": "double", "min": 0, "max": 1}},
}

ABANDONING_CLIENT = textwrap.dedent("""
    import sys, time
    import nestor
    study = nestor.Client(sys.argv[1]).study(sys.argv[2])
    (trial,) = study.suggest(1, client_id="doomed-client")
    trial.report(1, {"y": 5.0})
    print(trial.id, trial.params["x"], flush=True)
    time.sleep(600)
""")


def abandon_a_trial(address: str, study_id: str) -> tuple[int, float]:
    """A client process asks for a trial, reports once and is killed: its trial is left RUNNING."""
    proc = subprocess.Popen([sys.executable, "-c", ABANDONING_CLIENT, address, study_id], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        trial_id, x = proc.stdout.readline().split()
    finally:
        proc.kill()
        proc.wait()
    return int(trial_id), float(x)


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_an_abandoned_trial_fails_with_its_reason_while_other_trials_go_on(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        study = client.create_study({**SPEC, "heartbeat_timeout_s": 1.5})
        lost_id, _ = abandon_a_trial(controller.address, study.id)
        (alive,) = study.suggest(1)
        # A client that keeps reporting keeps its trial, however long it runs.
        for step in range(1, 8):
            alive.report(step, {"y": 1.0 / step})
            time.sleep(0.4)
        lost = study.trial(lost_id)
        assert lost.state_name == "FAILED"
        assert "no report from its client doomed-client" in lost.error and "heartbeat_timeout_s" in lost.error
        assert alive.refresh().state_name == "RUNNING"
        alive.complete({"y": 0.1})
        while trials := study.suggest(1):
            trials[0].complete({"y": trials[0].params["x"]})
        info = study.wait(timeout=30)
        assert info.state == nestor.v1.study_pb2.STUDY_COMPLETED
        assert (info.counts.completed, info.counts.failed) == (4, 1)


def test_trial_timeout_applies_to_client_trials_and_requeue_hands_them_out_again(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        study = client.create_study({**SPEC, "trial_timeout_s": 1.0, "expired_trials": "requeue"})
        lost_id, lost_x = abandon_a_trial(controller.address, study.id)
        wait_for(lambda: study.trial(lost_id).state_name == "PENDING")
        # The next client gets the same trial again (same id, same point), before any new one.
        (again,) = study.suggest(1, client_id="second-client")
        assert (again.id, again.params["x"]) == (lost_id, lost_x)
        assert again.executor == "second-client"
        again.complete({"y": 0.5})
        assert study.trial(lost_id).state_name == "COMPLETED"
        study.stop("done")  # so that watching replays the history and ends
        events = [e for e in study.watch() if e.trial_id == lost_id]
        assert any(e.type == nestor.v1.controller_pb2.STUDY_EVENT_TRIAL_REQUEUED and "trial_timeout_s" in e.message
                   for e in events)


def test_expiry_settings_are_checked(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        for bad, field in (({"heartbeat_timeout_s": -1}, "spec.heartbeat_timeout_s"),
                           ({"expired_trials": "retry"}, "spec.expired_trials")):
            try:
                client.create_study({**SPEC, **bad})
            except nestor.InvalidArgument as e:
                assert field in str(e)
            else:
                raise AssertionError(f"{bad} was accepted")


def test_report_to_an_expired_trial_says_why(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        study = client.create_study({**SPEC, "heartbeat_timeout_s": 0.5})
        (t,) = study.suggest(1)
        wait_for(lambda: study.trial(t.id).state_name == "FAILED")
        try:
            t.report(1, {"y": 1.0})
        except nestor.FailedPrecondition as e:
            assert "is FAILED (expired: no report" in str(e)
        else:
            raise AssertionError("a report to an expired trial was accepted")
