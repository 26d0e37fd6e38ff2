"""Durable store: studies, trials, measurements, events and executors in SQL.

Writes go through one writer thread that commits whatever has queued up in a
single transaction (group commit): a caller awaits its own write, but many
callers share one fsync, so durability does not cap throughput. The trial
event and the strategy state it changed are handed over as one list of
operations, and so land in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

log = logging.getLogger(__name__)

metadata = MetaData()

studies = Table(
    "studies", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("spec", Text, nullable=False),  # StudySpec as protobuf JSON
    Column("state", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("created", Float, nullable=False),
    Column("ended", Float),
    Column("reason", Text, nullable=False, default=""),
    Column("sampler_state", Text, nullable=False, default="{}"),
    Column("scheduler_state", Text, nullable=False, default="{}"),
    Column("next_trial_id", BigInteger, nullable=False, default=1),
)

trials = Table(
    "trials", metadata,
    Column("study_id", String(64), primary_key=True),
    Column("id", BigInteger, primary_key=True),
    Column("params", Text, nullable=False),
    Column("state", Integer, nullable=False),
    Column("executor", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("stop_reason", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    Column("started", Float),
    Column("ended", Float),
    Column("final", Text),  # {"step": .., "metrics": {..}, "elapsed_s": ..}
    Column("budget", Float, nullable=False, default=0.0),
    Column("attempt", Integer, nullable=False, default=0),
    Column("checkpoint", Text, nullable=False, default=""),
    Column("decision", Text, nullable=False, default=""),  # the scheduler's latest decision and its reason
    Column("runs", Text, nullable=False, default="[]"),  # JSON list of its ended runs (model.RunEnd)
)

measurements = Table(
    "measurements", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("study_id", String(64), nullable=False, index=True),
    Column("trial_id", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("elapsed", Float, nullable=False),
)

events = Table(
    "events", metadata,
    Column("study_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("payload", LargeBinary, nullable=False),  # a serialized StudyEvent
)

executors = Table(
    "executors", metadata,
    Column("address", String(255), primary_key=True),
    Column("registered", Float, nullable=False),
)

answers = Table(
    "answers", metadata,
    Column("method", String(64), primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("study_id", String(64), nullable=False, index=True),
    Column("payload", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
)

Op = tuple[Executable, dict[str, Any]]
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest revision (a no-op when it is there already)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def upsert(engine: Engine, table: Table, row: dict[str, Any]) -> Op:
    """An insert that replaces the row with the same primary key, in the engine's dialect."""
    keys = [c.name for c in table.primary_key.columns]
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=update), row


@dataclass
class _Write:
    ops: Sequence[Op]
    future: asyncio.Future[None] | None
    loop: asyncio.AbstractEventLoop | None
    done: threading.Event | None = None


@dataclass
class Loaded:
    """Everything needed to rebuild the controller's memory at start."""

    studies: list[dict[str, Any]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)
    executors: list[str] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)


class Store:
    def __init__(self, url: str, *, durable: bool = True) -> None:
        if url.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the driver we install; SQLAlchemy would otherwise look for psycopg2.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        self.durable = durable
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, connect_args=connect_args)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        migrate(self.engine)
        self._inserts: dict[str, Executable] = {}
        self._upserts: dict[str, Executable] = {}
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._writer, name="nestor-store-writer", daemon=True)
        self._thread.start()
        self.commits = 0  # transactions committed, for tests and metrics

    def _sqlite_pragmas(self, dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL syncs the WAL on every commit: a committed event survives power loss, not just a crash.
        cur.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'OFF'}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    # --- writing -------------------------------------------------------

    def insert(self, table: Table, row: dict[str, Any]) -> Op:
        stmt = self._inserts.get(table.name)
        if stmt is None:
            stmt = self._inserts[table.name] = table.insert()
        return stmt, row

    def upsert(self, table: Table, row: dict[str, Any]) -> Op:
        # One statement object per table: building it costs more than the write, and consecutive rows that
        # share it go to the database in one executemany.
        stmt = self._upserts.get(table.name)
        if stmt is None:
            stmt = self._upserts[table.name] = upsert(self.engine, table, row)[0]
        return stmt, row

    async def commit(self, ops: Sequence[Op]) -> None:
        """Returns once `ops` are committed in one transaction (at once when durability is off)."""
        if not ops:
            return
        if not self.durable:
            self._queue.put(_Write(ops, None, None))
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Write(ops, fut, loop))
        await fut

    def _writer(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                with self.engine.begin() as conn:
                    self._execute(conn, [op for w in batch for op in w.ops])
                self.commits += 1
                self._resolve(batch, None)
            except Exception:
                # One bad write must not fail the others it was grouped with: retry them alone.
                for w in batch:
                    try:
                        with self.engine.begin() as conn:
                            self._execute(conn, w.ops)
                        self.commits += 1
                        self._resolve([w], None)
                    except Exception as e:
                        log.exception("store write failed")
                        self._resolve([w], e)
            if stop:
                return

    @staticmethod
    def _execute(conn: Connection, ops: Iterable[Op]) -> None:
        # Consecutive rows for the same statement go in one executemany.
        stmt: Executable | None = None
        rows: list[dict[str, Any]] = []
        for s, row in ops:
            if s is not stmt and rows:
                conn.execute(stmt, rows if len(rows) > 1 else rows[0])  # type: ignore[arg-type]
                rows = []
            stmt = s
            rows.append(row)
        if len(rows) == 1:
            conn.execute(stmt, rows[0])  # type: ignore[arg-type]
        elif rows:
            conn.execute(stmt, rows)  # type: ignore[arg-type]

    @staticmethod
    def _resolve(batch: Sequence[_Write], error: Exception | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for w in batch:
            if w.future is not None and w.loop is not None:
                by_loop.setdefault(w.loop, []).append(w.future)

        def settle(futures: list[asyncio.Future[None]]) -> None:
            for f in futures:
                if f.done():
                    continue
                if error is None:
                    f.set_result(None)
                else:
                    f.set_exception(error)

        for loop, futures in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle, futures)
        for w in batch:
            if w.done is not None:
                w.done.set()

    def flush(self) -> None:
        """Blocks until everything queued so far is written (used at shutdown)."""
        done = threading.Event()
        self._queue.put(_Write([], None, None, done))
        done.wait(30)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.engine.dispose()

    # --- reading -------------------------------------------------------

    def load(self) -> Loaded:
        out = Loaded()
        with self.engine.connect() as conn:
            out.studies = [dict(r._mapping) for r in conn.execute(select(studies))]
            out.trials = [dict(r._mapping) for r in conn.execute(select(trials))]
            out.measurements = [
                dict(r._mapping) for r in conn.execute(select(measurements).order_by(measurements.c.id))
            ]
            for study_id, seq in conn.execute(select(events.c.study_id, func.max(events.c.seq)).group_by(
                    events.c.study_id)):
                out.last_seq[study_id] = int(seq)
            out.executors = [r.address for r in conn.execute(select(executors))]
            # Retries come within seconds or minutes; a day of answers is plenty to recognise them.
            recent = conn.execute(select(answers).where(answers.c.created > time.time() - 86400))
            out.answers = [dict(r._mapping) for r in recent]
        return out

    def events_after(self, study_id: str, after_seq: int, limit: int = 5000) -> list[bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.payload)
                .where(events.c.study_id == study_id, events.c.seq > after_seq)
                .order_by(events.c.seq)
                .limit(limit)
            )
            return [bytes(r.payload) for r in rows]

    def delete_study_ops(self, study_id: str) -> list[Op]:
        return [
            (delete(t).where(t.c.study_id == study_id), {})
            for t in (measurements, events, trials, answers)
        ] + [(delete(studies).where(studies.c.id == study_id), {})]
