"""Starts real controller and executor processes for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from nestor.v1 import controller_pb2, controller_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


class Server:
    """A server process that printed `... listening on HOST:PORT`."""

    def __init__(self, name: str, cmd: Sequence[str], log_dir: Path, env: dict[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        self.name = name
        self.cmd = list(cmd)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), self.env.get("PYTHONPATH", "")]))
        self.proc = self._spawn()
        self.address = self._wait_listening(timeout)

    def _spawn(self) -> subprocess.Popen[str]:
        self._log = open(self.log_path, "a")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._log, text=True, env=self.env,
                                start_new_session=True)

    def _wait_listening(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        self.banner: list[str] = []  # what it printed first: its health and metrics endpoints
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.banner.append(line.strip())
            if " listening on " in line:
                return line.strip().rsplit(" ", 1)[-1]
        self.kill()
        raise RuntimeError(f"{self.name} did not start: {' '.join(self.cmd)}\n{self.log()}")

    def announced(self, what: str) -> str:
        """The address after `<what> on ` in the start-up lines, e.g. announced("metrics") -> http://.../metrics."""
        for line in self.banner:
            if f" {what} on " in line:
                return line.split(f" {what} on ", 1)[1].split()[0]
        raise LookupError(f"{self.name} did not announce its {what}: {self.banner}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-8000:]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole process group: the server and its worker processes."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> int:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def nestor_cli_with_ctrl_c(*args: str) -> list[str]:
    """The command line of `python -m nestor ARGS` that takes Ctrl-C as a KeyboardInterrupt even when the tests
    run in the background (`nohup make test &`), where SIGINT is ignored and a child would inherit that.

    The child restores the handler itself after exec: a preexec_fn would run between fork and exec, and with
    the test process holding gRPC channels, gRPC's fork handlers sometimes abort that child (epoll_wait:
    Bad file descriptor, grpc/grpc#43055), as client_sdk/nestor/processes.py notes for the executors."""
    restore = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "sys.argv[0] = 'nestor'; runpy.run_module('nestor', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", restore, *args]


def start_controller(workdir: Path, *args: str, store: str | None = None, port: int = 0) -> Server:
    store = store or f"sqlite:///{workdir / 'nestor.db'}"
    cmd = [sys.executable, "-m", "nestor_controller", "--port", str(port), "--store", store,
           "--log-level", "INFO", *args]
    return Server("controller", cmd, workdir)


def start_executor(workdir: Path, controller: str | None, *args: str, slots: int = 1, name: str = "executor",
                   trainables: Sequence[str] = ()) -> Server:
    cmd = [sys.executable, "-m", "nestor_executor", "--port", "0", "--slots", str(slots),
           "--artifact-dir", str(workdir / "artifacts")]
    if controller:
        cmd += ["--controller", controller]
    for t in trainables:
        cmd += ["--trainable", t]
    return Server(name, [*cmd, *args], workdir)


def controller_stub(address: str) -> controller_pb2_grpc.ControllerStub:
    return controller_pb2_grpc.ControllerStub(grpc.insecure_channel(address))


def wait_for_executors(stub: controller_pb2_grpc.ControllerStub, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ex = stub.ListExecutors(controller_pb2.ListExecutorsRequest()).executors
        if sum(1 for e in ex if e.healthy) >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"fewer than {count} executors registered within {timeout} s")
