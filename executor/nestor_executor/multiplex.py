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
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import grpc
from nestor.coalesce import Coalescer
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


async def serve_runs(run_trial: RunHandler, context: grpc.aio.ServicerContext, method: str) -> None:
    """Serves one `RunTrials` stream until the controller half-closes it and its runs have ended."""
    replies: Coalescer[executor_pb2.RunReply] = Coalescer(context.write, executor_pb2.RunReplies,
                                                          "run-trials-replies")
    runs: dict[int, tuple[asyncio.Queue[Any], asyncio.Task[None]]] = {}  # the runs going: inbox, handler
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
            runs.pop(ctx.number, None)
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
                going = runs.get(item.run)
                if going is None:
                    if item.run <= newest or body != "message":
                        continue  # a run that has ended: a stop or cancellation that crossed its end
                    newest = item.run
                    ctx = RunContext(item.run, replies)
                    going = runs[item.run] = ctx.inbox, asyncio.create_task(run(ctx), name=f"run-{item.run}")
                inbox, task = going
                if body == "message":
                    inbox.put_nowait(item.message)
                elif body == "done_writing":
                    inbox.put_nowait(grpc.aio.EOF)
                else:
                    task.cancel()
        # The controller sends nothing more: the runs still going end first, then their last replies go.
        await asyncio.gather(*(task for _, task in runs.values()), return_exceptions=True)
        await replies.flush()
    finally:
        tasks = [task for _, task in runs.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        replies.close()
