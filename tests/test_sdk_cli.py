"""The `nestor` command, run as a subprocess (`python -m nestor`): exit codes, error lines, output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nestor.processes import Supervisor
from test_sdk_client import FakeController, fake  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[1]


def nestor(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NESTOR_CONTROLLER", "NESTOR_TOKEN")}
    return subprocess.run([sys.executable, "-m", "nestor", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def assert_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for w in words:
        assert w in result.stderr, result.stderr


def test_help() -> None:
    for args in ([], ["study"], ["study", "create"], ["demo"], ["executors"]):
        result = nestor(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: nestor" in result.stdout
        assert "--controller" in result.stdout


def test_missing_file(tmp_path: Path) -> None:
    result = nestor("study", "create", "-f", str(tmp_path / "missing.yaml"))
    assert_error(result, "missing.yaml: no such file")


def test_malformed_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace: {lr: [1, 2\n")
    assert_error(nestor("study", "create", "-f", str(bad)), "bad.yaml", "invalid YAML")


def test_structural_error_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace:\n  lr: {type: double, min: abc, max: 1}\n")
    assert_error(nestor("study", "create", "-f", str(bad)), "space.lr.min: expected a number, got 'abc'")


@pytest.mark.parametrize("before", [True, False])
def test_unreachable_controller(before: bool) -> None:
    opts = ["--controller", "127.0.0.1:1", "--timeout", "1"]
    args = [*opts, "study", "list"] if before else ["study", "list", *opts]
    start = time.monotonic()
    result = nestor(*args)
    assert_error(result, "UNAVAILABLE", "cannot reach the controller at 127.0.0.1:1")
    assert time.monotonic() - start < 10


def test_usage_errors_exit_2() -> None:
    result = nestor("study", "best", "abc", "-n", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr


def test_commands_against_a_controller(fake: tuple[FakeController, str]) -> None:  # noqa: F811
    _, address = fake
    listed = nestor("study", "list", "--json", "--controller", address)
    assert listed.returncode == 0, listed.stderr
    (study,) = json.loads(listed.stdout)
    assert study["id"] == "s1" and study["state"] == "RUNNING"
    assert study["spec"]["budget"] == {"max_trials": 3}

    best = nestor("--controller", address, "study", "best", "s1", "--json")
    assert best.returncode == 0, best.stderr
    assert json.loads(best.stdout)["params"] == {"x": 0.3, "opt": "a"}

    table = nestor("--controller", address, "study", "best", "s1", "-n", "2")
    assert table.returncode == 0 and "best 2 trials" in table.stdout

    executors = nestor("executors", "--json", "--controller", address)
    assert json.loads(executors.stdout)[0]["info"]["trainables"] == ["digits_mlp"]

    watched = nestor("study", "watch", "s1", "--controller", address)
    assert watched.returncode == 0, watched.stderr
    assert "study s1 COMPLETED: budget of 2 trials spent" in watched.stdout
    assert "best trial 3 (COMPLETED): y = 0.25" in watched.stdout

    assert_error(nestor("study", "get", "nope", "--controller", address),
                 "NOT_FOUND: no study has the id, name or id prefix 'nope'")


def test_create_prints_the_id(fake: tuple[FakeController, str], tmp_path: Path) -> None:  # noqa: F811
    servicer, address = fake
    path = tmp_path / "study.yaml"
    path.write_text("name: x\nobjective: {metric: y, goal: min}\n"
                    "space: {x: {type: double, min: 0, max: 1}}\n")
    result = nestor("study", "create", "-f", str(path), "--controller", address)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "s1"
    (request,) = servicer.requests("CreateStudy")
    assert request.spec.name == "x" and request.request_id


CHILD = """
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("fake-server listening on 127.0.0.1:4242", flush=True)
print(grandchild.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; /proc tells them apart on Linux.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_supervisor_stops_children_and_their_workers(tmp_path: Path) -> None:
    supervisor = Supervisor(grace=2.0)
    child = supervisor.start("fake", [sys.executable, "-c", CHILD], "fake-server", tmp_path)
    assert child.wait_listening(20) == "127.0.0.1:4242"
    deadline = time.monotonic() + 10
    while not (lines := (tmp_path / "fake.log").read_text().split()[4:]) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(lines[0])
    assert _alive(child.proc.pid) and _alive(grandchild)
    supervisor.stop_all()
    assert not _alive(child.proc.pid)
    # The worker got its SIGTERM with the group; on a loaded machine it may take a moment to exit.
    deadline = time.monotonic() + 20
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert child.proc.returncode == -signal.SIGTERM


def test_supervisor_reports_a_child_that_dies(tmp_path: Path) -> None:
    from nestor.errors import LaunchError

    with Supervisor() as supervisor:
        cmd = [sys.executable, "-c", "import sys; sys.exit('no such trainable')"]
        child = supervisor.start("broken", cmd, "broken", tmp_path)
        with pytest.raises(LaunchError, match=r"(?s)broken exited \(code 1\).*no such trainable"):
            child.wait_listening(20)


STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("stubborn listening on 127.0.0.1:1", flush=True)
time.sleep(60)
"""

PARENT = """
import sys, time
from pathlib import Path
from nestor.processes import Supervisor
SLEEPER = ("import time; from nestor.processes import die_with_parent; die_with_parent(); "
           "print('sleeper listening on x', flush=True); time.sleep(60)")
child = Supervisor().start("sleeper", [sys.executable, "-c", SLEEPER], "sleeper", Path(sys.argv[1]))
child.wait_listening(20)
print(child.proc.pid, flush=True)
time.sleep(60)
"""


def test_supervisor_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    supervisor = Supervisor(grace=0.5)
    child = supervisor.start("stubborn", [sys.executable, "-c", STUBBORN], "stubborn", tmp_path)
    child.wait_listening(20)
    start = time.monotonic()
    supervisor.stop_all()
    assert child.proc.returncode == -signal.SIGKILL
    assert time.monotonic() - start < 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", PARENT, str(tmp_path)]
    parent = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert _alive(pid)
    parent.kill()  # SIGKILL: no atexit, no finally; only the kernel can clean up
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
