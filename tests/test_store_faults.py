"""The store is the only truth: a full disk changes nothing in memory, one controller writes at a time.

Real controller processes on real stores: SQLite on a tmpfs that is filled up and emptied again,
PostgreSQL whose sessions are cut. Nothing here is mocked.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from cluster import Server, controller_stub, start_controller, start_executor, wait_for_executors
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from postgres import fresh_database
from test_chaos import call, wait_ended

STEADY = ("steady=chaos_trainables:steady",)


def spec(trials: int, *, trainable: str = "", parallel: int = 0, **config: object) -> s.StudySpec:
    out = s.StudySpec(
        name="faults", seed=3, trainable=trainable,
        space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
        objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
        budget=s.Budget(max_trials=trials, max_parallel=parallel))
    out.trainable_config.update(config)
    return out


@contextlib.contextmanager
def small_tmpfs(path: Path, size_mb: int = 48) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the full-disk tests: {r.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path) -> Path:
    """Fills the file system to the last byte; removing the returned file gives the space back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def stored_counts(db: Path, sid: str) -> dict[int, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM trials WHERE study_id = ? GROUP BY state", (sid,)))


def counts_of(study: s.Study) -> dict[int, int]:
    k = study.counts
    out = {s.TRIAL_PENDING: k.pending, s.TRIAL_RUNNING: k.running, s.TRIAL_COMPLETED: k.completed,
           s.TRIAL_STOPPED: k.stopped, s.TRIAL_FAILED: k.failed, s.TRIAL_PAUSED: k.paused}
    return {state: n for state, n in out.items() if n}


def tell_until_done(address: str, sid: str, count: int) -> None:
    """The README's ask/tell loop, through a store that may still refuse (call() retries UNAVAILABLE)."""
    while True:
        got = call(address, "SuggestTrials", c.SuggestTrialsRequest(study_id=sid, count=count))
        if got.study_done:
            return
        for t in got.trials:
            call(address, "ReportMeasurement", c.ReportMeasurementRequest(
                study_id=sid, trial_id=t.id, measurement=s.Measurement(step=1, metrics={"loss": t.id})))
            call(address, "CompleteTrial", c.CompleteTrialRequest(study_id=sid, trial_id=t.id))


@contextlib.contextmanager
def ask_tell_study_on_a_small_disk(tmp_path: Path, trials: int) -> Iterator[tuple[Server, Any, str, Path, Path]]:
    """(controller, stub, study id, database, disk): a client-driven study whose SQLite store is on a tmpfs."""
    with small_tmpfs(tmp_path / "disk") as disk:
        db = disk / "nestor.db"
        ctl = start_controller(tmp_path, store=f"sqlite:///{db}")
        try:
            stub = controller_stub(ctl.address)
            yield ctl, stub, stub.CreateStudy(c.CreateStudyRequest(spec=spec(trials))).id, db, disk
        finally:
            ctl.stop()


def test_full_disk_ask_tell_changes_nothing_and_the_study_ends_with_its_budget(tmp_path: Path) -> None:
    trials = 20
    with ask_tell_study_on_a_small_disk(tmp_path, trials) as (ctl, stub, sid, db, disk):

        def one_trial() -> None:
            t = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
            stub.ReportMeasurement(c.ReportMeasurementRequest(
                study_id=sid, trial_id=t.id, measurement=s.Measurement(step=1, metrics={"loss": t.id})))
            stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id))

        for _ in range(5):
            one_trial()
        filler = fill(disk)
        refused = []
        for _ in range(30):  # a WAL with room left takes a few writes more before the disk refuses one
            try:
                one_trial()
            except grpc.RpcError as e:
                refused.append(e)
                if len(refused) >= 5:
                    break
        assert refused, "the full disk never refused a write: the tmpfs is too large"
        for e in refused:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
        # Each names the store; the first says why (a refusal while the study is read back says that).
        assert all(str(db) in e.details() for e in refused), [e.details() for e in refused]
        assert "refuses writes" in refused[0].details(), refused[0].details()
        # What the controller says is what the store holds: no phantom RUNNING trial from a refused suggest.
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert counts_of(study) == stored_counts(db, sid)
        filler.unlink()
        # The same loop goes on without a restart and ends with the budget.
        tell_until_done(ctl.address, sid, 1)
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_COMPLETED, study.reason
        assert counts_of(study) == stored_counts(db, sid) == {s.TRIAL_COMPLETED: trials}
        ids = [t.id for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials]
        assert sorted(ids) == list(range(1, trials + 1))  # no id skipped by a change the store refused



def test_concurrent_suggestions_are_written_in_order_and_fail_together_on_a_full_disk(tmp_path: Path) -> None:
    """A client's suggestion is computed while the one before it is still being written (memory holds it, and
    the store keeps the order): distinct trials, each durable before it is answered; on a full disk, those
    computed on top of a refused one are refused with it, and memory rolls back to what the store holds."""
    trials, clients = 40, 8
    with ask_tell_study_on_a_small_disk(tmp_path, trials) as (ctl, stub, sid, db, disk):

        def ask(_: int) -> s.Trial | grpc.RpcError:
            try:
                return stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1), timeout=60).trials[0]
            except grpc.RpcError as e:
                return e

        def complete(t: s.Trial) -> None:
            call(ctl.address, "CompleteTrial", c.CompleteTrialRequest(
                study_id=sid, trial_id=t.id, final_measurement=s.Measurement(metrics={"loss": t.id})))

        with ThreadPoolExecutor(clients) as pool:
            first = list(pool.map(ask, range(clients)))
            assert all(isinstance(t, s.Trial) for t in first), first
            assert sorted(t.id for t in first) == list(range(1, clients + 1))
            assert stored_counts(db, sid) == {s.TRIAL_RUNNING: clients}
            for t in first:
                complete(t)
            filler = fill(disk)
            answered: list[s.Trial] = []
            refused: list[grpc.RpcError] = []
            for _ in range(10):  # a WAL with room left takes a few writes more before the disk refuses one
                for got in pool.map(ask, range(clients)):
                    (answered if isinstance(got, s.Trial) else refused).append(got)
                if refused:
                    break
        assert refused, "the full disk never refused a write: the tmpfs is too large"
        assert all(e.code() == grpc.StatusCode.UNAVAILABLE for e in refused), [e.details() for e in refused]
        # Every trial a client was given is in the store; none that a client was refused is anywhere.
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert counts_of(study) == stored_counts(db, sid)
        assert stored_counts(db, sid).get(s.TRIAL_RUNNING, 0) == len(answered)
        filler.unlink()
        for t in answered:
            complete(t)
        tell_until_done(ctl.address, sid, 1)
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_COMPLETED, study.reason
        ids = [t.id for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials]
        assert sorted(ids) == list(range(1, trials + 1))  # no id taken by a suggestion the store refused



def managed_study_underway(tmp_path: Path, ctl: Server, trials: int, steps: int) -> str:
    """A managed study on one executor with two trials completed: the store is about to fail mid-study."""
    stub = controller_stub(ctl.address)
    wait_for_executors(stub, 1)
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec(
        trials, trainable="steady", parallel=1, steps=steps, sleep_s=0.05, log=str(tmp_path / "runs.log")))).id
    deadline = time.monotonic() + 60
    while stub.GetStudy(c.GetStudyRequest(study_id=sid)).counts.completed < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return sid


def wait_refused(ctl: Server) -> None:
    """Until the controller meets the store's refusal; then a moment in which nothing may move."""
    deadline = time.monotonic() + 30
    while "write failed" not in ctl.log():
        assert time.monotonic() < deadline, "the store never refused a write"
        time.sleep(0.1)
    time.sleep(1.0)


def assert_every_step_once(ctl: Server, sid: str, trials: int, steps: int) -> None:
    listed = controller_stub(ctl.address).ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True))
    assert sorted(t.id for t in listed.trials) == list(range(1, trials + 1))
    for t in listed.trials:
        assert [m.step for m in t.measurements] == list(range(1, steps + 1)), (t.id, t.measurements)


def test_full_disk_managed_study_resumes_by_itself_and_ends_with_its_budget(tmp_path: Path) -> None:
    trials, steps = 12, 4
    with small_tmpfs(tmp_path / "disk") as disk:
        db = disk / "nestor.db"
        ctl = start_controller(tmp_path, store=f"sqlite:///{db}")
        ex = start_executor(tmp_path, ctl.address, "--register-interval", "1", trainables=STEADY)
        try:
            sid = managed_study_underway(tmp_path, ctl, trials, steps)
            filler = fill(disk)
            wait_refused(ctl)
            study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
            assert study.state == s.STUDY_RUNNING
            assert counts_of(study) == stored_counts(db, sid)
            filler.unlink()
            study = wait_ended(ctl.address, sid, timeout=120)  # no restart: it resumes by itself
            assert study.state == s.STUDY_COMPLETED, study.reason
            assert counts_of(study) == stored_counts(db, sid) == {s.TRIAL_COMPLETED: trials}
            assert_every_step_once(ctl, sid, trials, steps)
        finally:
            ex.stop()
            ctl.stop()


def controller_cmd(store: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "nestor_controller", "--port", "0", "--store", store, *args]


def assert_refused_naming_holder(store: str, holder: Server, where: Path) -> None:
    r = subprocess.run(controller_cmd(store), capture_output=True, text=True, timeout=60, cwd=where)
    assert r.returncode != 0
    line = r.stderr.strip().splitlines()[-1]
    assert "is in use by" in line and f"pid {holder.proc.pid}" in line and "--standby" in line, r.stderr


def standby_takes_over(tmp_path: Path, store: str) -> None:
    first = start_controller(tmp_path, store=store)
    standby: Server | None = None
    try:
        assert_refused_naming_holder(store, first, tmp_path)
        sid = controller_stub(first.address).CreateStudy(c.CreateStudyRequest(spec=spec(3))).id
        t = controller_stub(first.address).SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
        # A standby waits (it does not listen) until the holder dies.
        proc_box: list[Server] = []
        import threading

        th = threading.Thread(target=lambda: proc_box.append(start_controller(tmp_path, "--standby", store=store)))
        th.start()
        time.sleep(2.0)
        assert not proc_box, "the standby started while the holder was alive"
        first.kill()
        killed = time.monotonic()
        th.join(timeout=30)
        assert proc_box, "the standby did not take over"
        standby = proc_box[0]
        took = time.monotonic() - killed
        assert took < 5.0, f"the standby took {took:.1f} s to take over"
        # It resumed the study as committed: the trial the client holds is still there to complete.
        stub = controller_stub(standby.address)
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id, final_measurement=s.Measurement(
            step=1, metrics={"loss": 1.0})))
        assert stub.GetStudy(c.GetStudyRequest(study_id=sid)).counts.completed == 1
    finally:
        first.kill()
        if standby is not None:
            standby.stop()


def test_second_controller_is_refused_and_a_standby_takes_over_sqlite(tmp_path: Path) -> None:
    standby_takes_over(tmp_path, f"sqlite:///{tmp_path / 'nestor.db'}")


def test_second_controller_is_refused_and_a_standby_takes_over_postgresql(tmp_path: Path, postgres_url: str) -> None:
    standby_takes_over(tmp_path, fresh_database(postgres_url, f"nestor_{uuid.uuid4().hex[:10]}"))


def test_a_controller_that_loses_its_postgresql_lease_stops_writing_and_exits(tmp_path: Path,
                                                                              postgres_url: str) -> None:
    import sqlalchemy

    store = fresh_database(postgres_url, f"nestor_{uuid.uuid4().hex[:10]}")
    first = start_controller(tmp_path, store=store)
    try:
        stub = controller_stub(first.address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec(5))).id
        engine = sqlalchemy.create_engine(store.replace("postgresql://", "postgresql+psycopg://", 1),
                                          isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            # Cut the session that holds the advisory lock, as a failover or a network cut would.
            cut = conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                       "AND database = (SELECT oid FROM pg_database WHERE datname = "
                                       "current_database())").fetchall()
            assert cut
        engine.dispose()
        assert first.proc.wait(timeout=20) != 0
        assert "lost the lease" in first.log()
        # A successor opens the store; the old leader wrote nothing after losing its lease.
        second = start_controller(tmp_path, store=store)
        try:
            study = controller_stub(second.address).GetStudy(c.GetStudyRequest(study_id=sid))
            assert study.counts.running == 0 and study.state == s.STUDY_RUNNING
        finally:
            second.stop()
    finally:
        first.kill()


def test_a_damaged_sqlite_store_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "nestor.db"
    ctl = start_controller(tmp_path, store=f"sqlite:///{db}")
    stub = controller_stub(ctl.address)
    for _ in range(3):
        stub.CreateStudy(c.CreateStudyRequest(spec=spec(5)))
    ctl.stop()
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 2 * page
    data[page:] = os.urandom(len(data) - page)  # every page after the schema: garbage
    db.write_bytes(bytes(data))
    r = subprocess.run(controller_cmd(f"sqlite:///{db}"), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr, r.stderr
    assert "is damaged" in last and str(db) in last and ".recover" in last, r.stderr


def test_a_request_id_is_scoped_to_its_study_and_trial(stub: object) -> None:
    a = stub.CreateStudy(c.CreateStudyRequest(spec=spec(5))).id  # type: ignore[attr-defined]
    b = stub.CreateStudy(c.CreateStudyRequest(spec=spec(5))).id  # type: ignore[attr-defined]
    ta = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=a, count=1, request_id="R")).trials  # type: ignore
    tb = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=b, count=1, request_id="R")).trials  # type: ignore
    assert ta[0].study_id == a and tb[0].study_id == b
    final = s.Measurement(step=1, metrics={"loss": 0.5})
    done_a = stub.CompleteTrial(c.CompleteTrialRequest(study_id=a, trial_id=1, request_id="R",  # type: ignore
                                                       final_measurement=final))
    done_b = stub.CompleteTrial(c.CompleteTrialRequest(study_id=b, trial_id=1, request_id="R",  # type: ignore
                                                       final_measurement=s.Measurement(step=1, metrics={"loss": 2})))
    assert done_a.study_id == a and done_b.study_id == b
    assert done_b.final_measurement.metrics["loss"] == 2.0
    study_b = stub.GetStudy(c.GetStudyRequest(study_id=b))  # type: ignore[attr-defined]
    assert study_b.counts.completed == 1


def test_a_repeated_step_keeps_its_first_value_and_bad_measurements_are_refused(stub: object) -> None:
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec(5))).id  # type: ignore[attr-defined]
    t = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]  # type: ignore[attr-defined]
    for value, rid in ((1.0, "first"), (9.0, "a restarted client")):
        stub.ReportMeasurement(c.ReportMeasurementRequest(  # type: ignore[attr-defined]
            study_id=sid, trial_id=t.id, request_id=rid, measurement=s.Measurement(step=1, metrics={"loss": value})))
    for bad, what in ((s.Measurement(step=2), "no metrics"),
                      (s.Measurement(step=2, metrics={"loss": 1}, elapsed_s=-1), "elapsed_s")):
        with pytest.raises(grpc.RpcError) as e:
            stub.ReportMeasurement(c.ReportMeasurementRequest(study_id=sid, trial_id=t.id,  # type: ignore
                                                              measurement=bad))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and what in e.value.details()
    got = stub.GetTrial(c.GetTrialRequest(study_id=sid, trial_id=t.id))  # type: ignore[attr-defined]
    assert [(m.step, m.metrics["loss"]) for m in got.measurements] == [(1, 1.0)]


class ReadOnlySwitch:
    """Makes a PostgreSQL database read-only and back, as an operator's mistake or a failover to a replica does:
    new sessions get default_transaction_read_only, and every open session but the lease's is cut."""

    def __init__(self, server_url: str, store: str) -> None:
        import sqlalchemy

        self.name = store.rsplit("/", 1)[1]
        self.admin = sqlalchemy.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://", 1),
                                              isolation_level="AUTOCOMMIT")
        self.store = sqlalchemy.create_engine(store.replace("postgresql://", "postgresql+psycopg://", 1))

    def set(self, on: bool) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{self.name}" SET default_transaction_read_only = '
                                 f'{"on" if on else "off"}')
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid NOT IN "
                "(SELECT pid FROM pg_locks WHERE locktype = 'advisory')", (self.name,))
        self.store.dispose()

    def stored(self, sid: str) -> dict[int, int]:
        with self.store.connect() as conn:
            rows = conn.exec_driver_sql("SELECT state, count(*) FROM trials WHERE study_id = %s GROUP BY state",
                                        (sid,)).fetchall()
        self.store.dispose()
        return {int(state): int(n) for state, n in rows}

    def close(self) -> None:
        self.admin.dispose()
        self.store.dispose()


def test_read_only_postgresql_store_changes_nothing_and_the_study_goes_on(tmp_path: Path, postgres_url: str) -> None:
    trials = 8
    store = fresh_database(postgres_url, f"nestor_{uuid.uuid4().hex[:10]}")
    switch = ReadOnlySwitch(postgres_url, store)
    ctl = start_controller(tmp_path, store=store)
    try:
        stub = controller_stub(ctl.address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec(trials))).id
        t = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
        switch.set(True)
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as e:
                stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=2))
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id,
                                                      final_measurement=s.Measurement(step=1, metrics={"loss": 1})))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value.details()
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert counts_of(study) == switch.stored(sid) == {s.TRIAL_RUNNING: 1}
        switch.set(False)
        call(ctl.address, "CompleteTrial", c.CompleteTrialRequest(
            study_id=sid, trial_id=t.id, final_measurement=s.Measurement(step=1, metrics={"loss": 1})))
        tell_until_done(ctl.address, sid, 2)
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_COMPLETED
        assert counts_of(study) == switch.stored(sid) == {s.TRIAL_COMPLETED: trials}
    finally:
        ctl.stop()
        switch.close()


def test_read_only_postgresql_store_managed_study_resumes_by_itself(tmp_path: Path, postgres_url: str) -> None:
    trials, steps = 10, 4
    store = fresh_database(postgres_url, f"nestor_{uuid.uuid4().hex[:10]}")
    switch = ReadOnlySwitch(postgres_url, store)
    ctl = start_controller(tmp_path, store=store)
    ex = start_executor(tmp_path, ctl.address, "--register-interval", "1", trainables=STEADY)
    try:
        sid = managed_study_underway(tmp_path, ctl, trials, steps)
        switch.set(True)
        wait_refused(ctl)
        study = call(ctl.address, "GetStudy", c.GetStudyRequest(study_id=sid))
        assert study.state == s.STUDY_RUNNING and counts_of(study) == switch.stored(sid)
        switch.set(False)
        study = wait_ended(ctl.address, sid, timeout=120)
        assert study.state == s.STUDY_COMPLETED, study.reason
        # GetStudy reads memory, which may show the last trial's end a moment before its commit lands (nobody
        # was answered yet): the store must catch up, soon, and never disagree for good.
        deadline = time.monotonic() + 10
        while switch.stored(sid) != counts_of(study) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counts_of(study) == switch.stored(sid) == {s.TRIAL_COMPLETED: trials}
        assert_every_step_once(ctl, sid, trials, steps)
    finally:
        ex.stop()
        ctl.stop()
        switch.close()
