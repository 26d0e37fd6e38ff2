"""One stream's writes gathered into few messages: what is queued while a message is on its way goes in the next.

The controller and the executor carry many trials over one `RunTrials` stream. A message per trial message
would cost a gRPC write each; gathering them costs one write for all that is ready. Each item's future says
when the message holding it was written, so a writer that must respect the stream's flow control can wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
#: Items in one message at most, and bytes, below the channels' 64 MiB limit on a message.
MAX_ITEMS = 512
MAX_BYTES = 16 * 1024 * 1024


def envelopes(envelope: Callable[..., Any], items: Sequence[Any], limit: int = MAX_BYTES) -> list[Any]:
    """`envelope(items=items)` as few messages as keep each under `limit` bytes (a larger item goes alone)."""
    message = envelope(items=items)
    if len(items) == 1 or message.ByteSize() <= limit:
        return [message]
    half = len(items) // 2
    return envelopes(envelope, items[:half], limit) + envelopes(envelope, items[half:], limit)


def _seen(future: asyncio.Future[None]) -> None:
    # Nobody may wait for a cancellation's delivery; its failure is the stream's, reported to every reader.
    if not future.cancelled():
        future.exception()


class Coalescer(Generic[T]):
    """Writes queued items with `send(envelope(items=...))`, one message at a time, each with everything queued
    meanwhile (`MAX_ITEMS` and `MAX_BYTES` at most)."""

    def __init__(self, send: Callable[[Any], Awaitable[Any]], envelope: Callable[..., Any], name: str) -> None:
        self._send = send
        self._envelope = envelope
        self._items: list[T] = []
        self._sent: asyncio.Future[None] | None = None
        self._in_flight: asyncio.Future[None] | None = None
        self._ready = asyncio.Event()
        #: Why writing stopped (the stream failed); every later put fails with it.
        self.failed: BaseException | None = None
        self._task = asyncio.create_task(self._pump(), name=name)

    def put(self, item: T) -> asyncio.Future[None]:
        """Queues `item`; the future is done once the message that holds it is written, or failed with the stream."""
        future: asyncio.Future[None]
        if self.failed is not None:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(self.failed)
            future.add_done_callback(_seen)
            return future
        self._items.append(item)
        if self._sent is None:
            self._sent = asyncio.get_running_loop().create_future()
            self._sent.add_done_callback(_seen)
            self._ready.set()
        return self._sent

    @property
    def queued(self) -> int:
        """Items waiting for the next message (not those on their way now)."""
        return len(self._items)

    async def flush(self) -> None:
        """Returns once everything queued so far is written."""
        for future in (self._in_flight, self._sent):
            if future is not None:
                await asyncio.shield(future)

    def close(self) -> None:
        """Stops writing; what is queued is dropped (the stream is over)."""
        self._task.cancel()

    async def _pump(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._items:
                # Later puts wait for a message of their own: a writer never waits on items queued after it.
                items, sent = self._items, self._sent
                self._items, self._sent, self._in_flight = [], None, sent
                try:
                    for start in range(0, len(items), MAX_ITEMS):
                        for message in envelopes(self._envelope, items[start:start + MAX_ITEMS]):
                            await self._send(message)
                except BaseException as e:
                    self.failed = e if isinstance(e, Exception) else ConnectionError("the stream was closed")
                    for future in (sent, self._sent):
                        if future is not None and not future.done():
                            future.set_exception(self.failed)
                    self._items, self._sent, self._in_flight = [], None, None
                    if not isinstance(e, Exception):
                        raise
                    return
                self._in_flight = None
                if sent is not None and not sent.done():
                    sent.set_result(None)
