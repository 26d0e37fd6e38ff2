"""What a newcomer from Optuna, Ray Tune or Katib meets first, through real processes: embedded mode, tables,
exit codes, Ctrl-C, a study no executor serves, lookup by name, a wrong address."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nestor
import pytest
from cluster import Server, nestor_cli_with_ctrl_c, start_controller, start_executor
from nestor.v1 import study_pb2
from test_sdk_cli import REPO, assert_error
from test_sdk_cli import nestor as run_nestor


def ask_tell_spec(name: str, max_trials: int = 4, **extra: object) -> dict:
    return {"name": name, "seed": 5, "objective": {"metric": "y", "goal": "minimize"},
            "budget": {"max_trials": max_trials}, **extra,
            "space": {"z": {"type": "double", "min": 0, "max": 1}, "a": {"type": "int", "min": 1, "max": 9},
                      "m": ["sgd", "adam"]}}


def finish(study: nestor.Study, fail_first: bool = False) -> None:
    first = True
    while trials := study.suggest(2):
        for t in trials:
            if fail_first and first:
                t.fail("diverged")
                first = False
            else:
                t.complete({"y": t.params["z"] + t.params["a"], "other": 1.0})


EMBEDDED = textwrap.dedent("""
    import sys
    import nestor
    with nestor.Client.local(sys.argv[1]) as client:
        if sys.argv[2] == "create":
            study = client.create_study({"name": "embedded", "seed": 1, "budget": {"max_trials": 6},
                                         "objective": {"metric": "y", "goal": "minimize"},
                                         "space": {"x": {"type": "double", "min": 0, "max": 1}}})
            for t in study.suggest(3):
                t.complete({"y": t.params["x"]})
        else:
            study = client.find_study("embedded")
            while trials := study.suggest(2):
                for t in trials:
                    t.complete({"y": t.params["x"]})
            info = study.wait(timeout=30)
            print(info.state, info.counts.completed, [t.id for t in study.trials()])
""")


def test_embedded_mode_across_a_process_restart_then_a_real_controller(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    for step in ("create", "continue"):
        result = subprocess.run([sys.executable, "-c", EMBEDDED, str(db), step], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
    assert result.stdout.split(maxsplit=2) == [str(study_pb2.STUDY_COMPLETED), "6", "[1, 2, 3, 4, 5, 6]\n"]
    # The store is an ordinary one: a server opens it (and the private controller is gone: no lease held).
    server = start_controller(tmp_path, store=f"sqlite:///{db}")
    try:
        with nestor.Client(server.address) as client:
            (study,) = client.list_studies(include_finished=True)
            assert study.name == "embedded" and study.proto.counts.completed == 6
    finally:
        server.stop()


def test_embedded_managed_study_checkpoint_location_and_purge(tmp_path: Path) -> None:
    spec = {"name": "managed-local", "trainable": "synthetic", "trainable_config": {"function": "branin"},
            "objective": {"metric": "value", "goal": "minimize"}, "budget": {"max_trials": 2},
            "fidelity": {"name": "epoch", "min": 1, "max": 2}, "seed": 2,
            "space": {"x0": {"type": "double", "min": -5, "max": 10}, "x1": {"type": "double", "min": 0, "max": 15}}}
    with nestor.Client.local(tmp_path / "m.db", slots=1) as client:
        study = client.create_study(spec)
        assert study.wait(timeout=120).state == study_pb2.STUDY_COMPLETED
        where = Path(study.best_checkpoint())
        assert where.is_dir() and any(where.iterdir()), where
        assert where.is_relative_to(tmp_path / "m.db.artifacts")
        answer = study.delete(purge=True)
        assert list(answer.purged) == [str(where.parent)] and not where.exists()


def test_trials_dataframe_and_csv_have_a_row_per_trial_in_space_order(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        study = client.create_study(ask_tell_spec("frame", budget={"max_trials": 4, "max_failed": 1}))
        finish(study, fail_first=True)
        frame = study.trials_dataframe()
        csv_out = run_nestor("study", "trials", "frame", "--csv", "--controller", controller.address)
    assert list(frame.columns[:7]) == ["number", "state", "value", "datetime_start", "datetime_complete",
                                       "duration_s", "params_z"]
    assert list(frame.columns[7:11]) == ["params_a", "params_m", "metrics_y", "metrics_other"]
    assert len(frame) == 5 and list(frame["number"]) == [1, 2, 3, 4, 5]
    assert list(frame["state"]).count("FAILED") == 1 and frame["value"].isna().sum() == 1
    done = frame[frame["state"] == "COMPLETED"]
    assert (done["value"] == done["params_z"] + done["params_a"]).all()
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert csv_out.returncode == 0 and len(rows) == 5
    assert list(rows[0]) == list(frame.columns)
    assert rows[0]["error"] == "diverged"


def test_params_come_back_in_the_order_of_the_space(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        study = client.create_study(ask_tell_spec("order"))
        (t,) = study.suggest(1)
        assert list(t.params) == ["z", "a", "m"]
        assert list(client.study(study.id).trial(t.id).params) == ["z", "a", "m"]


def test_exit_status_says_how_the_watched_study_ended(controller: Server) -> None:
    address = controller.address
    with nestor.Client(address) as client:
        completed = client.create_study(ask_tell_spec("ends-completed", 2))
        finish(completed)
        failed = client.create_study(ask_tell_spec("ends-failed", 2, budget={"max_trials": 2, "max_failed": 0}))
        failed.suggest(1)[0].fail("boom")
        stopped = client.create_study(ask_tell_spec("ends-stopped", 2))
        stopped.stop("enough")
    for name, code, words in (("ends-completed", 0, ""), ("ends-failed", 3, "ended FAILED"),
                              ("ends-stopped", 4, "ended STOPPED: enough")):
        result = run_nestor("study", "watch", name, "--controller", address)
        assert result.returncode == code, result
        assert words in result.stdout


def watch_then_interrupt(address: str, study_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(nestor_cli_with_ctrl_c("study", "watch", study_id, "--controller", address, *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    proc.stdout.readline()  # it follows the study now (a line per finished trial)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_in_watch_says_the_study_goes_on_or_stops_it(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        study = client.create_study(ask_tell_spec("interrupted", 10))
        study.suggest(1)[0].complete({"y": 1.0})
        result = watch_then_interrupt(controller.address, study.id)
        assert result.returncode == 130
        assert f"study {study.id} goes on" in result.stderr and f"nestor study stop {study.id}" in result.stderr
        assert study.state == study_pb2.STUDY_RUNNING
        result = watch_then_interrupt(controller.address, study.id, "--stop-on-interrupt")
        assert result.returncode == 130 and f"study {study.id} stopped" in result.stderr
        assert study.state == study_pb2.STUDY_STOPPED


def test_get_warns_when_no_executor_serves_the_trainable(controller: Server) -> None:
    spec = {**ask_tell_spec("unserved"), "trainable": "my_model"}
    with nestor.Client(controller.address) as client:
        client.create_study(spec)
    result = run_nestor("study", "get", "unserved", "--controller", controller.address)
    assert result.returncode == 0
    assert "no healthy executor serves trainable 'my_model'" in " ".join(result.stdout.split())


def test_studies_by_unique_name_or_id_prefix(controller: Server) -> None:
    with nestor.Client(controller.address) as client:
        one = client.create_study(ask_tell_spec("twin"))
        client.create_study(ask_tell_spec("twin"))
        single = client.create_study(ask_tell_spec("single"))
        assert client.find_study("single").id == single.id
        assert client.find_study(one.id[:12]).id == one.id
        with pytest.raises(nestor.InvalidArgument, match="'twin' names 2 studies"):
            client.find_study("twin")
    result = run_nestor("study", "get", single.id[:10], "--controller", controller.address)
    assert result.returncode == 0 and single.id in result.stdout


def test_a_wrong_address_fails_at_once_and_an_executor_is_named(tmp_path: Path) -> None:
    started = time.monotonic()
    assert_error(run_nestor("study", "list", "--controller", "127.0.0.1:9"), "is a controller running there?")
    assert time.monotonic() - started < 8  # not the SDK's 10 s of retries
    executor = start_executor(tmp_path, None, trainables=())
    try:
        assert_error(run_nestor("study", "list", "--controller", executor.address),
                     f"{executor.address} is a Nestor executor", "not the controller")
    finally:
        executor.stop()


def test_demo_refuses_flags_it_would_ignore() -> None:
    for flag in (["--controller", "localhost:50051"], ["--local", "x.db"]):
        result = run_nestor("demo", *flag)
        assert result.returncode == 2 and f"{flag[0]} is not used by it" in result.stderr
