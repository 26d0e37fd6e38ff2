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
from collections.abc import Callable, Iterable, Sequence
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

from nestor_controller.errors import StoreProblem, StoreUnavailable
from nestor_controller.lease import Lease, holder_text
from nestor_controller.model import MeasurementRecord, loads

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
    Column("origin", Text, nullable=False, default=""),  # "", "enqueued", "warm_start" or "added"
    Column("user_attrs", Text, nullable=False, default="{}"),  # JSON object
    # JSON list of a population member's intervals (pbt, pb2; model.LineageEntry), empty for other trials.
    Column("lineage", Text, nullable=False, default="[]"),
)

#: Parameter sets a study runs before asking its sampler again (EnqueueTrials, warm start top_k), in order of
#: `position`; a row goes when its trial is made.
queued = Table(
    "queued",
    metadata,
    Column("study_id", String(64), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("params", Text, nullable=False),
    Column("origin", Text, nullable=False, default=""),
    Column("user_attrs", Text, nullable=False, default="{}"),
)

#: What a warm-started study chose at its creation (warmstart.py), written once: the priors with their projected
#: observations, so that a prior deleted later changes nothing.
warm_starts = Table(
    "warm_starts",
    metadata,
    Column("study_id", String(64), primary_key=True),
    Column("payload", Text, nullable=False),
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
    Column("study_id", String(64), primary_key=True),  # "" for calls outside a study (CreateStudy)
    Column("method", String(64), primary_key=True),
    Column("trial_id", BigInteger, primary_key=True),  # 0 for calls that name no trial
    Column("request_id", String(128), primary_key=True),
    Column("payload", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
)

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("epoch", BigInteger, nullable=False),  # one more at every takeover; writes check it (PostgreSQL)
    Column("holder", Text, nullable=False),
    Column("since", Float, nullable=False),
    Column("heartbeat", Float, nullable=False),
)

Op = tuple[Executable, dict[str, Any]]
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest revision (a no-op when it is there already)."""
    # Alembic narrates every plugin (on import) and step at INFO on each start; one line of ours says what changed.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(cfg, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("store schema %s revision %s", "created at" if before is None else f"upgraded from {before} to",
                 after)


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


#: A study's writes carry (study id, generation): once one of them fails, the later ones of that generation
#: fail too without being tried, so nothing computed on top of a lost change can land after it.
Fence = tuple[str, int]
#: Seconds between write probes while the store refuses writes.
PROBE_S = 0.5


@dataclass
class _Write:
    ops: Sequence[Op]
    future: asyncio.Future[None] | None
    loop: asyncio.AbstractEventLoop | None
    done: threading.Event | None = None
    fence: Fence | None = None


@dataclass
class Loaded:
    """Everything needed to rebuild the controller's memory at start."""

    studies: list[dict[str, Any]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    #: Each trial's measurements in order: (study id, trial id) -> records.
    measurements: dict[tuple[str, int], list[MeasurementRecord]] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    executors: list[str] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)
    warm_starts: list[dict[str, Any]] = field(default_factory=list)


def row_dicts(result: Any) -> list[dict[str, Any]]:
    """A result's rows as dicts (one zip per row; a RowMapping per row costs several times more)."""
    keys = list(result.keys())
    return [dict(zip(keys, r, strict=True)) for r in result]


def first_line(e: BaseException) -> str:
    """The database's own words, without SQLAlchemy's statement dump and link."""
    orig = getattr(e, "orig", None) or e
    return (str(orig).strip().splitlines() or [orig.__class__.__name__])[0]


class Store:
    """The controller's only truth. Start-up takes the store's lease, checks and migrates it.

    A write that fails (full disk, read-only file, server gone) raises StoreUnavailable to its caller,
    fences off the later writes of the same study generation, and switches the store to fail-fast until a
    probe write succeeds again (`writable`); `on_write_failed(study_id)` and `on_recovered()` are called
    from the writer thread so the engine can rebuild that study from what was committed and wake up.
    """

    def __init__(self, url: str, *, durable: bool = True, standby: bool = False,
                 on_wait: Callable[[str], None] | None = None) -> None:
        if url.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the driver we install; SQLAlchemy would otherwise look for psycopg2.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        self.durable = durable
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, connect_args=connect_args)
        self.name = self.engine.url.render_as_string(hide_password=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        self.lease = Lease(self.engine, self.name)
        try:
            self.lease.acquire(standby=standby, on_wait=on_wait)
            self._check_integrity()
            migrate(self.engine)
            self.epoch = self._take_epoch()
        except StoreProblem:
            self.lease.release()
            raise
        except Exception as e:
            self.lease.release()
            raise StoreProblem(f"store {self.name} cannot be opened: {first_line(e)}") from e
        self.lease.on_lost = self._lease_lost
        self.lost = ""  # why the lease was lost: nothing is written any more
        self.writable = True
        self.last_error = ""
        self.on_write_failed: Callable[[str], None] | None = None
        self.on_recovered: Callable[[], None] | None = None
        self.on_lease_lost: Callable[[str], None] | None = None
        self._fenced: dict[str, int] = {}  # study id -> the newest generation with a failed write
        self._inserts: dict[str, Executable] = {}
        self._upserts: dict[str, Executable] = {}
        self._upsert_statements: set[Executable] = set()
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

    def _check_integrity(self) -> None:
        """SQLite: a damaged file is refused at start with what to do, not met later as a traceback."""
        if self.engine.dialect.name != "sqlite":
            return
        path = self.engine.url.database or ""
        fix = (f"restore it from a backup, or salvage what is readable with "
               f"`sqlite3 {path} .recover | sqlite3 recovered.db` and start with --store sqlite:///recovered.db")
        try:
            with self.engine.connect() as conn:
                result = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check")]
        except Exception as e:
            raise StoreProblem(f"store {path} is damaged ({first_line(e)}): {fix}") from e
        if result != ["ok"]:
            raise StoreProblem(f"store {path} is damaged ({result[0]}): {fix}")

    def _take_epoch(self) -> int:
        """The lease's epoch goes up by one: writes of any earlier holder are refused from now on."""
        now = time.time()
        with self.engine.begin() as conn:
            old = conn.execute(select(leases.c.epoch).where(leases.c.name == "controller")).scalar()
            epoch = int(old or 0) + 1
            stmt, row = upsert(self.engine, leases, {"name": "controller", "epoch": epoch, "holder": holder_text(),
                                                     "since": now, "heartbeat": now})
            conn.execute(stmt, row)
        return epoch

    def _lease_lost(self, why: str) -> None:
        self.lost = why
        self.writable = False
        if self.on_lease_lost is not None:
            self.on_lease_lost(why)

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
            self._upsert_statements.add(stmt)
        return stmt, row

    def delete_queued(self, study_id: str, positions: Sequence[int]) -> Op:
        """Removes a study's queued parameter sets that became trials."""
        return delete(queued).where(queued.c.study_id == study_id, queued.c.position.in_(list(positions))), {}

    def unavailable(self, cause: str = "") -> StoreUnavailable:
        if self.lost:
            return StoreUnavailable(f"store {self.name}: this controller lost its lease ({self.lost}); "
                                    "it writes nothing more")
        return StoreUnavailable(f"store {self.name} refuses writes: {cause or self.last_error}; nothing was "
                                "changed, retry when it is back")

    def check_writable(self) -> None:
        """Raises StoreUnavailable while writes are known to fail: a call is refused before it changes memory."""
        if not self.writable:
            raise self.unavailable()

    async def commit(self, ops: Sequence[Op], fence: Fence | None = None) -> None:
        """Returns once `ops` are committed in one transaction (at once when durability is off).

        Raises StoreUnavailable when they were not: then none of them is in the store."""
        committed = self.submit(ops, fence)
        if committed is not None:
            await committed

    def submit(self, ops: Sequence[Op], fence: Fence | None = None) -> asyncio.Future[None] | None:
        """Queues `ops` for one transaction, taking their place in the store's order now; the future resolves
        once they are committed (None: nothing to wait for, no ops or durability off).

        Raises StoreUnavailable at once when the store refuses writes."""
        if not ops:
            return None
        if not self.writable:
            self._fence(fence)
            raise self.unavailable()
        if not self.durable:
            self._queue.put(_Write(ops, None, None, fence=fence))
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Write(ops, fut, loop, fence=fence))
        return fut

    def _fence(self, fence: Fence | None) -> None:
        if fence is not None:
            study_id, generation = fence
            if self._fenced.get(study_id, -1) < generation:
                self._fenced[study_id] = generation
                if self.on_write_failed is not None:
                    self.on_write_failed(study_id)

    def fenced_generation(self, study_id: str) -> int:
        """The newest generation of the study with a failed write (-1: none)."""
        return self._fenced.get(study_id, -1)

    def _fenced_off(self, w: _Write) -> bool:
        return w.fence is not None and self._fenced.get(w.fence[0], -1) >= w.fence[1]

    def _writer(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=None if self.writable or self.lost else PROBE_S)
            except queue.Empty:
                self._probe()
                continue
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
            self._write_batch(batch)
            if stop:
                return

    def _write_batch(self, batch: list[_Write]) -> None:
        live = []
        for w in batch:
            if self.lost or self._fenced_off(w):
                self._resolve([w], self.unavailable())
            else:
                live.append(w)
        if not live:
            return
        try:
            self._transaction([op for w in live for op in w.ops])
            self._resolve(live, None)
            return
        except Exception:
            pass
        # One bad write must not fail the others it was grouped with: retry them alone, in order.
        for w in live:
            if self.lost or self._fenced_off(w):
                self._resolve([w], self.unavailable())
                continue
            try:
                self._transaction(w.ops)
                self._resolve([w], None)
            except Exception as e:
                self.last_error = first_line(e)
                if self.writable:
                    log.error("store %s: write failed, refusing changes until it is writable again: %s",
                              self.name, self.last_error)
                self.writable = False
                self._fence(w.fence)
                self._resolve([w], self.unavailable(self.last_error))

    def _transaction(self, ops: Sequence[Op]) -> None:
        with self.engine.begin() as conn:
            self._check_epoch(conn)
            self._execute(conn, ops)
        self.commits += 1

    def _check_epoch(self, conn: Connection) -> None:
        """PostgreSQL: a write lands only while this controller's epoch is the lease's (a successor's takeover
        waits for the row lock, then every later write of ours sees the new epoch and is refused)."""
        if self.engine.dialect.name != "postgresql":
            return  # SQLite's lease is a lock its holder cannot lose while alive
        epoch = conn.execute(select(leases.c.epoch).where(leases.c.name == "controller").with_for_update(
            read=True)).scalar()
        if epoch != self.epoch:
            self._lease_lost(f"another controller took over the store (epoch {epoch}, ours {self.epoch})")
            raise RuntimeError("lease lost")

    def _probe(self) -> None:
        """While writes fail: one small write tells when the store takes them again."""
        try:
            with self.engine.begin() as conn:
                self._check_epoch(conn)
                conn.execute(leases.update().where(leases.c.name == "controller").values(heartbeat=time.time()))
        except Exception as e:
            self.last_error = first_line(e)
            return
        log.warning("store %s takes writes again", self.name)
        self.writable = True
        if self.on_recovered is not None:
            self.on_recovered()

    def _execute(self, conn: Connection, ops: Iterable[Op]) -> None:
        # No table refers to another (no foreign keys, no triggers), so only the order of the writes to each
        # table matters: they go table by table, each table's in their order, and then a commit's many
        # measurement or event rows are one executemany each instead of alternating statements.
        by_table: dict[str, list[Op]] = {}
        for op in ops:
            by_table.setdefault(op[0].table.name, []).append(op)  # type: ignore[attr-defined]
        for table_ops in by_table.values():
            stmt: Executable | None = None
            rows: list[dict[str, Any]] = []
            for s, row in table_ops:
                if s is not stmt and rows:
                    self._execute_rows(conn, stmt, rows)  # type: ignore[arg-type]
                    rows = []
                stmt = s
                rows.append(row)
            if rows:
                self._execute_rows(conn, stmt, rows)  # type: ignore[arg-type]

    def _execute_rows(self, conn: Connection, stmt: Executable, rows: list[dict[str, Any]]) -> None:
        if len(rows) > 1 and stmt in self._upsert_statements:
            # Rows are whole rows, so the last for a key is what writing them in turn would leave; and one
            # multi-row upsert may not touch a row twice (PostgreSQL refuses it).
            keys = [c.name for c in stmt.table.primary_key.columns]  # type: ignore[attr-defined]
            rows = list({tuple(r[k] for k in keys): r for r in rows}.values())
        conn.execute(stmt, rows if len(rows) > 1 else rows[0])

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
        self.lease.release()
        self.engine.dispose()

    # --- reading -------------------------------------------------------

    def load(self, study_id: str | None = None) -> Loaded:
        """Every study (at start), or one study as committed (to rebuild it after a failed write)."""
        def only(table: Table) -> Any:
            q = select(table)
            return q if study_id is None else q.where(table.c.study_id == study_id)

        out = Loaded()
        with self.engine.connect() as conn:
            q = select(studies) if study_id is None else select(studies).where(studies.c.id == study_id)
            out.studies = row_dicts(conn.execute(q))
            out.trials = row_dicts(conn.execute(only(trials)))
            out.measurements = self._measurements(conn, study_id)
            out.queued = row_dicts(conn.execute(only(queued).order_by(queued.c.study_id, queued.c.position)))
            out.warm_starts = row_dicts(conn.execute(only(warm_starts)))
            seqs = select(events.c.study_id, func.max(events.c.seq)).group_by(events.c.study_id)
            if study_id is not None:
                seqs = seqs.where(events.c.study_id == study_id)
            for sid, seq in conn.execute(seqs):
                out.last_seq[sid] = int(seq)
            if study_id is None:
                out.executors = [r.address for r in conn.execute(select(executors))]
            # Retries come within seconds or minutes; a day of answers is plenty to recognise them.
            recent = conn.execute(only(answers).where(answers.c.created > time.time() - 86400))
            out.answers = row_dicts(recent)
        return out

    @staticmethod
    def _measurements(conn: Connection, study_id: str | None) -> dict[tuple[str, int], list[MeasurementRecord]]:
        # Read in slices straight into records: a million rows held as dicts first would double the memory of
        # a restart, and Python rarely gives such a peak back.
        m = measurements
        q = select(m.c.study_id, m.c.trial_id, m.c.step, m.c.metrics, m.c.elapsed).order_by(m.c.id)
        if study_id is not None:
            q = q.where(m.c.study_id == study_id)
        out: dict[tuple[str, int], list[MeasurementRecord]] = {}
        for sid, trial_id, step, metrics, elapsed in conn.execution_options(yield_per=10_000).execute(q):
            record = MeasurementRecord(int(step), loads(metrics), float(elapsed))
            key = (sid, int(trial_id))
            held = out.get(key)
            if held is None:
                out[key] = [record]
            else:
                held.append(record)
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
            for t in (measurements, events, trials, answers, queued, warm_starts)
        ] + [(delete(studies).where(studies.c.id == study_id), {})]
