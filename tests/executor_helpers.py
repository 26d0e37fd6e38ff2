"""Starts real `nestor-executor` processes and drives them as a controller would (shared by other tests)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from nestor.v1 import executor_pb2, executor_pb2_grpc
from nestor.values import params_to_proto

TESTS = Path(__file__).resolve().parent

TEST_TRAINABLES = tuple(f"{name}=trainables_for_tests:{name}" for name in (
    "raises", "exits", "segfaults", "hangs", "reports_nan", "returns_nothing", "echo", "slow_until_stopped",
    "bilevel", "prints_a_lot", "exits_when_stopped"))


class ExecutorProcess:
    """A `nestor-executor` process that printed its listening line; its stderr goes to a log file."""

    def __init__(self, *args: str, slots: int = 1, trainables: Sequence[str] = (),
                 artifact_dir: str | None = None, controller: str | None = None,
                 env: dict[str, str] | None = None, timeout: float = 60.0,
                 log_dir: str | Path | None = None, port: int = 0) -> None:
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="nestor-executor-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.artifact_dir = artifact_dir or str(self.log_dir / "artifacts")
        self.cmd = [sys.executable, "-m", "nestor_executor", "--port", str(port), "--slots", str(slots),
                    "--artifact-dir", self.artifact_dir]
        if controller:
            self.cmd += ["--controller", controller]
        for t in trainables:
            self.cmd += ["--trainable", t]
        self.cmd += list(args)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), full_env.get("PYTHONPATH", "")]))
        self.log_path = self.log_dir / "executor.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._log, env=full_env,
                                     text=True, start_new_session=True)
        self.address = self._wait_listening(timeout)
        self.channel = grpc.insecure_channel(self.address)
        self.stub = executor_pb2_grpc.ExecutorStub(self.channel)

    def _wait_listening(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        found: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith("nestor-executor listening on "):
                    found.put(line.strip().rsplit(" ", 1)[-1])
                    return
            found.put(None)


        threading.Thread(target=read, daemon=True).start()
        try:
            address = found.get(timeout=timeout)
        except queue.Empty:
            address = None
        if address is None:
            self.kill()
            raise RuntimeError(f"nestor-executor did not start within {timeout} s: {' '.join(self.cmd)}\n"
                               f"exit code {self.proc.returncode}; stderr:\n{self.log()}")
        return address

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-8000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process group: the executor and its workers."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close()

    def terminate(self) -> None:
        """SIGTERM, as a deployment would; the channel stays open to read how the streams end."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a deployment would; SIGKILL after `timeout`. Returns the exit status."""
        if self.alive():
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()
        return self.proc.returncode

    def _close(self) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        self._log.close()

    def __enter__(self) -> ExecutorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def assignment(trainable: str, params: dict[str, Any] | None = None, *, config: dict[str, Any] | None = None,
               trial_id: int = 1, study_id: str = "s-test", **fields: Any) -> executor_pb2.TrialAssignment:
    a = executor_pb2.TrialAssignment(study_id=study_id, trial_id=trial_id, trainable=trainable,
                                     params=params_to_proto(params or {}), **fields)
    if config:
        a.config.update(config)
    return a


class TrialCall:
    """One RunTrial stream: the assignment is sent at once; `send` adds messages, `close` half-closes."""

    def __init__(self, stub: executor_pb2_grpc.ExecutorStub, first: executor_pb2.ControllerMessage,
                 timeout: float = 60.0) -> None:
        self._requests: queue.Queue[executor_pb2.ControllerMessage | None] = queue.Queue()
        self._requests.put(first)
        self.call = stub.RunTrial(iter(self._requests.get, None), timeout=timeout)

    def send(self, msg: executor_pb2.ControllerMessage) -> None:
        self._requests.put(msg)

    def close(self) -> None:
        self._requests.put(None)

    def __iter__(self) -> Iterator[executor_pb2.ExecutorMessage]:
        try:
            yield from self.call
        finally:
            self.close()

    def cancel(self) -> None:
        self.call.cancel()
        self.close()


def start_trial(stub: executor_pb2_grpc.ExecutorStub, a: executor_pb2.TrialAssignment,
                timeout: float = 60.0) -> TrialCall:
    return TrialCall(stub, executor_pb2.ControllerMessage(assignment=a), timeout)


def run_trial(stub: executor_pb2_grpc.ExecutorStub, a: executor_pb2.TrialAssignment,
              timeout: float = 60.0) -> list[executor_pb2.ExecutorMessage]:
    """Every message of one trial's stream, in order (the last one is its result)."""
    return list(start_trial(stub, a, timeout))


def kinds(messages: Sequence[executor_pb2.ExecutorMessage]) -> list[str]:
    return [str(m.WhichOneof("body")) for m in messages]


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
