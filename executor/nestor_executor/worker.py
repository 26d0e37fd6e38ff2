"""The worker process: one per slot, persistent across trials.

It imports torch and every registered trainable once, then runs the trials the
executor sends it, one at a time, on its main thread (trainables may rely on
signals or on being the main thread). A reader thread takes the executor's
control messages (stop, outer variables) so that they reach the running trial
while it trains.

Only JSON crosses the pipe. This module imports nothing heavy at the top: the
worker sets thread counts in its environment before numpy and torch load.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import json
import os
import queue
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from nestor.checkpoints import CheckpointDir, StaleAttempt
from nestor.serving import freeze_loaded_objects
from nestor.trainable import check_metrics

from nestor_executor import wire

ERROR_CAP = 4000


class RunState:
    """What the reader thread changes under a running trial; plain attributes are atomic under the GIL."""

    def __init__(self, run_id: int, outer: Mapping[str, Any]) -> None:
        self.id = run_id
        self.stop = False
        self.outer_step = int(outer.get("s", 0))
        self.outer: dict[str, Any] = {n: wire.tensor_from_json(t) for n, t in outer.get("values", {}).items()}
        # Wakes a trainable waiting for new outer variables (or for nothing more, once told to stop).
        self.changed = threading.Condition()
        # A run sent ahead waits in the queue; the executor may take it back until it starts (Channel.take).
        self.started = False
        self.dropped = False

    def update_outer(self, msg: Mapping[str, Any]) -> None:
        values = {**self.outer, **{n: wire.tensor_from_json(t) for n, t in msg["values"].items()}}
        with self.changed:
            # Swap the whole dict so a trainable iterating ctx.outer never sees it change under it.
            self.outer = values
            self.outer_step = int(msg.get("s", 0))
            self.changed.notify_all()

    def request_stop(self) -> None:
        with self.changed:
            self.stop = True
            self.changed.notify_all()

    def wait_outer(self, step: int, timeout: float | None) -> bool:
        with self.changed:
            self.changed.wait_for(lambda: self.outer_step >= step or self.stop, timeout)
            return self.outer_step >= step


class Channel:
    """The worker's end of the pipe; sends are locked because a trainable may report from its own threads.

    The executor may send the next run while one is running (it then starts without a round trip through
    the executor); until it starts, a "drop" takes it back: the worker answers "dropped" at once, or "start"
    if it started first.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.runs: queue.SimpleQueue[tuple[dict[str, Any], RunState]] = queue.SimpleQueue()
        self.states: dict[int, RunState] = {}  # runs received and not yet ended, by id
        self.starting = threading.Lock()  # a run starts or is dropped, never both; guards `states`

    def take(self) -> tuple[dict[str, Any], RunState]:
        """The next run to start; one dropped while it waited is answered "dropped" and skipped."""
        while True:
            msg, state = self.runs.get()
            with self.starting:
                state.started = not state.dropped
            if state.started:
                self.send({"t": "start", "id": state.id})
                return msg, state
            self.ended(state)  # dropped, and answered so, while it waited

    def ended(self, state: RunState) -> None:
        # A run taken back may be sent again under its id (to this worker too): only this state goes.
        with self.starting:
            if self.states.get(state.id) is state:
                del self.states[state.id]

    def send(self, msg: Mapping[str, Any]) -> None:
        data = wire.encode(msg)
        with self.lock:
            self.conn.send_bytes(data)

    def read_forever(self) -> None:
        while True:
            try:
                msg = wire.decode(self.conn.recv_bytes())
            except (EOFError, OSError):
                _exit(0)  # the executor is gone: nobody will read our results
            kind = msg.get("t")
            if kind == "run":
                # Created here, not on the main thread, so a stop sent right after the run cannot be missed.
                state = RunState(msg["id"], msg["a"].get("outer") or {})
                with self.starting:
                    self.states[state.id] = state
                self.runs.put((msg, state))
            elif kind in ("stop", "outer", "drop"):
                state = self.states.get(msg.get("id"))  # type: ignore[arg-type]
                if state is None:
                    continue
                if kind == "stop":
                    state.request_stop()
                elif kind == "outer":
                    state.update_outer(msg)
                else:
                    with self.starting:
                        state.dropped = not state.started
                    if state.dropped:
                        self.send({"t": "dropped", "id": state.id})  # now: the running trial may last
            elif kind == "exit":
                _exit(0)


def _exit(code: int) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class WorkerContext:
    """The `nestor.trainable.TrialContext` a trainable sees inside a worker."""

    def __init__(self, a: Mapping[str, Any], state: RunState, channel: Channel, device: str) -> None:
        self.study_id: str = a["study_id"]
        self.trial_id: int = int(a["trial_id"])
        self.budget: float = float(a["budget"])
        self.max_budget: float = float(a["max_budget"])
        self.fidelity: str = a["fidelity_name"]
        self.config: Mapping[str, Any] = a["config"]
        self.device = device
        self.seed: int = int(a["seed"])
        self.attempt: int = int(a["attempt"])
        # Resolved and confined to the artifact directory by the executor (nestor_executor.paths).
        self.checkpoint_dir: str = a["checkpoint_dir"]
        self.checkpoints = CheckpointDir(self.checkpoint_dir, self.attempt)
        self.last: tuple[int, dict[str, float]] | None = None
        self.t0 = time.monotonic()
        self._state = state
        self._send = channel.send

    def claim(self) -> None:
        """Holds the checkpoint folder for this attempt; StaleAttempt when a newer one holds it."""
        self.checkpoints.claim(give_up=lambda: self._state.stop)

    @property
    def stale(self) -> StaleAttempt | None:
        return self.checkpoints.stale

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        step = int(step)
        m = check_metrics(metrics, f"report at step {step}")
        if self.stale is not None:
            return True  # a newer attempt owns the trial: nothing of this run goes out
        self.last = (step, m)
        self._send({"t": "m", "s": step, "v": m, "e": time.monotonic() - self.t0})
        return self._state.stop

    @property
    def should_stop(self) -> bool:
        return self._state.stop

    @property
    def outer(self) -> Mapping[str, Any]:
        return self._state.outer

    @property
    def outer_step(self) -> int:
        return self._state.outer_step

    def wait_outer(self, step: int, timeout: float | None = None) -> bool:
        return self._state.wait_outer(step, timeout)

    def send_outer_grad(self, gradients: Mapping[str, Any],
                        metrics: Mapping[str, float] | None = None) -> None:
        grads = {str(name): wire.tensor_to_json(str(name), x) for name, x in gradients.items()}
        m = check_metrics(metrics or {}, "outer gradient")
        if self.stale is not None:
            return
        # The step of the outer variables the gradient was computed at, so the controller can spot stale ones.
        self._send({"t": "g", "s": self._state.outer_step, "g": grads, "v": m})

    def checkpoint_saved(self, step: int, path: str) -> None:
        if self.stale is None:
            self._send({"t": "c", "s": int(step), "p": os.fspath(path)})

    def save_checkpoint(self, state: Any, step: int) -> bool:
        path = self.checkpoints.save(state, step, give_up=lambda: self._state.stop)
        if path is None:
            self._state.request_stop()
            return False
        self.checkpoint_saved(step, path)
        return True

    def load_checkpoint(self) -> Any | None:
        found = self.checkpoints.load()
        if found is None:
            return None
        # The controller stores the step a folder holds only with the end of a run: a run resumed after the
        # controller restarted, its checkpoint saved by the run before, says again what the folder holds, or a
        # population member whose weights are there could no longer be a donor.
        self.checkpoint_saved(found.step, found.path)
        return found.state


def format_error(e: BaseException) -> str:
    """'Type: message' then the tail of the traceback (without this module's frame), capped."""
    head = f"{type(e).__name__}: {e}"[:1000]
    tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
    text = "".join(traceback.format_exception(type(e), e, tb)).rstrip()
    room = ERROR_CAP - len(head) - 1
    if len(text) > room:
        text = "..." + text[-(room - 3):]
    return f"{head}\n{text}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_available():
        torch.manual_seed(seed)  # every device's generator
    else:
        # torch.manual_seed would also queue a CUDA seeding, with a formatted stack, for a CUDA that never
        # starts: a millisecond and a list entry that is never freed, per trial.
        torch.random.default_generator.manual_seed(seed)


def resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj


class Worker:
    def __init__(self, conn: Connection, config: Mapping[str, Any]) -> None:
        self.channel = Channel(conn)
        self.device: str = config["device"]
        self.trainables: dict[str, Callable[..., Any]] = {}
        self.failed: dict[str, str] = {}
        for name, target in config["trainables"].items():
            try:
                self.trainables[name] = resolve(target)
            except Exception as e:
                # The executor checked the spec at start; record why it fails here and fail only its trials.
                self.failed[name] = (f"trainable {name!r} ({target}) cannot be loaded in the worker: "
                                     f"{format_error(e)}")

    def serve(self) -> None:
        threading.Thread(target=self.channel.read_forever, name="nestor-control", daemon=True).start()
        self.channel.send({"t": "ready", "pid": os.getpid(), "failed": self.failed})
        self.warm_up()
        freeze_loaded_objects()  # torch's and the trainables' modules: a training loop's collections skip them
        while True:
            msg, state = self.channel.take()
            result = self.run(msg["a"], state)
            self.channel.ended(state)
            self.channel.send(result)

    def warm_up(self) -> None:
        """Calls each trainable module's optional `warmup()` (e.g. loading its data) while no trial waits."""
        seen: set[str] = set()
        for fn in self.trainables.values():
            module = sys.modules.get(getattr(fn, "__module__", "") or "")
            warmup = getattr(module, "warmup", None)
            if module is None or module.__name__ in seen or not callable(warmup):
                continue
            seen.add(module.__name__)
            if not self.channel.runs.empty():
                return
            try:
                warmup(self.device)
            except Exception as e:
                print(f"nestor worker: warmup of {module.__name__} failed: {format_error(e)}",
                      file=sys.stderr)

    def run(self, a: Mapping[str, Any], state: RunState) -> dict[str, Any]:
        name = a["trainable"]
        ctx: WorkerContext | None = None
        final: dict[str, float] | None = None
        error = ""
        try:
            ctx = WorkerContext(a, state, self.channel, self.device)
            if name in self.failed:
                raise RuntimeError(self.failed[name])
            # Before the trainable runs: a stale run (its trial moved on while it was frozen) must not run.
            ctx.claim()
            if a.get("restore_from"):
                # A population member's next interval starts from the weights it continues (its donor's).
                ctx.checkpoints.seed_from(a["restore_from"], give_up=lambda: state.stop)
            seed_everything(ctx.seed)
            out = self.trainables[name](dict(a["params"]), ctx)
            if ctx.stale is not None:
                raise ctx.stale  # what it returns or reported last is not a result of the trial's
            if out is not None:
                if not isinstance(out, Mapping):
                    raise TypeError(f"trainable {name!r} returned a {type(out).__name__}; "
                                    "expected a dict of metrics or None")
                final = check_metrics(out, "trainable result")
            elif ctx.last is not None:
                final = ctx.last[1]
            else:
                error = f"trainable {name!r} returned no metrics and reported none"
        except StaleAttempt as e:
            error = str(e)  # no traceback: nothing went wrong in this run, it is just too late
        except BaseException as e:  # SystemExit too: sys.exit in a trainable fails its trial, not the worker
            # A trainable that tripped over its fenced checkpoint fails for the fencing's reason.
            error = str(ctx.stale) if ctx is not None and ctx.stale is not None else format_error(e)
        finally:
            self.after_trial()
        return {
            "t": "result", "final": final, "error": error, "stopped": state.stop,
            "s": ctx.last[0] if ctx is not None and ctx.last is not None else 0,
            "e": time.monotonic() - ctx.t0 if ctx is not None else 0.0,
        }

    def after_trial(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the executor dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _setup_process(config: Mapping[str, Any]) -> None:
    _die_with_parent()
    # The executor's stdout carries its one 'listening' line; trainables' prints go to its log.
    os.dup2(2, 1)
    faulthandler.enable()
    # Ctrl-C (and a SIGTERM sent to the process group) reach the workers too, but the executor decides how
    # its trials end: it stops them, then ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threads = int(config["torch_threads"])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    # Idle OpenMP threads that spin starve the other workers of a shared machine: a 40x slowdown measured
    # with two workers of two threads each on two cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)
    device: str = config["device"]
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))


def worker_main(conn: Connection, config_json: str) -> None:
    """Entry point of a spawned worker; the config is JSON so nothing but a string is pickled by spawn."""
    config = json.loads(config_json)
    _setup_process(config)
    Worker(conn, config).serve()
