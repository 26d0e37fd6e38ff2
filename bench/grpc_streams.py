"""What a gRPC stream costs next to a message: the floor under a managed trial's `RunTrial` stream.

A bare grpc-python aio server (uvloop, the executor's generated servicer with
an echo handler, nothing of Nestor's) and a client in the same process, one
round trip (a request and its answer) at a time on --concurrency tasks:

    per stream: each round trip opens a stream, as a managed trial does today;
    one stream: every round trip of a task on one stream that stays open.

It prints both, CPU time per round trip (client and server together) and the
ratio: what several trials per stream would save per trial, at most.

    .venv/bin/python bench/grpc_streams.py [--round-trips N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import grpc
import uvloop
from nestor.v1 import executor_pb2 as e
from nestor.v1 import executor_pb2_grpc as eg


class Echo(eg.ExecutorServicer):
    def __init__(self, per_stream: bool) -> None:
        self.per_stream = per_stream

    async def RunTrial(self, request_iterator: Any, context: Any) -> Any:
        async for _ in request_iterator:
            yield e.ExecutorMessage()
            if self.per_stream:
                return


async def measure(per_stream: bool, round_trips: int, concurrency: int) -> dict[str, float]:
    server = grpc.aio.server()
    eg.add_ExecutorServicer_to_server(Echo(per_stream), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = eg.ExecutorStub(channel)
    msg = e.ControllerMessage()

    async def each_on_its_stream(k: int) -> None:
        for _ in range(k):
            call = stub.RunTrial()
            await call.write(msg)
            await call.read()
            await call.done_writing()
            await call.read()  # the end of the stream

    async def all_on_one_stream(k: int) -> None:
        call = stub.RunTrial()
        for _ in range(k):
            await call.write(msg)
            await call.read()
        await call.done_writing()

    work = each_on_its_stream if per_stream else all_on_one_stream
    try:
        await asyncio.gather(*(work(50) for _ in range(concurrency)))  # warm: connections, first calls
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(work(round_trips // concurrency) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await channel.close()
        await server.stop(None)
    n = round_trips // concurrency * concurrency
    return {"round_trips_per_s": n / wall, "cpu_us_per_round_trip": cpu / n * 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--round-trips", type=int, default=4000)
    p.add_argument("--concurrency", type=int, default=4, help="tasks making round trips at once")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    a = p.parse_args()
    per = uvloop.run(measure(True, a.round_trips, a.concurrency))
    one = uvloop.run(measure(False, a.round_trips, a.concurrency))
    print(f"{a.round_trips} round trips on {a.concurrency} tasks, client and server in one process")
    print("run".ljust(28) + "round trips/s".ljust(16) + "CPU us per round trip")
    for label, r in (("a stream per round trip", per), ("one stream, kept open", one)):
        print(label.ljust(28) + f"{r['round_trips_per_s']:.0f}".ljust(16) + f"{r['cpu_us_per_round_trip']:.0f}")
    ratio = per["cpu_us_per_round_trip"] / one["cpu_us_per_round_trip"]
    print(f"ratio: a stream per round trip costs {ratio:.1f}x the CPU of a message on an open stream")
    if a.json:
        print(json.dumps({"per_stream": per, "one_stream": one, "cpu_ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
