"""What the dashboard knows of each study it shows, kept current by the study's WatchStudy stream.

The first view of a study loads every trial with one ListTrialColumns call (a
fraction of a second at 100,000 trials) and starts a thread that follows WatchStudy from the first
event: it replays the past (which fills in each trial's events and decisions)
and then goes live. A replayed event is older than the snapshot, so it only
changes a row when it is at least as recent as the row; live events then
update rows and are pushed to every page open on the study.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import defaultdict
from typing import Any

from nestor.client import Client
from nestor.errors import NestorError
from nestor.records import seconds
from nestor.v1 import controller_pb2, study_pb2

from nestor_dashboard.rows import TrialTable, trial_row

log = logging.getLogger(__name__)

EVENT_NAMES: dict[int, str] = {v: k.removeprefix("STUDY_EVENT_").lower()
                               for k, v in controller_pb2.StudyEventType.items()}
#: Events worth listing on a trial's page (measurements are its curves instead).
TRIAL_LOG_EVENTS = {"trial_created", "trial_started", "trial_completed", "trial_stopped", "trial_failed",
                    "trial_requeued", "trial_decision", "trial_paused", "trial_promoted"}
#: Trial events after which the trial's row may have changed.
ROW_EVENTS = TRIAL_LOG_EVENTS | {"trial_measurement"}


#: The longest the replay waits for the first page to be drawn (it follows the study then).
SERVE_FIRST_S = 10.0


class StudyCache:
    """One study's record, trial table and per-trial events; thread-safe."""

    def __init__(self, client: Client, study_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.study = client.study(study_id)
        self.loop = loop
        self.lock = threading.Lock()
        self.info: study_pb2.Study = self.study.info()
        self.metrics = [o.metric for o in self.info.spec.objectives]
        self.table = TrialTable(self.study.trial_columns(self.metrics), self.metrics)
        self.events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.last_step: dict[int, int] = {}
        #: Bumped on every change: the study page's data are serialised once per version.
        self.version = 0
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.following = True
        #: Set once the page that asked first has drawn its first plot: the replay of past events waits for it,
        #: so that a big study's first render does not share the CPU with replaying every event it ever had.
        self.served = threading.Event()
        #: (version, serialised study data): pages opened on an unchanged study reuse it.
        self.data_json: tuple[int, bytes] | None = None
        #: ((version, objective), shares) of the last importance computed.
        self.importance: tuple[tuple[int, int], dict[str, float]] | None = None
        self._thread = threading.Thread(target=self._follow, name=f"watch-{study_id}", daemon=True)
        self._thread.start()

    # --- reading -----------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.table.rows()

    def page(self, **query: Any) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            return self.table.page(**query)

    def results(self, objective: int) -> list[tuple[dict[str, Any], float]]:
        with self.lock:
            return self.table.results(objective)

    def trial_events(self, trial_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events.get(trial_id, ()))

    def decisions(self) -> list[dict[str, Any]]:
        """Every scheduler decision (stopped, paused, promoted, ...) with its trial and step."""
        wanted = {"stopped", "paused", "promoted", "decision"}
        with self.lock:
            return [{**e, "trial": tid} for tid, evs in self.events.items() for e in evs if e["type"] in wanted]

    # --- following the study -------------------------------------------------------

    def _follow(self) -> None:
        self.served.wait(SERVE_FIRST_S)
        try:
            for event in self.study.watch(0):
                self._apply(event)
        except NestorError as e:
            log.warning("watching study %s stopped: %s", self.study.id, e)
        finally:
            self.following = False

    def _apply(self, event: controller_pb2.StudyEvent) -> None:
        kind = EVENT_NAMES.get(event.type, str(event.type))
        pushed: dict[str, Any] | None = None
        with self.lock:
            if kind == "trial_measurement":
                self.last_step[event.trial_id] = max(self.last_step.get(event.trial_id, 0),
                                                     event.measurement.step)
            if kind in TRIAL_LOG_EVENTS:
                self.events[event.trial_id].append({
                    "seq": event.seq, "type": kind.removeprefix("trial_"), "time": seconds(event.time),
                    "message": event.message,
                    # Managed trials' reports are no events: the budget granted is where a rung's decision falls.
                    "step": max(self.last_step.get(event.trial_id, 0), math.ceil(event.trial.budget))})
            if kind in ROW_EVENTS and event.HasField("trial"):
                row = trial_row(event.trial, self.metrics)
                if self.table.upsert(row):
                    self.version += 1
                    pushed = {"kind": "trial", "event": kind, "trial": row}
            if event.type == controller_pb2.STUDY_EVENT_STUDY_ENDED or event.HasField("counts"):
                self.info.counts.CopyFrom(event.counts)
                if event.type == controller_pb2.STUDY_EVENT_STUDY_ENDED:
                    self.info.state = event.study_state
                    self.version += 1
                    pushed = {"kind": "study", "state": study_pb2.StudyState.Name(event.study_state)}
        if pushed is not None:
            self.loop.call_soon_threadsafe(self._publish, pushed)

    def _publish(self, message: dict[str, Any]) -> None:
        for queue in list(self.subscribers):
            queue.put_nowait(message)


class Caches:
    """The studies seen so far, each loaded once."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._caches: dict[str, StudyCache] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def get(self, study_id: str) -> StudyCache:
        async with self._locks[study_id]:
            cache = self._caches.get(study_id)
            if cache is None or (not cache.following and cache.info.state == study_pb2.STUDY_RUNNING):
                loop = asyncio.get_running_loop()
                cache = await asyncio.to_thread(StudyCache, self.client, study_id, loop)
                self._caches[study_id] = cache
            return cache

    def forget(self, study_id: str) -> None:
        self._caches.pop(study_id, None)
