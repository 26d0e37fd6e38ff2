"""Embedded mode: a private controller (and, for managed studies, executors) for this process's lifetime.

``Client.local("nestor.db")`` starts ``nestor-controller`` on a free loopback
port with the SQLite store at that path, exactly as a server would run; the
first managed study also starts local executors. Everything stops when the
client is closed or this process exits (even by SIGKILL, on Linux). The store
is an ordinary one: open it later with ``nestor-controller --store
sqlite:///nestor.db`` and the dashboard, or with ``Client.local`` again.

Checkpoints go to ``<store>.artifacts/`` beside the store, so they outlive the
process with it.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nestor.errors import LaunchError, LocalRefusal
from nestor.processes import Child, Supervisor, console_script

if TYPE_CHECKING:
    from nestor.connection import Connection

START_TIMEOUT_S = 120.0  # an executor imports torch before it listens
REGISTER_TIMEOUT_S = 60.0


def artifact_dir_for(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".artifacts")


class LocalServers:
    """The controller and executors of one embedded client."""

    def __init__(self, store_path: str | os.PathLike[str], *, executors: int = 1, slots: int = 0,
                 trainables: Sequence[str] = (), log_dir: str | os.PathLike[str] | None = None) -> None:
        if executors < 0 or slots < 0:
            raise LocalRefusal(f"executors and slots must be >= 0, got executors={executors}, slots={slots}")
        self.store_path = Path(store_path).resolve()
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        self.artifact_dir = artifact_dir_for(self.store_path)
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="nestor-local-"))
        self.n_executors = executors
        self.slots = slots or max(1, min(4, (os.cpu_count() or 1)))
        self.trainables = list(trainables)
        self._supervisor = Supervisor()
        self._executors: list[Child] = []
        self._lock = threading.Lock()
        controller = self._supervisor.start(
            "controller", [console_script("nestor-controller"), "--host", "127.0.0.1", "--port", "0",
                           "--store", f"sqlite:///{self.store_path}", "--artifact-dir", str(self.artifact_dir),
                           "--log-level", "WARNING"],
            "nestor-controller", self.log_dir)
        try:
            self.address = controller.wait_listening(START_TIMEOUT_S)
        except LaunchError:
            self.close()
            raise

    def ensure_executors(self, conn: Connection) -> None:
        """Starts the executors once (the first managed study needs them) and waits until they serve."""
        with self._lock:
            if self._executors or not self.n_executors:
                return
            # Executors share this machine: more torch threads than cores makes OpenMP spin instead of train.
            threads = max(1, (os.cpu_count() or 1) // (self.n_executors * self.slots))
            cmd: list[str | Path] = [console_script("nestor-executor"), "--port", "0", "--controller", self.address,
                                     "--slots", str(self.slots), "--torch-threads", str(threads),
                                     "--artifact-dir", str(self.artifact_dir), "--log-level", "WARNING"]
            for t in self.trainables:
                cmd += ["--trainable", t]
            # Your own trainables import as they would in this process: from its working directory too.
            path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)
            self._executors = [self._supervisor.start(f"executor-{i + 1}", cmd, "nestor-executor", self.log_dir,
                                                      extra_env={"PYTHONPATH": path})
                               for i in range(self.n_executors)]
            for child in self._executors:
                child.wait_listening(START_TIMEOUT_S)
            self._wait_registered(conn)

    def _wait_registered(self, conn: Connection) -> None:
        from nestor.v1 import controller_pb2

        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        while True:
            known = conn.call("ListExecutors", controller_pb2.ListExecutorsRequest()).executors
            if sum(e.healthy for e in known) >= len(self._executors):
                return
            if time.monotonic() > deadline:
                raise LaunchError(f"the local executors did not register within {REGISTER_TIMEOUT_S:.0f} s; "
                                  f"see their logs in {self.log_dir}")
            time.sleep(0.1)

    def close(self) -> None:
        self._supervisor.stop_all()
