"""The store's lease: one controller writes a store at a time.

SQLite: an exclusive `flock` on a file beside the database, which the OS
releases the instant its holder dies. PostgreSQL: a session advisory lock on a
connection kept for it, released by the server when that session ends, plus an
epoch in the `leases` table that every write transaction checks (see
`Store`), so that a controller which lost its session cannot write after a
successor took over.

A second controller is refused with a line naming the store and the holder;
with `standby` it waits and takes over when the holder is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from nestor_controller.errors import StoreProblem

log = logging.getLogger(__name__)

#: The advisory lock key every Nestor controller takes on a PostgreSQL store ("nestor" in ASCII).
PG_LOCK_KEY = 0x6E6573746F72
#: How often a standby tries again, and how often a PostgreSQL holder checks its session is alive.
RETRY_S = 0.25
CHECK_S = 1.0


def holder_text() -> str:
    return f"host {socket.gethostname()} pid {os.getpid()}"


class Lease:
    """Held from `acquire` until the process ends or `release`; `on_lost` runs (in a thread) if it is lost."""

    def __init__(self, engine: Engine, store_name: str) -> None:
        self.engine = engine
        self.store_name = store_name
        self.on_lost: Callable[[str], None] | None = None
        self._file: Any = None
        self._conn: Any = None
        self._stop = threading.Event()

    # --- acquiring ---------------------------------------------------------------------

    def acquire(self, *, standby: bool, on_wait: Callable[[str], None] | None = None) -> None:
        """Takes the lease, or raises StoreProblem naming the holder (waits for it with `standby`)."""
        told = False
        while not self._try():
            holder = self.holder() or "another controller"
            if not standby:
                raise StoreProblem(f"store {self.store_name} is in use by {holder}; stop it first, or start this "
                                   "controller with --standby to take over when it ends")
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            time.sleep(RETRY_S)

    def _try(self) -> bool:
        if self.engine.dialect.name == "sqlite":
            return self._try_file()
        if self.engine.dialect.name == "postgresql":
            return self._try_advisory()
        return True  # another database: no lease (not a supported store)

    def _lock_path(self) -> str | None:
        path = self.engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return os.path.abspath(path) + "-lease"

    def _try_file(self) -> bool:
        path = self._lock_path()
        if path is None:
            return True
        f = open(path, "a+")  # noqa: SIM115 - held open for as long as the lease
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(holder_text() + "\n")
        f.flush()
        self._file = f
        return True

    def _try_advisory(self) -> bool:
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        threading.Thread(target=self._watch_session, name="nestor-lease", daemon=True).start()
        return True

    def holder(self) -> str:
        """Who holds the lease, as its holder wrote it ('' when unknown)."""
        if self.engine.dialect.name == "sqlite":
            path = self._lock_path()
            with contextlib.suppress(OSError):
                return Path(path).read_text().strip() if path else ""
            return ""
        with contextlib.suppress(Exception), self.engine.connect() as conn:
            row = conn.execute(text("SELECT holder, since FROM leases WHERE name = 'controller'")).first()
            if row is not None:
                return f"{row.holder} (since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row.since))})"
        return ""

    # --- holding -----------------------------------------------------------------------

    def _watch_session(self) -> None:
        """PostgreSQL ends the advisory lock with its session: a session that fails means the lease is gone."""
        while not self._stop.wait(CHECK_S):
            try:
                held = self._conn.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND objid = :lo AND classid = :hi AND granted"),
                    {"lo": PG_LOCK_KEY & 0xFFFFFFFF, "hi": PG_LOCK_KEY >> 32}).scalar()
                self._conn.commit()
            except Exception as e:
                held, why = 0, f"its session failed: {e.__class__.__name__}: {str(e).splitlines()[0]}"
            else:
                why = "the advisory lock is no longer held"
            if not held:
                if self._stop.is_set():
                    return
                log.error("lost the lease on store %s: %s", self.store_name, why)
                if self.on_lost is not None:
                    self.on_lost(why)
                return

    def release(self) -> None:
        self._stop.set()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
