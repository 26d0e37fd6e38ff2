"""Local server processes (the demo's controller and executors) that never outlive us.

Each child gets its own process group, so stopping it also stops the worker
processes it started; on Linux a child that calls ``die_with_parent`` (the
controller and the executor do, first thing) gets SIGTERM should this process
die without cleaning up (even by SIGKILL). Stopping is SIGTERM to
the group, a grace period, then SIGKILL; an atexit hook covers every exit path
that runs Python code.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from nestor.errors import LaunchError

GRACE_S = 5.0
LOG_TAIL_CHARS = 4000
_PR_SET_PDEATHSIG = 1


def console_script(name: str) -> Path:
    """The console script ``name`` installed next to this interpreter (the same virtualenv)."""
    path = Path(sys.executable).parent / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LaunchError(f"{name} not found next to {sys.executable} (looked for {path}); install the "
                          f"{name} distribution into this environment, e.g. `make venv` from the repository")
    return path


#: Set in a child's environment to our pid: the child asks Linux to be signalled when we die.
PARENT_ENV = "NESTOR_DIE_WITH_PARENT"


def die_with_parent() -> None:
    """Called first thing by nestor-controller and nestor-executor: when a Supervisor started this process
    (its pid in $NESTOR_DIE_WITH_PARENT), Linux sends us SIGTERM should that process die, even by SIGKILL.

    The child asks for itself after exec, instead of a preexec_fn between fork and exec: with a preexec_fn
    Python must fork() the whole parent, and a parent holding gRPC channels (an embedded client starting
    executors) has gRPC's fork handlers abort the child."""
    parent = os.environ.pop(PARENT_ENV, "")  # not for our own children: they die with us by other means
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Child:
    """A server process that prints ``<banner> listening on HOST:PORT`` on stdout once it serves."""

    def __init__(self, name: str, cmd: Sequence[str], banner: str, log_path: Path, cwd: Path,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.banner = f"{banner} listening on "
        self.log_path = log_path
        self.address = ""
        self._addresses: queue.Queue[str] = queue.Queue()
        env = {**os.environ, **(extra_env or {}), "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, cwd=cwd, env=env,
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read_stdout, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        # Drains stdout for the child's whole life (a full pipe would block it), into its log file.
        assert self.proc.stdout is not None
        with open(self.log_path, "ab", buffering=0) as log:
            for raw in self.proc.stdout:
                log.write(raw)
                line = raw.decode(errors="replace").strip()
                if not self.address and line.startswith(self.banner):
                    self._addresses.put(line.removeprefix(self.banner).strip())

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:].rstrip()

    def wait_listening(self, timeout: float) -> str:
        """The address the child listens on; LaunchError (with its log) if it dies or takes too long."""
        deadline = time.monotonic() + timeout
        while not self.address:
            try:
                self.address = self._addresses.get(timeout=0.1)
            except queue.Empty:
                if self.exited():
                    self._reader.join(timeout=1.0)
                    if self._addresses.empty():
                        raise LaunchError(f"{self.name} exited ({self._exit_text()}) before listening "
                                          f"({' '.join(self.cmd)}); its log {self.log_path}:\n"
                                          f"{self.log_tail()}") from None
                elif time.monotonic() > deadline:
                    raise LaunchError(f"{self.name} did not say it was listening within {timeout:.0f} s; "
                                      f"its log {self.log_path}:\n{self.log_tail()}") from None
        return self.address

    def alive(self) -> bool:
        return not self.exited()

    def _exit_text(self) -> str:
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return f"code {self.proc.returncode}"
        if info is None:
            return "still running"
        if info.si_code == os.CLD_EXITED:
            return f"code {info.si_status}"
        return f"killed by signal {info.si_status}"

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def exited(self) -> bool:
        """Whether the child exited, without reaping it: its pid, and so its group id, stay reserved
        until ``Supervisor.stop_all`` has swept the group."""
        if self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True


class Supervisor:
    """Starts children and stops all of them, whatever way we leave."""

    def __init__(self, grace: float = GRACE_S) -> None:
        self.grace = grace
        self.children: list[Child] = []
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_all()

    def start(self, name: str, cmd: Sequence[str], banner: str, log_dir: Path,
              extra_env: Mapping[str, str] | None = None) -> Child:
        child = Child(name, cmd, banner, log_dir / f"{name}.log", cwd=log_dir, extra_env=extra_env)
        with self._lock:
            self.children.append(child)
        return child

    def stop_all(self) -> None:
        """SIGTERM to every child's group, up to ``grace`` seconds, then SIGKILL; idempotent."""
        with self._lock:
            children, self.children = self.children, []
        if not children:
            return
        with _sigint_ignored():
            for c in children:
                if not c.exited():
                    c.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            while time.monotonic() < deadline and not all(c.exited() for c in children):
                time.sleep(0.05)
            for c in children:
                # Also after a clean exit: whatever the child left in its group (workers) goes too.
                # Safe while the child is unreaped: its pid, the group id, cannot be reused yet.
                if c.proc.returncode is None:
                    c.signal_group(signal.SIGKILL)
            for c in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(timeout=5.0)
                c._reader.join(timeout=1.0)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C must not interrupt the cleanup half-way (that is how orphans are made)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit here, so ``finally`` blocks (and the supervisor) run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
