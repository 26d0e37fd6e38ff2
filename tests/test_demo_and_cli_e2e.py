"""`nestor demo` and the `nestor` CLI against real controller and executor processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster import Server, nestor_cli_with_ctrl_c, start_controller, start_executor

REPO = Path(__file__).resolve().parents[1]


def processes_under(directory: Path) -> list[int]:
    """Live processes whose working directory or command line lies under `directory`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd.startswith(str(directory)) or str(directory) in cmdline):
            found.append(int(proc.name))
    return found


def wait_until_gone(directory: Path, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_under(directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def demo_env(tmp_path: Path) -> dict[str, str]:
    # The demo's working directory goes under TMPDIR: every process it starts can then be found there.
    env = {k: v for k, v in os.environ.items() if k != "NESTOR_CONTROLLER"}
    return {**env, "TMPDIR": str(tmp_path), "COLUMNS": "120", "PYTHONUNBUFFERED": "1"}


def test_demo_runs_a_search_and_leaves_no_process(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "nestor", "demo", "--trials", "4", "--executors", "2"],
                            capture_output=True, text=True, timeout=240, env=demo_env(tmp_path), cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "budget of 4 trials spent" in out, out[-3000:]
    assert "best trial" in out and "val_accuracy = 0." in out, out[-3000:]
    assert out.count("executor-") >= 2
    assert wait_until_gone(tmp_path) == []


def test_ctrl_c_stops_the_demo_and_every_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(nestor_cli_with_ctrl_c("demo", "--trials", "500"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=demo_env(tmp_path), cwd=REPO,
                            start_new_session=True)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("study "):
            break
    assert any(line.startswith("study ") for line in seen), "".join(seen)
    assert len(processes_under(tmp_path)) >= 3  # controller, executors, their workers
    time.sleep(2)  # trials are running
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # the CLI prints every thread's stack: where it waits
        time.sleep(2)
        for pid in [proc.pid, *processes_under(tmp_path)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f"the demo did not end within 60 s of Ctrl-C; the end of its output:\n{out[-8000:]}")
    assert proc.returncode == 130
    assert wait_until_gone(tmp_path) == []


def nestor(address: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nestor", "--controller", address, *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env={**os.environ, "COLUMNS": "120"})


def test_cli_creates_watches_and_reports_a_managed_study(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    executor: Server | None = None
    try:
        executor = start_executor(tmp_path, ctl.address, "--slots", "2")
        spec = tmp_path / "branin.yaml"
        spec.write_text(
            "name: cli-branin\ntrainable: synthetic\nobjective: {metric: value, goal: minimize}\n"
            "algorithm: random\nbudget: {max_trials: 12, max_parallel: 2}\nseed: 3\n"
            "trainable_config: {function: branin}\n"
            "space:\n  x0: {type: double, min: -5, max: 10}\n  x1: {type: double, min: 0, max: 15}\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = json.loads(nestor(ctl.address, "executors", "--json").stdout or "[]")
            if any(e["healthy"] for e in listed):
                break
            time.sleep(0.2)
        created = nestor(ctl.address, "study", "create", "-f", str(spec), "--watch")
        assert created.returncode == 0, created.stderr
        study_id = created.stdout.split()[0]
        assert "budget of 12 trials spent" in created.stdout, created.stdout

        info = json.loads(nestor(ctl.address, "study", "get", study_id, "--json").stdout)
        assert info["state"] == "COMPLETED"
        trials = json.loads(nestor(ctl.address, "study", "trials", study_id, "--json").stdout)
        assert len(trials) == 12 and {t["state"] for t in trials} == {"COMPLETED"}
        best = json.loads(nestor(ctl.address, "study", "best", study_id, "--json").stdout)
        values = [t["final_metrics"]["value"] for t in trials]
        assert best["final_metrics"]["value"] == min(values)

        listed = json.loads(nestor(ctl.address, "study", "list", "--all", "--json").stdout)
        assert [s["id"] for s in listed] == [study_id]
        deleted = nestor(ctl.address, "study", "delete", study_id)
        assert deleted.returncode == 0, deleted.stderr
        gone = nestor(ctl.address, "study", "get", study_id)
        assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr
    finally:
        if executor is not None:
            executor.stop()
        ctl.stop()
