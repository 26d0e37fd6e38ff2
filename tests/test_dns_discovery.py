"""Executors found by DNS (`--executors dns:///name:port`), re-resolved as the name's addresses change.

The controller runs in its own mount namespace with a private /etc/hosts, which the
test rewrites as a headless Kubernetes Service's records would change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster import Server, controller_stub, start_executor
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

NAME = "executors.nestor.test"


def why_not_here() -> str:
    if os.geteuid() != 0:
        return "needs root for a private /etc/hosts (unshare --mount)"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux)"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"unshare --mount fails: {probe.stderr.strip()}"


def healthy(address: str) -> set[str]:
    listed = controller_stub(address).ListExecutors(c.ListExecutorsRequest(), timeout=10).executors
    return {e.address for e in listed if e.healthy}


def wait_for(address: str, expected: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := healthy(address)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"healthy executors {sorted(got)}, expected {sorted(expected)}")
        time.sleep(0.1)


def test_executors_follow_the_dns_name(tmp_path: Path) -> None:
    why = why_not_here()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the DNS discovery test must run in CI: {why}")
        pytest.skip(why)
    # Two executors on one port, at two loopback addresses: two records of one name.
    first = start_executor(tmp_path, None, "--host", "127.0.0.1", name="executor1")
    port = first.port
    second = start_executor(tmp_path, None, "--host", "127.0.0.2", "--port", str(port), name="executor2")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {NAME}\n")
    controller: Server | None = None
    try:
        script = (f'mount --bind {hosts} /etc/hosts && exec "$@"')
        controller = Server("controller", [
            "unshare", "--mount", "sh", "-c", script, "sh", sys.executable, "-m", "nestor_controller",
            "--port", "0", "--store", f"sqlite:///{tmp_path / 'nestor.db'}", "--executors",
            f"dns:///{NAME}:{port}", "--dns-interval", "0.3", "--health-interval", "0.5"], tmp_path)
        address = controller.address
        wait_for(address, {f"127.0.0.1:{port}"})

        # The name gains a record: a second executor joins. Written in place: the bind mount follows the inode.
        with open(hosts, "a") as f:
            f.write(f"127.0.0.2 {NAME}\n")
        wait_for(address, {f"127.0.0.1:{port}", f"127.0.0.2:{port}"})
        spec = s.StudySpec(
            name="dns", trainable="synthetic", seed=1,
            space=sp.SearchSpace(parameters=[sp.Parameter(name="x0", double=sp.DoubleDomain(min=-5, max=10)),
                                             sp.Parameter(name="x1", double=sp.DoubleDomain(min=0, max=15))]),
            objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
            budget=s.Budget(max_trials=8, max_parallel=2))
        spec.trainable_config.update({"function": "branin", "sleep_s": 0.1})
        stub = controller_stub(address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
        list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=120))
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
        assert len(trials) == 8 and {t.state for t in trials} == {s.TRIAL_COMPLETED}
        assert {t.executor for t in trials} == {f"127.0.0.1:{port}", f"127.0.0.2:{port}"}

        # A record goes away (a pod deleted): its executor gets no more trials.
        with open(hosts, "r+") as f:
            f.seek(0)
            f.write(f"127.0.0.1 localhost\n127.0.0.2 {NAME}\n")
            f.truncate()
        wait_for(address, {f"127.0.0.2:{port}"})
    finally:
        if controller is not None:
            controller.stop()
        first.stop()
        second.stop()
