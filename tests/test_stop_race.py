"""A stop decided at a trial's last measurement can reach a stream the executor has already ended.

The refused write must not raise into the engine (which would fail the trial or declare its executor
lost). Real gRPC on localhost: a servicer that ends the run
(as an executor does once a trial's result is written) before the controller's stop goes out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from nestor.v1 import executor_pb2, executor_pb2_grpc, study_pb2
from nestor_controller.engine import write_unless_ended


class EndsAtOnce(executor_pb2_grpc.ExecutorServicer):
    def __init__(self) -> None:
        self.ended = asyncio.Event()

    async def RunTrial(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        await context.read()
        await context.write(executor_pb2.ExecutorMessage(
            result=executor_pb2.TrialResult(final_measurement=study_pb2.Measurement(step=3, metrics={"loss": 0.5}))))
        self.ended.set()


async def stop_after_the_run_ended() -> tuple[bool, list[str]]:
    server = grpc.aio.server()
    servicer = EndsAtOnce()
    executor_pb2_grpc.add_ExecutorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = executor_pb2_grpc.ExecutorStub(channel).RunTrial()
            await call.write(executor_pb2.ControllerMessage(assignment=executor_pb2.TrialAssignment(trial_id=1)))
            while not servicer.ended.is_set():  # the run has ended on the executor's side
                await asyncio.sleep(0.01)
            written = await write_unless_ended(call, executor_pb2.ControllerMessage(
                answer=executor_pb2.MeasurementAnswer(step=3, decision=study_pb2.DECISION_STOP, reason="median")))
            try:
                ended = [msg.WhichOneof("body") async for msg in call]
            except grpc.aio.AioRpcError as e:
                ended = [e.code().name]
            return written, ended
    finally:
        await server.stop(None)


def test_a_stop_written_after_the_run_ended_is_refused_without_raising() -> None:
    written, ended = asyncio.run(stop_after_the_run_ended())
    assert written is False
    # gRPC drops the stream, result included: the engine then requeues the trial (it resumes from its
    # checkpoint) instead of declaring the executor lost. Either way the stream has ended.
    assert ended in (["result"], ["INTERNAL"])
