"""A trial's checkpoint folder, fenced by attempt: a stale run never overwrites a newer run's checkpoint.

Every run of a trial carries its `attempt`, one higher on each dispatch. A run
*claims* the folder before its trainable starts: under an exclusive lock it
writes its attempt into a marker file, unless a newer attempt already holds the
folder (then the run is stale and must not run at all). Each save writes its
data to a temporary file first, then takes the lock, checks that the marker
still names its attempt and only then renames the file into place. An executor
frozen (SIGSTOP, a paused VM) while its trial moved elsewhere therefore writes
nothing when it wakes: the newer attempt claimed the folder in the meantime.

The lock is `flock` on a lock file that is never replaced, so it works between
processes, between threads, and on the shared volumes Linux offers it on (NFS
emulates it with POSIX locks). It is held only for the marker check and the
rename, never while data is written.

A checkpoint is one file: a JSON header line, then the state as JSON or as raw
bytes. Bytes are for whatever the trainable serialises itself (`torch.save` to
an `io.BytesIO`); nothing here unpickles anything.

Standard library only: the SDK stays thin.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; fencing then rests on the marker check alone
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".nestor-lock"
MARKER_FILE = ".nestor-attempt"
CHECKPOINT_FILE = "checkpoint.nestor"
#: How long a claim or a save waits for the lock (held by a run frozen mid-rename) before it gives up.
LOCK_TIMEOUT_S = 60.0
_POLL_S = 0.02
_VERSION = 1


class CheckpointError(RuntimeError):
    """The checkpoint folder cannot be used (locked too long, or a file that is not a Nestor checkpoint)."""


class StaleAttempt(CheckpointError):
    """A newer attempt of the trial holds its checkpoint folder: this run must stop and write nothing."""

    def __init__(self, path: str, attempt: int, holder: int | None) -> None:
        who = f"attempt {holder} of the same trial holds" if holder is not None else "no run holds (its marker " \
            "is gone)"
        super().__init__(f"attempt {attempt} is stale: {who} its checkpoint folder {path}, so this run writes "
                         "nothing there")
        self.path, self.attempt, self.holder = path, attempt, holder


@dataclass(frozen=True)
class Checkpoint:
    """What `CheckpointDir.load` found: the state as saved (bytes, or the JSON value), its step and attempt."""

    state: Any
    step: int
    attempt: int
    path: str


class CheckpointDir:
    """The checkpoint folder of one run (`attempt`) of a trial."""

    def __init__(self, path: str, attempt: int) -> None:
        self.path = os.fspath(path)
        self.attempt = int(attempt)
        self.claimed = False
        #: Set once a save found a newer attempt holding the folder: every later save writes nothing.
        self.stale: StaleAttempt | None = None
        self._counter = 0
        self._counter_lock = threading.Lock()

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.path, CHECKPOINT_FILE)

    # -- the marker ------------------------------------------------------------------------------------

    def holder(self) -> int | None:
        """The attempt that holds the folder now; None when no run claimed it (or the marker is unreadable)."""
        try:
            with open(os.path.join(self.path, MARKER_FILE)) as f:
                return int(json.load(f)["attempt"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def claim(self, *, give_up: Callable[[], bool] = lambda: False, timeout: float = LOCK_TIMEOUT_S) -> None:
        """Makes this attempt the folder's holder; raises StaleAttempt when a newer one holds it already."""
        os.makedirs(self.path, exist_ok=True)
        with self._locked(give_up, timeout):
            holder = self.holder()
            if holder is not None and holder > self.attempt:
                raise StaleAttempt(self.path, self.attempt, holder)
            if holder != self.attempt:
                marker = {"attempt": self.attempt, "host": socket.gethostname(), "pid": os.getpid()}
                tmp = self._tmp_name(MARKER_FILE)
                with open(tmp, "w") as f:
                    json.dump(marker, f)
                os.replace(tmp, os.path.join(self.path, MARKER_FILE))
        self.claimed = True

    # -- saving and loading ----------------------------------------------------------------------------

    def save(self, state: Any, step: int, *, give_up: Callable[[], bool] = lambda: False,
             timeout: float = LOCK_TIMEOUT_S) -> str | None:
        """Replaces the checkpoint atomically; returns its path, or None (nothing written) when this attempt
        no longer holds the folder (`stale` then says which does)."""
        if self.stale is not None:
            return None
        if not self.claimed:
            try:
                self.claim(give_up=give_up, timeout=timeout)
            except StaleAttempt as e:
                self.stale = e
                return None
        header, payload = encode(state, int(step), self.attempt)
        tmp = self._tmp_name(CHECKPOINT_FILE)
        try:
            # The data is written and flushed to disk before the lock: a large state never holds it up.
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            with self._locked(give_up, timeout):
                holder = self.holder()
                if holder != self.attempt:
                    self.stale = StaleAttempt(self.path, self.attempt, holder)
                    return None
                os.replace(tmp, self.checkpoint_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(self.path)  # the rename itself survives a power cut
        return self.checkpoint_path

    def seed_from(self, source: str, *, give_up: Callable[[], bool] = lambda: False,
                  timeout: float = LOCK_TIMEOUT_S) -> bool:
        """Makes the checkpoint in folder `source` this folder's, when this one holds none yet: a run that
        continues from another run's weights (a population member from its donor's). True when it did.

        The file is hard-linked (a checkpoint is only ever replaced by a rename, never changed in place, so a
        link is a snapshot), or copied where the file system cannot link. Raises StaleAttempt when a newer
        attempt holds this folder, CheckpointError when neither folder holds a checkpoint."""
        src = os.path.join(os.fspath(source), CHECKPOINT_FILE)
        if not self.claimed:
            self.claim(give_up=give_up, timeout=timeout)
        if os.path.exists(self.checkpoint_path):
            return False  # an earlier attempt of this run seeded it, and perhaps trained on since
        if not os.path.exists(src):
            raise CheckpointError(f"no checkpoint to start from in {source}: the run that saved it wrote to "
                                  "another artifact directory (executors that resume each other's trials must "
                                  "share theirs, mounted at the same path)")
        tmp = self._tmp_name(CHECKPOINT_FILE)
        try:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
            with self._locked(give_up, timeout):
                holder = self.holder()
                if holder != self.attempt:
                    raise StaleAttempt(self.path, self.attempt, holder)
                if os.path.exists(self.checkpoint_path):
                    return False
                os.replace(tmp, self.checkpoint_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(self.path)
        return True

    def load(self) -> Checkpoint | None:
        """The latest checkpoint, or None when there is none yet."""
        try:
            with open(self.checkpoint_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return decode(data, self.checkpoint_path)

    # -- helpers ---------------------------------------------------------------------------------------

    def _tmp_name(self, name: str) -> str:
        # Unique per process and thread: two savers never write into each other's temporary file.
        with self._counter_lock:
            self._counter += 1
            n = self._counter
        return os.path.join(self.path, f".{name}.{self.attempt}.{os.getpid()}.{threading.get_ident()}.{n}.tmp")

    @contextlib.contextmanager
    def _locked(self, give_up: Callable[[], bool], timeout: float) -> Iterator[None]:
        fd = os.open(os.path.join(self.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        # Polled, not blocking: a run told to stop meanwhile gives up instead of waiting.
                        if give_up():
                            raise CheckpointError(f"gave up waiting for the lock of {self.path}: the run was "
                                                  "told to stop") from None
                        if time.monotonic() > deadline:
                            raise CheckpointError(f"the checkpoint folder {self.path} stayed locked for "
                                                  f"{timeout:g} s (another run of the trial holds "
                                                  f"{LOCK_FILE})") from None
                        time.sleep(_POLL_S)
            yield
        finally:
            os.close(fd)  # releases the lock


def encode(state: Any, step: int, attempt: int) -> tuple[bytes, bytes]:
    """(header line, payload) of a checkpoint; bytes are kept as they are, anything else must be JSON."""
    if isinstance(state, bytes | bytearray | memoryview):
        fmt, payload = "bytes", bytes(state)
    else:
        try:
            payload = json.dumps(state, separators=(",", ":")).encode()
        except (TypeError, ValueError) as e:
            raise TypeError(f"save_checkpoint: the state must be bytes or JSON-serialisable (dicts, lists, "
                            f"strings, numbers): {e}; serialise tensors yourself, e.g. torch.save into an "
                            "io.BytesIO and save its bytes") from None
        fmt = "json"
    header = {"nestor_checkpoint": _VERSION, "format": fmt, "step": step, "attempt": attempt}
    return json.dumps(header, separators=(",", ":")).encode() + b"\n", payload


def decode(data: bytes, where: str) -> Checkpoint:
    head, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(head) if sep else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("nestor_checkpoint") != _VERSION:
        raise CheckpointError(f"{where} is not a Nestor checkpoint (version {_VERSION})")
    state: Any = payload
    if header.get("format") == "json":
        state = json.loads(payload)
    return Checkpoint(state=state, step=int(header["step"]), attempt=int(header["attempt"]), path=where)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):  # not every platform or file system lets a directory be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
