"""The study engine: every study in memory, the executor pool, and dispatch.

One asyncio task per running managed study fills free executor slots with
suggestions; one task per running trial owns its RunTrial stream. Client-driven
studies use the same StudyRuntime through ask/tell calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import shutil
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2
from nestor.v1 import controller_pb2, executor_pb2, study_pb2
from nestor.values import params_from_proto, params_to_proto

from nestor_controller import lifecycle, warmstart
from nestor_controller.addresses import check_executor_address
from nestor_controller.bilevel import runtime as bilevel
from nestor_controller.errors import NotFoundError, PreconditionError, SpecError, StoreUnavailable
from nestor_controller.expiry import CHECK_EVERY_S, expire_stale, hand_out_pending, heard, watched
from nestor_controller.limits import MAX_ADDED_MEASUREMENTS, check_count
from nestor_controller.model import ADDED, ENQUEUED, WARM_START, MeasurementRecord, QueuedSet, TrialRecord
from nestor_controller.pool import ExecutorHandle, ExecutorPool
from nestor_controller.requests import RequestKey, RequestTag, current_request, note_request
from nestor_controller.samplers import DEFAULT_ALGORITHM
from nestor_controller.schedulers import CONTINUE, Verdict
from nestor_controller.store import Loaded, Op, Store, first_line
from nestor_controller.store import executors as executors_table
from nestor_controller.store import warm_starts as warm_starts_table
from nestor_controller.study import RUNNING, StudyRuntime, check_measurement
from nestor_controller.validate import parse_spec
from nestor_controller.warmstart import WarmStart

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A trial whose executor is lost this many times fails instead of going back to the queue.
MAX_ATTEMPTS = 5
MAX_SUGGEST = 1000
#: While the store refuses writes, a study's runner looks again this often.
PAUSE_WHILE_STORE_DOWN_S = 0.2
#: Answers remembered per request id, so that a retried call returns the first answer.
REQUEST_CACHE = 100_000


async def write_unless_ended(call: Any, message: executor_pb2.ControllerMessage) -> bool:
    """Writes a stop to a trial's stream unless the executor has already ended it.

    A stop decided at a trial's last measurement races the executor's result: the run may have finished
    by the time the stop is written. gRPC then fails the write (and the stream with it, even though the
    result was sent); the caller reads on and sees how the stream ended.
    """
    try:
        await call.write(message)
    except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
        return False  # the next read tells how the stream ended
    return True


def purge_artifacts(artifact_dir: str, study_id: str) -> tuple[list[str], str]:
    """Removes a deleted study's checkpoint folder: (what was removed, what could not be and why)."""
    if not artifact_dir:
        return [], ("the controller has no --artifact-dir: each executor keeps the checkpoints under its own "
                    f"--artifact-dir, in {study_id}/; remove them there")
    folder = os.path.join(artifact_dir, study_id)
    if not os.path.isdir(folder):
        return [], f"no checkpoints in {folder}"
    try:
        shutil.rmtree(folder)
    except OSError as e:
        return [], f"could not remove {folder}: {e.strerror or e}"
    return [folder], ""


def remove_folders(folders: list[str]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


class Engine:
    def __init__(self, store: Store, *, artifact_dir: str = "", poll_interval: float = 2.0,
                 dns_interval: float = 10.0) -> None:
        self.store = store
        self.artifact_dir = artifact_dir
        self.studies: dict[str, StudyRuntime] = {}
        self.pool = ExecutorPool(self.wake_all, poll_interval=poll_interval, on_lost=self._executor_lost,
                                 dns_interval=dns_interval, foreign_runs=self._foreign_runs)
        self.runs: dict[tuple[str, int], asyncio.Task[None]] = {}
        self.run_executor: dict[tuple[str, int], str] = {}
        self._answers: OrderedDict[RequestKey, Any] = OrderedDict()
        self._inflight: dict[RequestKey, asyncio.Future[Any]] = {}
        self._notes: dict[RequestKey, dict[str, Any]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # --- life cycle ---------------------------------------------------------

    async def start(self, static_executors: list[str]) -> None:
        loop = asyncio.get_running_loop()
        self.store.on_write_failed = lambda study_id: loop.call_soon_threadsafe(self._write_failed, study_id)
        self.store.on_recovered = lambda: loop.call_soon_threadsafe(self.wake_all)
        loaded = await asyncio.to_thread(self.store.load)
        self._remember_notes(loaded.answers)
        for rt in self._restore_studies(loaded, "the controller restarted"):
            self.studies[rt.id] = rt
        self.pool.start()
        for address in dict.fromkeys([*static_executors, *loaded.executors]):
            if address.startswith("dns:"):
                self.pool.add_dns(address)
            else:
                self.pool.add(address)
        for rt in self.studies.values():
            if rt.running and rt.managed:
                self._start_runner(rt)  # it first requeues what the previous controller was running
            elif rt.running:
                await rt.check_end()
        task = asyncio.create_task(self._expire_loop(), name="expire-client-trials")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _expire_loop(self) -> None:
        """Client-driven trials whose client is gone expire (see expiry.py)."""
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            for rt in [rt for rt in self.studies.values() if watched(rt)]:
                try:
                    await expire_stale(rt)
                except StoreUnavailable as e:
                    log.warning("expiring stale trials of study %s: %s", rt.id, e)

    def _remember_notes(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = (row["study_id"], row["method"], int(row["trial_id"]), row["request_id"])
            self._notes[key] = json.loads(row["payload"])

    def _restore_studies(self, loaded: Loaded, orphan_reason: str) -> list[StudyRuntime]:
        """Runtimes as the store holds them; running managed trials are orphans: `orphan_reason` says why."""
        measurements = loaded.measurements
        trials_by_study: dict[str, list[TrialRecord]] = defaultdict(list)
        for row in loaded.trials:
            t = TrialRecord.from_row(row)
            t.measurements = measurements.get((t.study_id, t.id), [])
            trials_by_study[t.study_id].append(t)
        out = []
        queues: dict[str, list[QueuedSet]] = defaultdict(list)
        for row in loaded.queued:
            queues[row["study_id"]].append(QueuedSet.from_row(row))
        warm = {row["study_id"]: WarmStart.from_json(row["payload"]) for row in loaded.warm_starts}
        for row in loaded.studies:
            rt = self._restore_study(row, trials_by_study.get(row["id"], []), loaded.last_seq.get(row["id"], 0),
                                     queues.get(row["id"], []), warm.get(row["id"]))
            rt.generation = self.store.fenced_generation(rt.id) + 1
            rt.orphan_reason = orphan_reason
            out.append(rt)
        return out

    def _write_failed(self, study_id: str) -> None:
        """A write of the study failed: its memory may hold what the store never took."""
        rt = self.studies.get(study_id)
        if rt is not None and not rt.broken and rt.generation <= self.store.fenced_generation(study_id):
            rt.broken = True
            task = asyncio.create_task(self._rebuild(rt), name=f"rebuild-{study_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _rebuild(self, old: StudyRuntime) -> None:
        """Throws the study's memory away and reads it again as committed. Its runs on executors are stopped
        (their trials run again from their checkpoints); watchers carry on with the rebuilt study."""
        tasks = [task for (sid, _), task in self.runs.items() if sid == old.id]
        if old.runner is not None:
            tasks.append(old.runner)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        delay = 0.2
        while True:
            try:
                loaded = await asyncio.to_thread(self.store.load, old.id)
                break
            except Exception as e:
                log.warning("study %s: cannot read it back from store %s yet: %s", old.id, self.store.name,
                            first_line(e))
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0)
        if self.studies.get(old.id) is not old:
            return  # deleted meanwhile
        self._remember_notes(loaded.answers)
        rebuilt = self._restore_studies(loaded, "its study was rebuilt from the store after a failed write")
        if not rebuilt:
            self.studies.pop(old.id, None)
            for q in old.subscribers:
                q.put_nowait(None)
            return
        rt = rebuilt[0]
        rt.subscribers = old.subscribers
        self.studies[rt.id] = rt
        log.warning("study %s rebuilt from store %s after a failed write: %d trials", rt.id, self.store.name,
                    len(rt.trials))
        if rt.running and rt.managed:
            self._start_runner(rt)

    def _restore_study(self, row: dict[str, Any], trials: list[TrialRecord], last_seq: int, queue: list[QueuedSet],
                       warm: WarmStart | None) -> StudyRuntime:
        spec = json_format.Parse(row["spec"], study_pb2.StudySpec())
        rt = StudyRuntime(self, row["id"], spec, parse_spec(spec), int(row["seed"]), float(row["created"]))
        rt.state, rt.ended, rt.reason = int(row["state"]), row["ended"], row["reason"] or ""
        rt.next_trial_id = int(row["next_trial_id"])
        if warm is not None:
            rt.use_warm_start(warm)  # before the sampler's state: what it derives from the priors comes first
        rt.queue.extend(queue)
        rt.next_position = queue[-1].position + 1 if queue else 1
        rt.sampler.load_state(json.loads(row["sampler_state"]))
        rt.scheduler.load_state(json.loads(row["scheduler_state"]))
        rt.last_seq = last_seq
        finished = []
        for t in sorted(trials, key=lambda t: t.id):
            rt.hold(t)
            if t.origin == ADDED:
                rt.added[t.state] += 1
            if t.state == study_pb2.TRIAL_PENDING:
                rt.pending.append(t.id)
            elif t.finished:
                finished.append(t)
        from nestor_controller.constraints import violations
        from nestor_controller.objectives import objective_values
        from nestor_controller.samplers import Observation

        # History in the order the strategy saw it: every ended run by its event's seq (a promoted trial
        # ended several); trials stored before runs were recorded first, in the order they ended.
        runs = []
        for t in sorted(finished, key=lambda t: (t.ended or 0.0, t.id)):
            failed = t.state == study_pb2.TRIAL_FAILED
            broken = violations(rt.parsed.constraints, t.final.metrics if t.final and not failed else None)
            t.infeasible = any(v > 0 for v in broken)
            if not t.runs:
                values = objective_values(rt.objectives, t.final.metrics) if t.final and not failed else None
                rt.history.append(Observation(t.id, t.params, values, t.budget, broken if values else ()))
            if not failed:
                rt.finished_curve(t)
        for t in trials:
            for r in t.runs:
                values = tuple(r["values"]) if r["values"] is not None else None
                runs.append((int(r["seq"]), Observation(t.id, t.params_at(float(r["budget"])), values,
                                                        float(r["budget"]),
                                                        tuple(r.get("violations", ())))))
        rt.history.extend(obs for _, obs in sorted(runs, key=lambda x: x[0]))
        rt.sampler_done = rt.sampler.exhausted()
        return rt

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        for rt in self.studies.values():
            if rt.runner:
                rt.runner.cancel()
        for task in list(self.runs.values()):
            task.cancel()
        await asyncio.gather(*[rt.runner for rt in self.studies.values() if rt.runner], *self.runs.values(),
                             return_exceptions=True)
        await self.pool.close()

    def wake_all(self) -> None:
        for rt in self.studies.values():
            rt.wake.set()

    # --- idempotent calls -----------------------------------------------------

    async def once(self, method: str, request_id: str, fn: Callable[[], Awaitable[T]],
                   rebuild: Callable[[dict[str, Any]], T], *, study_id: str = "", trial_id: int = 0) -> T:
        """Runs fn once per request (its id within its study, method and trial); a retry gets the first
        answer, or waits for it.

        Answers of this controller's lifetime are cached; older ones are rebuilt by `rebuild`
        from the note the first call committed with its change.
        """
        if not request_id:
            return await fn()
        if len(request_id) > 128:
            raise SpecError(f"request_id: longer than 128 characters ({len(request_id)})")
        key: RequestKey = (study_id, method, trial_id, request_id)
        if key in self._answers:
            return self._answers[key]  # type: ignore[no-any-return]
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key])  # type: ignore[no-any-return]
        if key in self._notes:
            return rebuild(self._notes[key])
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        token = current_request.set(RequestTag(key))
        try:
            answer = await fn()
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: a failed call is not cached, the retry runs again
            raise
        finally:
            current_request.reset(token)
            self._inflight.pop(key, None)
        fut.set_result(answer)
        self._answers[key] = answer
        if len(self._answers) > REQUEST_CACHE:
            self._answers.popitem(last=False)
        return answer

    # --- studies --------------------------------------------------------------

    def get(self, study_id: str) -> StudyRuntime:
        rt = self.studies.get(study_id)
        if rt is None:
            raise NotFoundError(f"study {study_id!r} not found")
        if rt.broken:
            raise StoreUnavailable(f"study {study_id} is being read back from store {self.store.name} after a "
                                   "failed write; retry in a moment")
        return rt

    async def create_study(self, spec: study_pb2.StudySpec) -> StudyRuntime:
        # Named in the stored spec: a study read back later runs what it began with, whatever the default then.
        spec.algorithm.name = spec.algorithm.name or DEFAULT_ALGORITHM
        parsed = await asyncio.to_thread(parse_spec, spec)  # a large grid takes a while to count
        self.store.check_writable()
        if spec.trainable:
            served = set().union(*(h.trainables for h in self.pool.handles.values() if h.healthy))
            # With no executor known yet the study waits for one; with some, a typo must not wait forever.
            if served and spec.trainable not in served:
                raise SpecError(
                    f"spec.trainable: no executor serves trainable {spec.trainable!r} "
                    f"(served: {', '.join(sorted(served))})")
        seed = spec.seed or secrets.randbelow(2**31 - 1) + 1
        study_id = uuid.uuid4().hex[:12]
        warm = None
        if parsed.warm_mode:
            earlier = sorted(self.studies.values(), key=lambda rt: rt.created)
            chosen = warmstart.select(spec, parsed.space, parsed.objectives,
                                      [warmstart.candidate(rt) for rt in earlier])
            snapshots = [(c, d, warmstart.results(self.studies[c.study_id])) for c, d in chosen]
            # Projecting thousands of prior results takes a while: off the event loop, over the snapshots.
            warm = await asyncio.to_thread(warmstart.build, parsed.warm_mode, spec.warm_start.decay, parsed.space,
                                           parsed.objectives, parsed.constraints, snapshots)
        rt = StudyRuntime(self, study_id, spec, parsed, seed, time.time())
        from nestor.v1 import controller_pb2

        ops = [rt.study_row()]
        evs: list[controller_pb2.StudyEvent] = []
        rt.event(ops, evs, controller_pb2.STUDY_EVENT_STUDY_CREATED, message=spec.name)
        given = [(params_from_proto(p.params), ENQUEUED, json_format.MessageToDict(p.user_attrs))
                 for p in spec.enqueue]
        ops.extend(lifecycle.queue_ops(rt, given))
        if warm is not None:
            top = warmstart.top_configurations(parsed.objectives, warm.priors, spec.warm_start.top_k
                                               or warmstart.DEFAULT_TOP_K) if warm.mode == warmstart.TOP_K else []
            warm.enqueued = len(top)
            rt.use_warm_start(warm)
            ops.append(self.store.insert(warm_starts_table, {"study_id": study_id, "payload": warm.to_json()}))
            ops.extend(lifecycle.queue_ops(rt, [(params, WARM_START, {}) for params in top]))
        note_request(study=study_id)
        await rt.commit(ops, evs)
        self.studies[study_id] = rt
        if rt.managed:
            self._start_runner(rt)
        log.info("study %s (%s) created: %s over %s", study_id, spec.name, parsed.algorithm,
                 spec.trainable or "client-driven trials")
        return rt

    def resume(self, rt: StudyRuntime) -> None:
        """A study that ended runs again (ExtendStudy): a managed one gets its runner back."""
        if rt.managed and (rt.runner is None or rt.runner.done()):
            self._start_runner(rt)

    async def stop_study(self, study_id: str, reason: str) -> StudyRuntime:
        rt = self.get(study_id)
        self.store.check_writable()
        await rt.end(study_pb2.STUDY_STOPPED, reason or "stopped by a user")
        return rt

    async def delete_study(self, study_id: str, *, purge: bool = False) -> tuple[list[str], str]:
        """Deletes the study; with `purge`, its checkpoints under the artifact dir too: (removed, note)."""
        rt = self.get(study_id)
        self.store.check_writable()
        if rt.running:
            await rt.end(study_pb2.STUDY_STOPPED, "deleted")
        if rt.runner:
            rt.runner.cancel()
        await self.store.commit(self.store.delete_study_ops(study_id), rt.fence)
        self.studies.pop(study_id, None)
        for q in rt.subscribers:
            q.put_nowait(None)
        if not purge:
            return [], ""
        return await asyncio.to_thread(purge_artifacts, self.artifact_dir, study_id)

    def _executor_lost(self, handle: ExecutorHandle) -> None:
        """An executor stopped answering: its trials go back to the queue now, not when TCP notices."""
        for key, address in list(self.run_executor.items()):
            task = self.runs.get(key)
            if address == handle.address and task is not None and task is not asyncio.current_task():
                task.cancel()

    def cancel_trial_run(self, rt: StudyRuntime, trial_id: int) -> None:
        task = self.runs.get((rt.id, trial_id))
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # --- client-driven trials -------------------------------------------------

    async def suggest(self, study_id: str, count: int, client_id: str) -> tuple[list[TrialRecord], bool]:
        rt = self.get(study_id)
        if rt.managed:
            raise PreconditionError(
                f"study {study_id} is managed: executors serving {rt.spec.trainable!r} run its trials")
        if not 1 <= count <= MAX_SUGGEST:
            raise SpecError(f"count: must be between 1 and {MAX_SUGGEST}, got {count}")
        if not rt.running:
            await rt.settled()  # the change that ended it may still be on its way to the store
            return [], True  # the natural end of an ask/tell loop, not an error
        self.store.check_writable()
        async with rt.lock:
            client = client_id or "client"
            ops: list[Op] = []
            evs: list[controller_pb2.StudyEvent] = []
            free = count
            if rt.spec.budget.max_parallel:
                # Requeued trials (in rt.pending) wait for a client: handing them out does not add to what runs.
                free = min(free, rt.spec.budget.max_parallel - rt.counts[RUNNING]
                           - rt.counts[study_pb2.TRIAL_PENDING] + len(rt.pending))
            # Paused trials that a multi-fidelity scheduler promotes come first, then new ones.
            made = hand_out_pending(rt, max(0, free), client, ops, evs)
            made += rt.settle(ops, evs, max(0, free - len(made)), client=client)
            n = int(min(count - len(made), rt.room()))
            if n > 0 and not rt.exhausted:
                made += await rt.new_trials(n, ops, evs, client=client)
            note_request(trials=[t.id for t in made])
            rt._check_end(ops, evs, None)
            # Memory holds the change already and the store keeps the order of commits, so the next client's
            # suggestion is computed while this one is written (and fails with it: the study is fenced).
            committed = rt.commit_soon(ops, evs, read_earlier=True)
        await committed
        return made, self.suggest_done(rt)

    @staticmethod
    def suggest_done(rt: StudyRuntime) -> bool:
        """No trial will ever be suggested again."""
        c = rt.counts
        return not rt.running or (rt.exhausted and c[study_pb2.TRIAL_RUNNING] + c[study_pb2.TRIAL_PENDING] == 0)

    async def report(self, study_id: str, trial_id: int, measurement: study_pb2.Measurement) -> Any:
        rt = self.get(study_id)
        t = rt.running_trial(trial_id)
        if rt.managed:
            raise PreconditionError(f"{t.where()} runs on executor {t.executor}; it reports over RunTrial")
        m = check_measurement(measurement, f"measurement of {t.where()}")
        heard(rt, t.id)
        if rt.known_step(t, m.step):
            return Verdict(True, t.stop_reason) if t.stop_reason else CONTINUE
        self.store.check_writable()
        return await rt.record_measurement(t, m)

    async def complete(self, study_id: str, trial_id: int, final: study_pb2.Measurement | None,
                       error: str, measurements: Sequence[study_pb2.Measurement] = ()) -> TrialRecord:
        rt = self.get(study_id)
        t = rt.running_trial(trial_id)
        if rt.managed:
            raise PreconditionError(f"{t.where()} runs on executor {t.executor}; its result comes over RunTrial")
        curve = self._told_curve(rt, t, measurements)
        self.store.check_writable()
        heard(rt, t.id)
        if error:
            await rt.finish_trial(t, error=error, measurements=curve)
            return t
        record = None
        if final is not None:
            record = check_measurement(final, f"final measurement of {t.where()}", final=True)
        told = record if record is not None and record.metrics else curve[-1] if curve else None
        _, problem = rt.final_for(t, told)
        if problem:
            raise SpecError(problem)
        await rt.finish_trial(t, final=record, stopped=bool(t.stop_reason), measurements=curve)
        return t

    @staticmethod
    def _told_curve(rt: StudyRuntime, t: TrialRecord,
                    measurements: Sequence[study_pb2.Measurement]) -> list[MeasurementRecord]:
        """The measurements a CompleteTrial carries, checked whole before anything is recorded."""
        if not measurements:
            return []
        check_count(measurements, "measurements", MAX_ADDED_MEASUREMENTS, "measurements")
        if rt.scheduler.stops_early:
            raise PreconditionError(
                f"measurements: study {rt.id} stops trials early (scheduler {rt.scheduler.name}), so it decides on "
                "each measurement as it comes: report them with ReportMeasurement, not with the result")
        steps = [m.step for m in measurements]
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise SpecError(f"measurements of {t.where()}: steps must increase, got {steps[:10]}")
        curve, problem = rt.new_measurements(t, measurements)
        if problem:
            raise SpecError(problem)
        return curve

    # --- executors --------------------------------------------------------------

    async def register_executor(self, address: str, info: executor_pb2.ExecutorInfo) -> ExecutorHandle:
        check_executor_address(address)
        if address not in self.pool.handles:
            await self.store.commit([self.store.upsert(executors_table, {"address": address,
                                                                        "registered": time.time()})])
        return self.pool.add(address, info)

    # --- managed trials -----------------------------------------------------------

    def _start_runner(self, rt: StudyRuntime) -> None:
        rt.runner = asyncio.create_task(self._run_study(rt), name=f"study-{rt.id}")

    async def _run_study(self, rt: StudyRuntime) -> None:
        while rt.running:
            rt.wake.clear()
            if not self.store.writable:
                await asyncio.sleep(PAUSE_WHILE_STORE_DOWN_S)  # no change can be committed: nothing to try
                continue
            try:
                await self._fill(rt)
            except StoreUnavailable:
                pass  # the store logged it; the study is rebuilt from what was committed
            except Exception:
                log.exception("study %s: dispatch failed", rt.id)
            if not rt.running:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rt.wake.wait(), timeout=1.0)

    async def _fill(self, rt: StudyRuntime) -> None:
        async with rt.lock:
            await self._requeue_orphans(rt)
            while rt.running and await self._dispatch_batch(rt):
                pass
            await rt.check_end()

    async def _requeue_orphans(self, rt: StudyRuntime) -> None:
        """Trials the store has RUNNING that no stream of ours runs (after a restart or a rebuild) go back to the
        queue once. Their old runs, if still alive on an executor, stop by themselves (their stream is gone)
        and hold their place there until they do (see `_foreign_runs`)."""
        if not rt.orphan_reason:
            return
        for t in sorted(rt.trials.values(), key=lambda t: t.id):
            if t.state == RUNNING and (rt.id, t.id) not in self.runs:
                await rt.requeue(t, rt.orphan_reason)
        rt.orphan_reason = ""

    def _foreign_runs(self, handle: ExecutorHandle) -> int:
        """Runs an executor holds that are not ours but still take a place: another run of a trial that has not
        ended (one a previous controller started). A run of an ended trial is ending too and is not counted."""
        n = 0
        for r in handle.info.running if handle.info is not None else ():
            if (r.study_id, r.trial_id, r.attempt) in handle.ours:
                continue
            rt = self.studies.get(r.study_id)
            t = rt.trials.get(r.trial_id) if rt is not None else None
            n += t is not None and not t.finished
        return n

    async def _dispatch_batch(self, rt: StudyRuntime) -> bool:
        """Starts trials on every free slot (creating them as needed) with one commit; False when none started."""
        allowed = self.pool.free_slots(rt.spec.trainable)
        parallel = rt.spec.budget.max_parallel
        if parallel:
            allowed = min(allowed, parallel - rt.counts[study_pb2.TRIAL_RUNNING])
        if allowed <= 0 or rt.broken:
            return False  # broken: it is being read back from the store after a failed write
        slots = self.pool.places(rt.spec.trainable, allowed)
        ops: list[Op] = []
        evs: list[controller_pb2.StudyEvent] = []
        if len(rt.pending) < allowed:
            rt.settle(ops, evs, allowed - len(rt.pending))  # promoted trials first: they join the queue
        if len(rt.pending) < allowed and not rt.exhausted:
            n = int(min(allowed - len(rt.pending), rt.room()))
            if n > 0:
                await rt.new_trials(n, ops, evs)
        batch: list[tuple[TrialRecord, ExecutorHandle]] = []
        while rt.pending and len(batch) < allowed:
            t, handle = rt.trials[rt.pending[0]], slots[len(batch)]
            name = rt.checkpoint_name(t)
            # A promotion that must start over, or a population member's interval, needs a folder of its own
            # (the executor's default is one per trial).
            own = bool(self.artifact_dir) or name != f"trial-{t.id}" or bool(t.lineage) or rt.sampler.shares_checkpoints
            rt.start_ops(t, handle.address, self.folder(rt, name) if own else "", ops, evs)
            self.pool.reserve(handle, (rt.id, t.id, t.attempt))
            batch.append((t, handle))
        if not ops:
            return False
        # Each run waits for this commit before its assignment goes, not the dispatch: the next batch is
        # computed meanwhile and may share its transaction. Should it fail, so do the later ones (the study is
        # fenced) and the study is read back from the store.
        committed = rt.commit_soon(ops, evs)
        for t, handle in batch:
            self.runs[(rt.id, t.id)] = asyncio.create_task(self._run_trial(rt, t, handle, committed),
                                                           name=f"trial-{rt.id}-{t.id}")
            self.run_executor[(rt.id, t.id)] = handle.address
        if self.artifact_dir:
            spent = [self.folder(rt, name) for name in rt.spent_folders()]
            if spent:
                task = asyncio.create_task(asyncio.to_thread(remove_folders, spent), name=f"prune-{rt.id}")
                task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return bool(batch)

    def folder(self, rt: StudyRuntime, name: str) -> str:
        """A checkpoint folder of the study: under our artifact store, else relative to the executor's."""
        if self.artifact_dir:
            return os.path.join(self.artifact_dir, rt.id, name)
        return os.path.join(rt.id, name)

    def _assignment(self, rt: StudyRuntime, t: TrialRecord) -> executor_pb2.TrialAssignment:
        config = struct_pb2.Struct()
        config.update(rt.parsed.trainable_config)
        f = rt.parsed.fidelity
        return executor_pb2.TrialAssignment(
            study_id=rt.id, trial_id=t.id, trainable=rt.spec.trainable, params=params_to_proto(t.params),
            config=config, fidelity_name=f.name if f else "", budget=t.budget, max_budget=f.max if f else 0.0,
            deadline_s=rt.spec.trial_timeout_s, checkpoint_dir=t.checkpoint, attempt=t.attempt,
            accepts_measurement_batches=True,
            # Each trial its own seed, stable across attempts, derived from the study's.
            seed=(rt.seed * 1_000_003 + t.id) % (2**31 - 1),
            outer=bilevel.assignment_outer(rt, t),  # a bilevel trial (re)starts from the controller's values
            restore_from=self.restore_from(rt, t),
        )

    def restore_from(self, rt: StudyRuntime, t: TrialRecord) -> str:
        """The folder whose checkpoint the run starts from: a population member's donor or previous interval, or
        the trial the algorithm names (a one-shot evaluation's supernet)."""
        if t.lineage and t.lineage[-1]["source"]:
            return self.folder(rt, t.lineage[-1]["source"])
        source = rt.sampler.restores(t.params)
        return rt.trials[source].checkpoint if source in rt.trials else ""

    async def _run_trial(self, rt: StudyRuntime, t: TrialRecord, handle: ExecutorHandle,
                         committed: asyncio.Future[None]) -> None:
        call: Any = None
        finished = False
        attempt = t.attempt

        def current() -> bool:
            # After a requeue the trial may run again elsewhere: this stream then speaks for nothing.
            return t.state == RUNNING and t.attempt == attempt

        held = True

        def free_slot() -> None:
            # Once the run has ended (its result came, or its stream is over) the slot is free, before the trial
            # is queued again: no reader (a dispatch, a metrics scrape) sees the trial both queued and holding it.
            nonlocal held
            if held:
                held = False
                self.pool.release(handle, (rt.id, t.id, attempt))

        refused = False  # a stop the stream refused: the run had ended, its result unread
        try:
            await asyncio.shield(committed)  # its start is durable before the executor hears of it
            call = handle.open_run()
            await call.write(executor_pb2.ControllerMessage(assignment=self._assignment(rt, t)))
            stop_sent = False
            async for msg in call:
                if not current():
                    break
                kind = msg.WhichOneof("body")
                if kind in ("measurement", "measurements"):
                    reported = [msg.measurement] if kind == "measurement" else msg.measurements.measurements
                    ms, error = rt.new_measurements(t, reported)
                    if ms:
                        verdicts, committed = rt.record_measurements_soon(t, ms)
                        for m, verdict in zip(ms, verdicts, strict=True):
                            # A run that reached its rung's budget ends by itself (trainables train ctx.budget);
                            # a stop written as its stream closes would race the executor's result.
                            last = t.budget > 0 and m.step >= t.budget
                            if verdict.stop and not stop_sent and not verdict.rung and not last:
                                stop_sent = True
                                await committed  # a decision is sent only once it is durable
                                refused |= not await write_unless_ended(call, executor_pb2.ControllerMessage(
                                    answer=executor_pb2.MeasurementAnswer(
                                        step=m.step, decision=study_pb2.DECISION_STOP, reason=verdict.reason)))
                    if error:
                        await rt.finish_trial(t, error=error)
                        await call.write(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial(reason=error)))
                        finished = True
                        break
                elif kind == "started":
                    t.started = time.time()  # it may have waited in the executor's backlog since dispatch
                elif kind == "checkpoint":
                    rt.checkpoint_saved(t, msg.checkpoint.step)
                elif kind == "result":
                    # The executor's slot is free now. The next dispatch may be computed while this end is
                    # committed (it is already in memory: the coroutine below runs up to its commit first).
                    free_slot()
                    await self._finish_from_result(rt, t, msg.result)
                    finished = True
                    await call.done_writing()
                elif kind == "outer_gradient":
                    # The strategy steps, the step is committed, then the new values go back on the stream.
                    try:
                        applied = await bilevel.apply_gradient(rt, t, msg.outer_gradient)
                    except SpecError as e:
                        await rt.finish_trial(t, error=str(e))
                        await call.write(executor_pb2.ControllerMessage(stop=executor_pb2.StopTrial(reason=str(e))))
                        finished = True
                        break
                    if applied.reply:
                        await call.write(executor_pb2.ControllerMessage(outer=bilevel.values_proto(applied)))
                    if applied.stop_reason and not stop_sent:
                        stop_sent = True
                        refused |= not await write_unless_ended(call, executor_pb2.ControllerMessage(
                            stop=executor_pb2.StopTrial(reason=applied.stop_reason)))
            if not finished and current():
                free_slot()
                await self._lost(rt, t, handle, f"executor {handle.address} ended the trial's stream without a result")
        except asyncio.CancelledError:
            if call is not None:
                call.cancel()  # the study ended the trial, or its executor was lost: the executor stops it
            free_slot()
            if current():
                await rt.requeue(t, f"executor {handle.address} was lost")
        except grpc.aio.AioRpcError as e:
            free_slot()
            if current() and refused:
                # gRPC drops the stream when a write meets a run that has just ended, its result with it.
                # The executor is sound: the trial runs again and resumes from its last checkpoint.
                await rt.requeue(t, f"its stop crossed the end of the run on executor {handle.address}")
            elif current():
                why = f"executor {handle.address}: {e.code().name}: {e.details()}"
                if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED):
                    # Refused before it began: our view of its trainables or slots was stale. That is backpressure,
                    # not a loss: the attempt is given back, and that executor waits for a look that finds room.
                    self.pool.refused(handle)
                    await rt.requeue(t, why, began=False)
                    await self.pool._probe(handle)
                else:
                    await self._lost(rt, t, handle, why)
        except StoreUnavailable:
            if call is not None:
                call.cancel()  # the study is rebuilt from the store; the trial runs again from its checkpoint
        except Exception as e:
            log.exception("trial %s of study %s", t.id, rt.id)
            if current():
                await rt.finish_trial(t, error=f"controller error while running the trial: {e!r}")
        finally:
            free_slot()
            if self.runs.get((rt.id, t.id)) is asyncio.current_task():
                del self.runs[(rt.id, t.id)]
                del self.run_executor[(rt.id, t.id)]
            rt.wake.set()

    async def _finish_from_result(self, rt: StudyRuntime, t: TrialRecord, r: executor_pb2.TrialResult) -> None:
        if r.error:
            await rt.finish_trial(t, error=r.error)
            return
        final = None
        if r.HasField("final_measurement"):
            try:
                final = check_measurement(r.final_measurement, f"final measurement of {t.where()}", final=True)
            except SpecError as e:
                await rt.finish_trial(t, error=str(e))
                return
        await rt.finish_trial(t, final=final, stopped=r.stopped)

    async def _lost(self, rt: StudyRuntime, t: TrialRecord, handle: ExecutorHandle, why: str) -> None:
        self.pool.mark_lost(handle, why)
        lost = t.attempt - len(t.runs)  # attempts that began with a promotion (one per ended run) are no losses
        if lost >= MAX_ATTEMPTS:
            await rt.finish_trial(t, error=f"lost its executor {lost} times; last: {why}")
        else:
            await rt.requeue(t, why)
