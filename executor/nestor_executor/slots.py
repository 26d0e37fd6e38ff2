"""Slots: each owns one persistent worker process, watched from the executor's event loop.

Worker pipes and process sentinels are registered with the loop (`add_reader`),
so a report costs no thread hop on this side and a dead worker is noticed at
once. A slot is free again the moment its trial's result is known, before the
result is written to the controller: a controller that dispatches the next
trial as soon as it reads the result must find the slot free, even when the
worker is still being replaced (the trial then waits for the new worker).

A trial waiting in the backlog is sent ahead to a busy slot's worker, which
starts it the moment its current trial ends: the slot does not idle for a
round trip through this process between two trials. Until the worker starts
it, it is still waiting: a slot that frees with nothing else waiting takes it
back ("drop"), as do a cancel and a shutdown, and a worker that dies gives it
back to the backlog.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import json
import logging
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from nestor.v1 import executor_pb2, study_pb2

from nestor_executor import wire
from nestor_executor.devices import Device
from nestor_executor.worker import worker_main

log = logging.getLogger(__name__)

# Messages drained from one worker per loop callback, so a fast reporter cannot starve the other slots.
DRAIN_BATCH = 512
# Messages waiting for the controller's stream beyond which the worker's pipe is left unread (backpressure).
HIGH_WATER = 4096
LOW_WATER = 512
# How long, and how often, a worker whose pipe closed is polled until the system has reaped it.
REAP_WAIT_S = 5.0
REAP_POLL_S = 0.01


def describe_exit(code: int | None) -> str:
    if code is None:
        return "worker process ended with an unknown status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal"
        return f"worker process was killed by signal {name} ({-code})"
    return f"worker process exited with code {code}"


class WorkerProcess:
    """A spawned worker and the executor's end of its pipe."""

    def __init__(self, name: str, config_json: str) -> None:
        self.loop = asyncio.get_running_loop()
        # Set by the owner right after construction; the loop calls them only later.
        self.on_message: Callable[[dict[str, Any]], None] = lambda msg: None
        self.on_exit: Callable[[int | None], None] = lambda code: None
        # spawn, never fork: this process runs gRPC's threads.
        ctx = multiprocessing.get_context("spawn")
        self.conn: Connection
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child, config_json), name=name)
        self.process.start()
        child.close()  # or its EOF would never reach us
        self.fd = self.conn.fileno()
        self.alive = True
        self.reading = True
        self.loop.add_reader(self.fd, self._drain)
        self.loop.add_reader(self.process.sentinel, self._exited)

    def _drain(self) -> None:
        try:
            for _ in range(DRAIN_BATCH):
                if not self.reading or not self.conn.poll():
                    return
                self.on_message(wire.decode(self.conn.recv_bytes()))
        except (EOFError, OSError):
            self.loop.remove_reader(self.fd)  # the sentinel reports how it ended

    def pause(self) -> None:
        if self.reading and self.alive:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def resume(self) -> None:
        if not self.reading and self.alive:
            self.reading = True
            self.loop.add_reader(self.fd, self._drain)

    def _exited(self) -> None:
        self.loop.remove_reader(self.process.sentinel)
        self.loop.remove_reader(self.fd)
        # What it sent before it died still counts (its last reports, or its result just before exiting).
        self.reading = True
        try:
            while self.conn.poll():
                self.on_message(wire.decode(self.conn.recv_bytes()))
        except (EOFError, OSError):
            pass
        self.conn.close()
        self._reap(REAP_WAIT_S)

    def _reap(self, patience: float) -> None:
        # The sentinel closes a moment before the process can be reaped (longer for a big process killed
        # mid-import, on a loaded machine): poll for it rather than block every other trial's stream.
        self.process.join(timeout=0)
        if self.process.exitcode is None and patience > 0:
            self.loop.call_later(REAP_POLL_S, self._reap, patience - REAP_POLL_S)
            return
        self.alive = False
        self.on_exit(self.process.exitcode)

    def send(self, msg: dict[str, Any]) -> None:
        if not self.alive:
            return
        with contextlib.suppress(OSError):  # it is dying; the sentinel reports it
            self.conn.send_bytes(wire.encode(msg))

    def kill(self) -> None:
        if self.alive and self.process.exitcode is None:
            self.process.kill()

    def detach(self) -> None:
        """Forget it: its remaining messages and its exit no longer concern its slot."""
        self.on_message = lambda msg: None
        self.on_exit = lambda code: None


def merge_outer(assignment: dict[str, Any], outer: dict[str, Any]) -> None:
    """Outer variables that arrive before the trial starts: it starts with them."""
    current = assignment.setdefault("outer", {})
    current["values"] = {**current.get("values", {}), **outer["values"]}
    current["s"] = outer["s"]


class TrialRun:
    """One trial on one slot: what the RunTrial stream writes comes out of `out`, the result last.

    A run accepted while every slot is busy waits in the pool's backlog (`slot` is None) and starts
    the moment a slot frees; `placed` is set then, or when it ends without starting (its result waits in `out`).
    """

    def __init__(self, run_id: int, assignment: dict[str, Any], deadline_s: float) -> None:
        self.id = run_id
        self.slot: Slot | None = None
        self.placed = asyncio.Event()
        self.assignment = assignment
        self.deadline_s = deadline_s
        self.out: asyncio.Queue[executor_pb2.ExecutorMessage] = asyncio.Queue()
        self.launched = False
        self.finished = False
        self.stop_requested = False
        self.interrupted = False  # stopped because the executor is shutting down
        self.abandoned = False  # nobody reads `out` any more
        self.timer: asyncio.TimerHandle | None = None
        # Sent ahead to this slot's worker, not started yet.
        self.ahead_of: Slot | None = None
        # Being taken back from the worker it was sent ahead to: for this slot (it freed), or because it was
        # withdrawn (this error), with the grace its stop gets if it started meanwhile (None: its reader stays).
        self.move_to: Slot | None = None
        self.withdrawn = ""
        self.withdraw_grace: float | None = None


class Slot:
    def __init__(self, pool: SlotPool, index: int, device: Device, config_json: str) -> None:
        self.pool = pool
        self.index = index
        self.device = device
        self.config_json = config_json
        self.worker: WorkerProcess | None = None
        self.ready = False
        self.run: TrialRun | None = None
        self.ahead: TrialRun | None = None  # the worker starts it when `run` ends
        self.start_failures = 0
        self.respawn: asyncio.TimerHandle | None = None
        self.spawns = 0  # worker processes started; every one after the first replaced a dead one (metrics)

    @property
    def busy(self) -> bool:
        return self.run is not None

    def spawn(self) -> None:
        self.respawn = None
        self.ready = False
        self.spawns += 1
        w = WorkerProcess(f"nestor-worker-{self.index}", self.config_json)
        w.on_message = functools.partial(self._on_message, w)
        w.on_exit = functools.partial(self._on_exit, w)
        self.worker = w
        log.info("slot %d: worker process %d started on %s", self.index, w.process.pid, self.device.name)

    def replace_worker(self) -> None:
        old, self.worker, self.ready = self.worker, None, False
        if old is not None:
            old.detach()
            old.kill()
        if not self.pool.closing:
            self.spawn()

    # -- a trial's life ----------------------------------------------------------------------------------

    def begin(self, run: TrialRun) -> None:
        assert self.run is None, "slot is busy"
        self.run = run
        run.slot = self
        run.placed.set()
        if self.ready:
            self._launch(run)

    def _launch(self, run: TrialRun) -> None:
        assert self.worker is not None
        run.launched = True
        self.worker.send({"t": "run", "id": run.id, "a": run.assignment})
        if run.stop_requested:
            self.worker.send({"t": "stop", "id": run.id})
        if run.deadline_s > 0:
            run.timer = self.pool.loop.call_later(run.deadline_s, self._deadline, run)
        self.pool.send_ahead()

    # -- a trial sent ahead --------------------------------------------------------------------------------

    def take_ahead(self, run: TrialRun) -> None:
        assert self.worker is not None and self.ahead is None
        self.ahead, run.ahead_of = run, self
        self.worker.send({"t": "run", "id": run.id, "a": run.assignment})

    def drop_ahead(self) -> None:
        """Asks the worker for its trial sent ahead back; "dropped" or "start" answers."""
        if self.ahead is not None and self.worker is not None:
            self.worker.send({"t": "drop", "id": self.ahead.id})

    def _detach_ahead(self) -> TrialRun | None:
        run, self.ahead = self.ahead, None
        if run is not None:
            run.ahead_of = None
        return run

    def _start_ahead(self) -> None:
        run = self._detach_ahead()
        assert run is not None and self.worker is not None
        if self.run is not None:
            # The worker ends a run (its result first) before it starts the next: this cannot happen.
            log.error("slot %d: its worker started trial run %d while run %d was not over", self.index,
                      run.id, self.run.id)
        run.move_to = None
        self.run, run.slot = run, self
        run.launched = True
        run.placed.set()
        if run.deadline_s > 0:
            run.timer = self.pool.loop.call_later(run.deadline_s, self._deadline, run)
        if run.withdrawn:
            # Withdrawn as the worker started it: stopped now, like a trial cancelled while it ran.
            if run.withdraw_grace is None:
                self.request_stop(run)
            else:
                self.abandon(run, run.withdraw_grace)
        elif run.stop_requested:
            self.worker.send({"t": "stop", "id": run.id})
        self.pool.send_ahead()

    def _dropped_ahead(self) -> None:
        run = self._detach_ahead()
        assert run is not None
        self.pool.give_back(run)

    def recall_ahead(self) -> None:
        """Its worker is gone (or going) before starting the trial sent ahead: that trial waits again."""
        run = self._detach_ahead()
        if run is not None:
            self.pool.give_back(run)

    def request_stop(self, run: TrialRun) -> None:
        if run is not self.run or run.stop_requested:
            return
        run.stop_requested = True
        if run.launched and self.worker is not None:
            self.worker.send({"t": "stop", "id": run.id})

    def update_outer(self, run: TrialRun, outer: dict[str, Any]) -> None:
        if run is not self.run:
            return
        if run.launched and self.worker is not None:
            self.worker.send({"t": "outer", "id": run.id, **outer})
        else:
            merge_outer(run.assignment, outer)

    def consumed(self, run: TrialRun) -> None:
        w = self.worker
        if run is self.run and w is not None and not w.reading and run.out.qsize() < LOW_WATER:
            w.resume()

    def abandon(self, run: TrialRun, grace: float) -> None:
        """Nobody listens to the trial any more: stop it; replace its worker if it lasts past `grace`."""
        if run is not self.run:
            return
        run.abandoned = True
        if not run.launched:
            self._finish(run, error="the trial was cancelled before it started")
            return
        if self.worker is not None:
            self.worker.resume()  # what it still reports is dropped; it must not block on a full pipe
        self.request_stop(run)
        self.pool.loop.call_later(grace, self.kill_run, run, f"the trial did not stop within {grace:g} s")

    def kill_run(self, run: TrialRun, why: str) -> None:
        if run is self.run:
            log.warning("slot %d: %s; replacing its worker process", self.index, why)
            self.ready = False  # a waiting trial placed here now must wait for the new worker
            self.recall_ahead()
            self._finish(run, error=why)
            self.replace_worker()

    def _deadline(self, run: TrialRun) -> None:
        self.kill_run(run, f"trial exceeded its deadline of {run.deadline_s:g} s")

    def _finish(self, run: TrialRun, *, final: dict[str, float] | None = None, step: int = 0,
                elapsed: float = 0.0, error: str = "", stopped: bool = False) -> None:
        if run.timer is not None:
            run.timer.cancel()
        run.finished = True
        self.run = None
        result = executor_pb2.TrialResult(error=error, stopped=stopped)
        if final is not None and not error:
            result.final_measurement.CopyFrom(
                study_pb2.Measurement(step=step, metrics=final, elapsed_s=elapsed))
        run.out.put_nowait(executor_pb2.ExecutorMessage(result=result))
        if self.worker is not None:
            self.worker.resume()
        self.pool.place_waiting(self)

    # -- the worker's messages and exit -----------------------------------------------------------------

    def _on_message(self, worker: WorkerProcess, msg: dict[str, Any]) -> None:
        if worker is not self.worker:
            return
        kind = msg["t"]
        if kind in ("start", "dropped"):
            if self.ahead is not None and self.ahead.id == msg["id"]:
                self._start_ahead() if kind == "start" else self._dropped_ahead()
            return  # "start" of a run launched the usual way: nothing to do
        run = self.run
        if kind == "ready":
            self.ready = True
            self.start_failures = 0
            for name, error in msg.get("failed", {}).items():
                log.error("slot %d: %s", self.index, error.splitlines()[0] if error else name)
            if run is not None and not run.launched:
                self._launch(run)
            return
        if run is None or not run.launched:
            return
        if kind == "m":
            out = executor_pb2.ExecutorMessage(
                measurement=study_pb2.Measurement(step=msg["s"], metrics=msg["v"], elapsed_s=msg["e"]))
        elif kind == "c":
            out = executor_pb2.ExecutorMessage(
                checkpoint=executor_pb2.CheckpointSaved(step=msg["s"], path=msg["p"]))
        elif kind == "g":
            out = executor_pb2.ExecutorMessage(outer_gradient=executor_pb2.OuterGradient(
                step=msg["s"], metrics=msg["v"],
                gradients={n: wire.tensor_to_proto(t) for n, t in msg["g"].items()}))
        elif kind == "result":
            self._finish(run, final=msg["final"], step=msg["s"], elapsed=msg["e"], error=msg["error"],
                         stopped=msg["stopped"])
            return
        else:
            log.warning("slot %d: unknown message from worker: %r", self.index, kind)
            return
        if run.abandoned:
            return
        run.out.put_nowait(out)
        if run.out.qsize() >= HIGH_WATER:
            worker.pause()

    def _on_exit(self, worker: WorkerProcess, code: int | None) -> None:
        if worker is not self.worker:
            return
        was_ready = self.ready
        self.worker, self.ready = None, False
        self.recall_ahead()
        why = describe_exit(code)
        run = self.run
        if run is not None and (run.launched or not was_ready):
            self._finish(run, error=why if run.launched else f"its worker process failed to start: {why}")
        if self.pool.closing:
            return
        if was_ready:
            log.warning("slot %d: %s; starting a new one", self.index, why)
            self.spawn()
        else:
            # A worker that cannot even start would otherwise be respawned in a tight loop.
            self.start_failures += 1
            delay = min(30.0, 0.5 * 2 ** (self.start_failures - 1))
            log.error("slot %d: %s before it was ready; retrying in %.1f s", self.index, why, delay)
            self.respawn = self.pool.loop.call_later(delay, self.spawn)
        self.pool.place_waiting(self)  # a trial it was given back waits for the new worker here


class SlotPool:
    def __init__(self, devices: list[Device], worker_config: dict[str, Any], queue_capacity: int = 0) -> None:
        self.loop = asyncio.get_running_loop()
        self.closing = False
        self.queue_capacity = queue_capacity
        self.waiting: collections.deque[TrialRun] = collections.deque()
        self.ids = itertools.count(1)
        self.slots = [Slot(self, i, d, json.dumps({**worker_config, "device": d.name}))
                      for i, d in enumerate(devices)]

    def start(self) -> None:
        for s in self.slots:
            s.spawn()

    @property
    def busy(self) -> int:
        return sum(s.busy for s in self.slots)

    @property
    def queued(self) -> int:
        """Trials in the backlog: waiting here, or sent ahead to a busy slot's worker and not started."""
        return len(self.waiting) + sum(s.ahead is not None for s in self.slots)

    def runs(self) -> list[TrialRun]:
        """Every run held: in a slot, then sent ahead, then waiting."""
        return ([s.run for s in self.slots if s.run is not None] + [s.ahead for s in self.slots if s.ahead]
                + list(self.waiting))

    def acquire(self) -> Slot | None:
        """A free slot, one whose worker is ready first (another's may still be starting)."""
        # A slot whose worker is about to start its trial sent ahead is not free.
        free = [s for s in self.slots if not s.busy and s.ahead is None]
        return next((s for s in free if s.ready), free[0] if free else None)

    def submit(self, assignment: dict[str, Any], deadline_s: float) -> TrialRun | None:
        """Starts the trial on a free slot, or queues it while the backlog has room; None when full."""
        slot = self.acquire()
        if (slot is None or self.waiting) and self.queued >= self.queue_capacity:
            return None
        run = TrialRun(next(self.ids), assignment, deadline_s)
        if slot is not None and not self.waiting:
            slot.begin(run)
        else:
            self.waiting.append(run)
            self.send_ahead()
        return run

    def send_ahead(self) -> None:
        """Sends waiting trials, oldest first, to busy slots' workers that hold none ahead yet."""
        for s in self.slots:
            if not self.waiting or self.closing:
                return
            if s.ahead is None and s.run is not None and s.run.launched and s.ready and s.worker is not None:
                s.take_ahead(self.waiting.popleft())

    def place_waiting(self, slot: Slot) -> None:
        """A slot just freed: the oldest waiting trial takes it at once; with none waiting here, a trial sent
        ahead to another slot's worker (behind a run that may last) is taken back for it."""
        if slot.run is not None or slot.ahead is not None or self.closing:
            return  # busy, or its worker starts its trial sent ahead next
        if self.waiting:
            slot.begin(self.waiting.popleft())
            return
        if not slot.ready:
            return  # a worker still starting (or failing to) must not hold a trial another would run
        for other in self.slots:
            run = other.ahead
            if run is not None and run.move_to is None and not run.withdrawn:
                run.move_to = slot
                other.drop_ahead()
                return

    def update_outer(self, run: TrialRun, outer: dict[str, Any]) -> None:
        """Outer variables for a trial: to its worker if it runs or waits there, else kept for its start."""
        if run.slot is not None:
            run.slot.update_outer(run, outer)
            return
        merge_outer(run.assignment, outer)  # also what it starts with if it is taken back and sent again
        worker = run.ahead_of.worker if run.ahead_of is not None else None
        if worker is not None:
            worker.send({"t": "outer", "id": run.id, **outer})

    def give_back(self, run: TrialRun) -> None:
        """A trial sent ahead that did not start: it ends if it was withdrawn, else it takes the slot it was
        taken back for, or waits first in line (and is sent ahead to another busy slot's worker rather than
        wait for a dead worker's replacement)."""
        target, run.move_to = run.move_to, None
        if run.withdrawn:
            self._end_unstarted(run, run.withdrawn)
        elif target is not None and target.run is None and target.ahead is None and not self.closing:
            target.begin(run)
        else:
            self.waiting.appendleft(run)
            free = self.acquire()
            if free is not None:
                self.place_waiting(free)
        self.send_ahead()

    def withdraw(self, run: TrialRun, error: str, grace: float | None = None) -> None:
        """Ends a trial that never left the backlog. One sent ahead is taken back from its worker first; if
        the worker started it meanwhile it is stopped, as abandoned after `grace` (None: its reader stays)."""
        if run in self.waiting:
            self.waiting.remove(run)
            self._end_unstarted(run, error)
        elif run.ahead_of is not None and not run.withdrawn:
            run.withdrawn, run.withdraw_grace = error, grace
            run.ahead_of.drop_ahead()

    @staticmethod
    def _end_unstarted(run: TrialRun, error: str) -> None:
        run.finished = True
        run.out.put_nowait(executor_pb2.ExecutorMessage(result=executor_pb2.TrialResult(error=error)))
        run.placed.set()

    async def drain(self, grace: float) -> None:
        """Asks every running trial to stop and waits `grace` seconds for them to end; kills the rest."""
        self.closing = True  # a worker that dies now is not replaced
        unstarted = "the executor shut down before the trial started"
        while self.waiting:
            run = self.waiting[0]
            run.interrupted = True
            self.withdraw(run, unstarted)
        for s in self.slots:
            if s.ahead is not None:
                s.ahead.interrupted = True
                self.withdraw(s.ahead, unstarted)
            if s.run is not None:
                s.run.interrupted = True
                s.request_stop(s.run)
        deadline = self.loop.time() + grace
        while (self.busy or self.queued) and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for s in self.slots:
            s.recall_ahead()  # withdrawn: it ends
            if s.run is not None:
                s.kill_run(s.run, "the executor shut down before the trial ended")

    async def close(self, grace: float = 2.0) -> None:
        """Ends every worker process: asked first, killed after `grace`."""
        self.closing = True
        workers = []
        for s in self.slots:
            if s.respawn is not None:
                s.respawn.cancel()
            if s.worker is not None:
                workers.append(s.worker)
                s.worker.send({"t": "exit"})
        for attempt in range(2):
            deadline = self.loop.time() + grace
            while any(w.alive for w in workers) and self.loop.time() < deadline:
                await asyncio.sleep(0.02)
            if attempt == 0:
                for w in workers:
                    w.kill()
