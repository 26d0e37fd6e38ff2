"""The controller's side of `RunTrials`: every trial on one executor over one stream.

A run looks to the engine like a `RunTrial` call (`write`, `done_writing`, `cancel`, iterate for the
executor's messages, `AioRpcError` for how it ended), so a trial is run the same way over either. The
stream failing (the executor gone, a cut link) fails every run on it with the stream's error, as it
failed each of their calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from nestor.coalesce import Coalescer
from nestor.v1 import executor_pb2, executor_pb2_grpc

STATUS = {code.value[0]: code for code in grpc.StatusCode}


def run_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class MultiplexedRun:
    """One run of a `RunTrials` stream, used as a `RunTrial` call is."""

    def __init__(self, stream: RunStream, number: int) -> None:
        self._stream = stream
        self.number = number
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._ended = False

    async def write(self, message: executor_pb2.ControllerMessage) -> None:
        if self._ended:
            raise asyncio.InvalidStateError(f"run {self.number} has ended")
        await self._stream.send(executor_pb2.RunControl(run=self.number, message=message))

    async def done_writing(self) -> None:
        # Not waited for: the executor ends a run after its result whatever else we send.
        if not self._ended:
            self._stream.send_soon(executor_pb2.RunControl(run=self.number, done_writing=True))

    def cancel(self) -> None:
        if not self._ended:
            self._ended = True
            self._stream.forget(self)

    def __aiter__(self) -> MultiplexedRun:
        return self

    async def __anext__(self) -> executor_pb2.ExecutorMessage:
        if self._ended and self.inbox.empty():
            raise StopAsyncIteration
        item = await self.inbox.get()
        if isinstance(item, executor_pb2.ExecutorMessage):
            return item
        self._ended = True
        if isinstance(item, executor_pb2.RunEnd):
            code = STATUS.get(item.code, grpc.StatusCode.UNKNOWN)
            if code == grpc.StatusCode.OK:
                raise StopAsyncIteration
            raise run_error(code, item.details)
        raise item  # the stream's own error


class RunStream:
    """One executor's `RunTrials` call, opened at its first run and shared by all the runs after it."""

    def __init__(self, stub: executor_pb2_grpc.ExecutorStub, address: str) -> None:
        self._call = stub.RunTrials()
        self._runs: dict[int, MultiplexedRun] = {}
        self._numbered = 0
        self._controls: Coalescer[executor_pb2.RunControl] = Coalescer(self._call.write, executor_pb2.RunControls,
                                                                       f"run-trials-{address}")
        self._reader = asyncio.create_task(self._read(), name=f"run-trials-reader-{address}")
        #: Set once the stream has failed: new runs need a new stream.
        self.broken = False

    def open(self) -> MultiplexedRun:
        self._numbered += 1
        run = MultiplexedRun(self, self._numbered)
        self._runs[run.number] = run
        return run

    async def send(self, control: executor_pb2.RunControl) -> None:
        try:
            await self._controls.put(control)
        except grpc.aio.AioRpcError:
            raise
        except Exception as e:  # the call was over (InvalidStateError) or closed: to a run, the stream failed
            raise run_error(grpc.StatusCode.UNAVAILABLE, f"the executor's RunTrials stream failed: {e!r}") from e

    def send_soon(self, control: executor_pb2.RunControl) -> None:
        if not self.broken:
            self._controls.put(control)

    def forget(self, run: MultiplexedRun) -> None:
        """The engine cancelled `run`: the executor lets it go, and nothing more of it is read."""
        if self._runs.pop(run.number, None) is not None:
            self.send_soon(executor_pb2.RunControl(run=run.number, cancel=True))

    async def _read(self) -> None:
        error: BaseException
        try:
            while True:
                replies = await self._call.read()
                if replies is grpc.aio.EOF:
                    error = run_error(grpc.StatusCode.UNAVAILABLE, "the executor ended its RunTrials stream")
                    break
                for item in replies.items:
                    run = self._runs.get(item.run)
                    if run is None:
                        continue  # a run the engine cancelled
                    if item.WhichOneof("body") == "end":
                        del self._runs[item.run]
                        run.inbox.put_nowait(item.end)
                    else:
                        run.inbox.put_nowait(item.message)
        except grpc.aio.AioRpcError as e:
            error = e
        except Exception as e:  # a reply that does not decode: the executor is not one we can talk to
            error = run_error(grpc.StatusCode.UNAVAILABLE, f"the executor's RunTrials stream failed: {e!r}")
        except asyncio.CancelledError:
            error = run_error(grpc.StatusCode.CANCELLED, "the controller closed the executor's stream")
            raise
        finally:
            self.broken = True
            for run in self._runs.values():
                run.inbox.put_nowait(error)
            self._runs.clear()
            self._call.cancel()
            self._controls.close()

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
