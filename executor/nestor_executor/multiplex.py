"""`RunTrials`: many runs over one stream, each handled by `RunTrial`'s own code.

Each run gets a context of its own that looks to `RunTrial` like its stream's: `read` gives the run's
messages, `write` queues a reply on the shared stream, `abort` ends the run (not the stream) with its
status. The controller cancelling a run cancels its handler as gRPC cancels a `RunTrial` call, and the
stream ending (the controller gone, a cut link) cancels every run on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import grpc
from nestor.coalesce import Coalescer, envelopes
from nestor.serving import read_request
from nestor.v1 import executor_pb2

log = logging.getLogger(__name__)
#: Replies queued for the next message beyond which a run waits for its own to be written.
BEHIND = 256


class RunAborted(Exception):
    """A run's handler ended it with a status: the run's end, not the stream's."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class RunContext:
    """What `RunTrial` uses of a servicer context, for one run of a `RunTrials` stream."""

    def __init__(self, number: int, replies: Coalescer[executor_pb2.RunReply]) -> None:
        self.number = number
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._replies = replies

    async def read(self) -> Any:
        return await self.inbox.get()

    async def write(self, message: executor_pb2.ExecutorMessage) -> None:
        sent = self._replies.put(executor_pb2.RunReply(run=self.number, message=message))
        # Waiting for each message to go would cost every run a turn of the event loop per message; a run
        # waits (and its worker is paused behind it, as over RunTrial) only while the stream falls behind.
        if self._replies.queued >= BEHIND:
            await sent

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise RunAborted(code, details)


RunHandler = Callable[[Any, Any], Awaitable[None]]


def _replies(items: Sequence[executor_pb2.RunReply]) -> executor_pb2.RunReplies:
    return executor_pb2.RunReplies(items=items)


async def serve_runs(run_trial: RunHandler, context: grpc.aio.ServicerContext, method: str) -> None:
    """Serves one `RunTrials` stream until the controller half-closes it and its runs have ended."""

    async def write(items: list[executor_pb2.RunReply]) -> None:
        for message in envelopes(_replies, items):
            await context.write(message)

    replies: Coalescer[executor_pb2.RunReply] = Coalescer(write, "run-trials-replies")
    handlers: dict[int, asyncio.Task[None]] = {}
    inboxes: dict[int, asyncio.Queue[Any]] = {}
    newest = 0  # runs are numbered upwards: an item for an older number that is not running is for one that ended

    async def run(ctx: RunContext) -> None:
        code, details = grpc.StatusCode.OK, ""
        try:
            await run_trial(None, ctx)
        except RunAborted as e:
            code, details = e.code, e.details
        except asyncio.CancelledError:
            return  # the controller cancelled it (it expects no end), or the stream is going
        except Exception as e:
            log.exception("run %d of a RunTrials stream", ctx.number)
            code, details = grpc.StatusCode.UNKNOWN, f"{type(e).__name__}: {e}"
        finally:
            handlers.pop(ctx.number, None)
            inboxes.pop(ctx.number, None)
        replies.put(executor_pb2.RunReply(run=ctx.number, end=executor_pb2.RunEnd(code=code.value[0],
                                                                                 details=details)))

    try:
        while True:
            controls = await read_request(context, method)
            if controls is grpc.aio.EOF:
                break
            for item in controls.items:
                body = item.WhichOneof("body")
                if body is None:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                        f"{method}: the item for run {item.run} has no body")
                inbox = inboxes.get(item.run)
                if inbox is None:
                    if item.run <= newest or body != "message":
                        continue  # a run that has ended: a stop or cancellation that crossed its end
                    newest = item.run
                    ctx = RunContext(item.run, replies)
                    inbox = inboxes[item.run] = ctx.inbox
                    handlers[item.run] = asyncio.create_task(run(ctx), name=f"run-{item.run}")
                if body == "message":
                    inbox.put_nowait(item.message)
                elif body == "done_writing":
                    inbox.put_nowait(grpc.aio.EOF)
                else:
                    handlers[item.run].cancel()
        # The controller sends nothing more: the runs still going end first, then their last replies go.
        await asyncio.gather(*handlers.values(), return_exceptions=True)
        await replies.flush()
    finally:
        for task in handlers.values():
            task.cancel()
        for task in list(handlers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        replies.close()
