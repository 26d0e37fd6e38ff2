"""A study's events for a watcher: the stored ones after a sequence number, then live ones until the study ends.

WatchStudy sends them one per message; WatchStudyBatches sends what is ready at once as one message, which
costs a busy study's watcher one write per batch instead of one per event (a gRPC write is the dearest part
of following a study).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from nestor.v1 import controller_pb2

from nestor_controller.errors import SpecError

#: Stored events read per page.
PAGE = 5000
#: How often a watcher looks whether its study ended or was rebuilt without the queue telling it.
POLL_S = 1.0
#: A batch's events, at most: each message stays far below gRPC's default 4 MiB limit.
BATCH_BYTES = 1 << 20

Event = controller_pb2.StudyEvent


async def event_batches(engine: Any, study_id: str, after_seq: int) -> AsyncIterator[list[Event]]:
    """The events after `after_seq`, in order, as lists of those that were ready together (each under
    BATCH_BYTES but for a single larger event); ends after the study's end, or when it is deleted."""
    if not study_id:
        raise SpecError("study_id: required")
    rt = engine.get(study_id)
    if after_seq < 0:
        raise SpecError(f"after_seq: must be >= 0, got {after_seq}")
    # Subscribe before reading the stored events so nothing falls between the two.
    queue = rt.subscribe()
    last = after_seq
    try:
        ended = False
        async for batch in _replay(engine, rt, last):
            yield batch
            last, ended = batch[-1].seq, _final(rt, batch[-1])
        while not ended:
            if not rt.running and last >= rt.last_seq:
                return  # it ended, and the caller has every event it had: nothing more will come
            try:
                ev = await asyncio.wait_for(queue.get(), POLL_S)
            except TimeoutError:
                current = engine.studies.get(rt.id)
                if current is None:
                    return  # deleted
                if current is rt and rt.running:
                    continue
                if current is not rt:
                    # Rebuilt from the store (after a failed write): follow the new one.
                    rt.unsubscribe(queue)
                    rt, queue = current, current.subscribe()
                # The store has every event the queue did not bring; an ended study will have no more.
                async for batch in _replay(engine, rt, last):
                    yield batch
                    last, ended = batch[-1].seq, _final(rt, batch[-1])
                ended = ended or not rt.running
                continue
            # What else is already queued goes with it; None (the study was deleted) comes last.
            ready = [ev]
            while ready[-1] is not None and not queue.empty():
                ready.append(queue.get_nowait())
            fresh: list[Event] = []
            for ev in ready:
                if ev is None or ev.seq <= last:
                    continue
                fresh.append(ev)
                last = ev.seq
                ended = ev.type == controller_pb2.STUDY_EVENT_STUDY_ENDED
                if ended:
                    break
            for batch in _split(fresh, [e.ByteSize() for e in fresh]):
                yield batch
            if ready[-1] is None:
                return  # the study was deleted
    finally:
        rt.unsubscribe(queue)


def _final(rt: Any, ev: Event) -> bool:
    """Whether nothing comes after this stored event: the study's end that no extension followed."""
    return ev.type == controller_pb2.STUDY_EVENT_STUDY_ENDED and ev.seq >= rt.last_seq


def _split(events: list[Event], sizes: list[int]) -> Iterator[list[Event]]:
    """Consecutive runs of the events, each under BATCH_BYTES (a larger event alone)."""
    batch: list[Event] = []
    size = 0
    for ev, n in zip(events, sizes, strict=True):
        if batch and size + n > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(ev)
        size += n
    if batch:
        yield batch


async def _replay(engine: Any, rt: Any, last: int) -> AsyncIterator[list[Event]]:
    """The stored events after `last`, as batches; the last batch ends with the final end if the store has it."""
    while True:
        page = await asyncio.to_thread(engine.store.events_after, rt.id, last, PAGE)
        events: list[Event] = []
        for payload in page:
            events.append(Event.FromString(payload))
            if _final(rt, events[-1]):
                break
        for batch in _split(events, [len(p) for p in page[:len(events)]]):
            yield batch
        if len(page) < PAGE or _final(rt, events[-1]):
            return
        last = events[-1].seq
