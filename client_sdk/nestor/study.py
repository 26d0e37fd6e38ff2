"""`Study`: a handle on one study of the controller."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nestor import lineage
from nestor.connection import FIRST_BACKOFF_S, RETRY_WINDOW_S, new_request_id
from nestor.errors import DeadlineExceeded, LocalRefusal, NestorError, Unavailable, Unimplemented
from nestor.trial import Trial
from nestor.v1 import controller_pb2, study_pb2
from nestor.values import params_to_proto

if TYPE_CHECKING:
    from nestor.columns import Columns
    from nestor.connection import Connection

STUDY_STATE_NAMES: dict[int, str] = {v: k.removeprefix("STUDY_") for k, v in study_pb2.StudyState.items()}
#: Polling period of ``wait`` once the watch stream is unusable: short at first, then at most this.
MAX_POLL_S = 2.0

TrialStateLike = int | str


def trial_state(x: TrialStateLike) -> study_pb2.TrialState:
    """A TrialState from its number or name (``completed``, ``COMPLETED`` or ``TRIAL_COMPLETED``)."""
    if isinstance(x, int):
        return x  # type: ignore[return-value]
    name = x.strip().upper()
    try:
        return study_pb2.TrialState.Value(name if name.startswith("TRIAL_") else f"TRIAL_{name}")
    except ValueError:
        known = ", ".join(n.removeprefix("TRIAL_").lower() for n in study_pb2.TrialState.keys()[1:])
        raise LocalRefusal(f"unknown trial state {x!r} (expected one of: {known})") from None


def default_client_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Study:
    """One study; cheap to create (``Client.study(id)`` makes no call)."""

    def __init__(self, connection: Connection, study_id: str, proto: study_pb2.Study | None = None) -> None:
        self._conn = connection
        self.id = study_id
        self._proto = proto
        #: Set once a ``suggest`` call answered that no trial will ever be suggested again.
        self.exhausted = False

    def __repr__(self) -> str:
        return f"Study(id={self.id!r})"

    # --- the study record -----------------------------------------------------

    def info(self, *, timeout: float | None = None) -> study_pb2.Study:
        """The study as the controller has it now (GetStudy)."""
        request = controller_pb2.GetStudyRequest(study_id=self.id)
        self._proto = self._conn.call("GetStudy", request, timeout=timeout)
        return self._proto

    @property
    def proto(self) -> study_pb2.Study:
        """The last study record fetched (fetches one the first time)."""
        return self._proto if self._proto is not None else self.info()

    @property
    def state(self) -> study_pb2.StudyState:
        """The current state (a fresh GetStudy)."""
        return self.info().state

    @property
    def spec(self) -> study_pb2.StudySpec:
        return self.proto.spec

    @property
    def name(self) -> str:
        return self.proto.spec.name

    def _order(self) -> list[str]:
        """The space's parameter names in declared order (one GetStudy the first time)."""
        return [p.name for p in self.proto.spec.space.parameters]

    def _trial(self, proto: study_pb2.Trial) -> Trial:
        return Trial(self._conn, proto, self._order(), self.proto.spec.scheduler.name)

    # --- ask/tell --------------------------------------------------------------

    def suggest(self, count: int = 1, client_id: str | None = None) -> list[Trial]:
        """New trials to evaluate (client-driven studies); empty once the budget is spent."""
        request = controller_pb2.SuggestTrialsRequest(study_id=self.id, count=count,
                                                      client_id=client_id or default_client_id(),
                                                      request_id=new_request_id())
        answer = self._conn.call("SuggestTrials", request)
        self.exhausted = answer.study_done
        return [self._trial(t) for t in answer.trials]

    # --- the study's lifecycle -------------------------------------------------

    def enqueue(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                user_attrs: Mapping[str, Any] | None = None, skip_duplicates: bool = False) -> int:
        """Parameter sets (one dict, or a list of them) the study runs next, in order, before asking its
        sampler again; each is checked against the space. With ``skip_duplicates`` a set the study already
        tried, runs or holds is left out. Returns how many were enqueued."""
        sets = [params] if isinstance(params, Mapping) else list(params)
        request = controller_pb2.EnqueueTrialsRequest(study_id=self.id, skip_duplicates=skip_duplicates,
                                                      request_id=new_request_id())
        for p in sets:
            item = request.trials.add(params=params_to_proto(p))
            if user_attrs:
                item.user_attrs.update(dict(user_attrs))
        return int(self._conn.call("EnqueueTrials", request).enqueued)

    def add_trials(self, results: Iterable[Mapping[str, Any]]) -> list[Trial]:
        """Results obtained elsewhere become completed trials that the sampler learns from (failed ones with
        ``"error"``). Each: ``{"params": {...}, "values": {metric: value, ...}}``, optionally ``"steps"`` (a list
        of ``(step, {metric: value})`` intermediate results), ``"error"`` and ``"user_attrs"``. They count
        neither against ``max_trials`` nor ``max_failed``."""
        request = controller_pb2.AddTrialsRequest(study_id=self.id, request_id=new_request_id())
        for i, r in enumerate(results):
            unknown = sorted(set(r) - {"params", "values", "steps", "error", "user_attrs"})
            if unknown:
                raise LocalRefusal(f"add_trials: result {i} has an unknown key {unknown[0]!r} "
                                   "(known: params, values, steps, error, user_attrs)")
            item = request.trials.add(params=params_to_proto(r.get("params") or {}), error=r.get("error") or "")
            if r.get("values"):
                item.final_measurement.CopyFrom(study_pb2.Measurement(metrics=dict(r["values"])))
            for step, metrics in r.get("steps") or ():
                item.measurements.add(step=int(step), metrics=dict(metrics))
            if r.get("user_attrs"):
                item.user_attrs.update(dict(r["user_attrs"]))
        return [self._trial(t) for t in self._conn.call("AddTrials", request).trials]

    def extend(self, max_trials: int) -> study_pb2.Study:
        """Raises the study's budget to ``max_trials`` in all (the new total); a study that ended on its budget
        (or was stopped) runs again, as if the budget had been that large from the start."""
        request = controller_pb2.ExtendStudyRequest(study_id=self.id, max_trials=max_trials,
                                                    request_id=new_request_id())
        self._proto = self._conn.call("ExtendStudy", request)
        return self._proto

    # --- trials ------------------------------------------------------------------

    def trials(self, states: Iterable[TrialStateLike] | None = None,
               measurements: bool = False) -> list[Trial]:
        """Every trial (or those in ``states``), by id."""
        wanted = [trial_state(s) for s in states or ()]
        request = controller_pb2.ListTrialsRequest(study_id=self.id, states=wanted,
                                                   include_measurements=measurements)
        return [self._trial(t) for t in self._conn.call("ListTrials", request).trials]

    def trial_columns(self, metrics: Sequence[str] = ()) -> Columns:
        """Every trial column by column (``nestor.columns``): ids, states, the final value of each of
        ``metrics`` (default: the objectives), each parameter, times, executors, budgets, attempts, reasons.
        One packed message however many trials, so it is the way to read a big study."""
        from nestor import columns  # nestor.records, which it uses, imports this module

        request = controller_pb2.ListTrialColumnsRequest(study_id=self.id, metrics=list(metrics))
        try:
            return columns.from_proto(self._conn.call("ListTrialColumns", request))
        except Unimplemented:  # a controller older than this SDK
            spec = self.info().spec
            return columns.from_trials([t.proto for t in self.trials()],
                                       list(metrics) or [o.metric for o in spec.objectives],
                                       [p.name for p in spec.space.parameters])

    def trial(self, trial_id: int) -> Trial:
        request = controller_pb2.GetTrialRequest(study_id=self.id, trial_id=trial_id)
        return self._trial(self._conn.call("GetTrial", request))

    def best_trials(self, count: int = 1) -> list[Trial]:
        """The best ``count`` trials (single objective) or the Pareto front (several)."""
        request = controller_pb2.GetBestTrialsRequest(study_id=self.id, count=count)
        return [self._trial(t) for t in self._conn.call("GetBestTrials", request).trials]

    def best(self) -> Trial | None:
        """The best trial so far; None before any trial has a result."""
        best = self.best_trials(1)
        return best[0] if best else None

    def tuned(self, trial_id: int) -> dict[str, float]:
        """Hypergradient studies: the hyperparameters a trial's training ended with (its ``params`` are where
        they started); empty for other studies."""
        if self.spec.algorithm.name != "hypergrad":
            return {}
        states = self.outer_state(trial_id)
        found = states[0].summary.fields.get("hyperparameters") if states else None
        return {k: v.number_value for k, v in found.struct_value.fields.items()} if found is not None else {}

    def best_checkpoint(self) -> str | None:
        """Where the best trial's checkpoints are; None before any trial has a result or when it kept none."""
        best = self.best()
        return best.checkpoint or None if best is not None else None

    def schedule(self, trial_id: int | None = None) -> list[lineage.Interval]:
        """Population-based studies (pbt, pb2): the parameters in force over the whole training of a trial's
        weights (the best trial's by default), its donors' earlier intervals included; consecutive intervals
        with the same parameters merged. Empty for other studies."""
        trials = {t.id: t.proto for t in self.trials()}
        if trial_id is None:
            best = self.best()
            if best is None:
                return []
            trial_id = best.id
        if trial_id not in trials:
            raise KeyError(f"trial {trial_id} of study {self.id} not found")
        return lineage.merged(lineage.schedule(trials, trial_id))

    def replay_spec(self, trial_id: int | None = None, *, members: int = 1) -> study_pb2.StudySpec:
        """A study that trains `members` networks with `schedule(trial_id)` fixed (pbt's `schedule` setting):
        create it to check that a schedule, not a lucky copy, made the result."""
        return lineage.replay_spec(self.spec, self.schedule(trial_id), members=members)

    def trials_dataframe(self, states: Iterable[TrialStateLike] | None = None) -> Any:
        """Every trial (or those in ``states``) as a pandas DataFrame, a row per trial; columns in
        ``nestor.analysis``. Needs pandas (``pip install 'nestor[pandas]'``)."""
        from nestor.analysis import dataframe

        return dataframe([t.proto for t in self.trials(states)], self.info().spec)

    def outer_state(self, trial_id: int = 0, *, history: bool = False,
                    every: int = 1) -> list[controller_pb2.TrialOuterState]:
        """Bilevel strategies: each trial's outer variables (or trial ``trial_id``'s), what the strategy
        derives from them (the DARTS genotype, tuned hyperparameters) and, with ``history``, every step
        (one in ``every``)."""
        request = controller_pb2.GetOuterStateRequest(study_id=self.id, trial_id=trial_id, include_history=history,
                                                      history_every=every)
        return list(self._conn.call("GetOuterState", request).trials)

    # --- following the study -------------------------------------------------------

    def watch(self, after_seq: int = 0) -> Iterator[controller_pb2.StudyEvent]:
        """Every event after ``after_seq``, then live events until the study ends.

        A stream broken by an unreachable controller (a restart) resumes after the
        last event received, so no event is lost or repeated.
        """
        last = after_seq
        delay = FIRST_BACKOFF_S
        broken_since: float | None = None
        batched = True  # several events per message; a controller older than WatchStudyBatches sends one
        while True:
            request = controller_pb2.WatchStudyRequest(study_id=self.id, after_seq=last)
            stream = self._conn.stream("WatchStudyBatches" if batched else "WatchStudy", request)
            try:
                with contextlib.closing(stream):
                    for message in stream:
                        for event in message.events if batched else (message,):
                            last, broken_since, delay = event.seq, None, FIRST_BACKOFF_S
                            yield event
                return
            except Unimplemented:
                if not batched:
                    raise
                batched = False
            except Unavailable:
                now = time.monotonic()
                broken_since = broken_since if broken_since is not None else now
                if now - broken_since + delay > RETRY_WINDOW_S:
                    raise
                time.sleep(delay)
                delay *= 2

    def wait(self, timeout: float | None = None) -> study_pb2.Study:
        """Blocks until the study is no longer running; returns its final record.

        Follows the watch stream; if the stream cannot be used, polls GetStudy.
        Raises DeadlineExceeded (a TimeoutError) after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> float | None:
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(f"study {self.id} is still running after {timeout} s")
            return left

        info = self.info(timeout=remaining())
        if info.state != study_pb2.STUDY_RUNNING:
            return info
        try:
            stream = self._conn.stream("WatchStudy", controller_pb2.WatchStudyRequest(study_id=self.id),
                                       timeout=remaining())
            with contextlib.closing(stream):
                for event in stream:
                    if event.type == controller_pb2.STUDY_EVENT_STUDY_ENDED:
                        break
        except DeadlineExceeded:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded(f"study {self.id} is still running after {timeout} s") from None
        except NestorError:
            pass  # the stream is unusable (e.g. a proxy that cuts streams): poll instead
        # The record, not the stream, is the truth: confirm the end (or poll until it comes).
        poll = FIRST_BACKOFF_S
        while True:
            info = self.info(timeout=remaining())
            if info.state != study_pb2.STUDY_RUNNING:
                return info
            left = remaining()
            time.sleep(poll if left is None else min(poll, left))
            poll = min(poll * 2, MAX_POLL_S)

    # --- ending it -------------------------------------------------------------------

    def stop(self, reason: str = "") -> study_pb2.Study:
        """Stops the study: no new trials, running trials are told to stop."""
        request = controller_pb2.StopStudyRequest(study_id=self.id, reason=reason)
        self._proto = self._conn.call("StopStudy", request)
        return self._proto

    def delete(self, *, purge: bool = False) -> controller_pb2.DeleteStudyResponse:
        """Deletes the study and its trials from the controller; ``purge`` also removes its checkpoints
        from the controller's artifact dir (the answer lists what was removed, and what could not be)."""
        return self._conn.call("DeleteStudy", controller_pb2.DeleteStudyRequest(study_id=self.id,
                                                                                purge_artifacts=purge))
