"""Thousands of mutated and malformed requests over every RPC of both services: each gets a precise answer.

A real controller and a real executor take random bytes, valid messages with fields set to extreme values
(NaN, infinities, the ends of every integer type, megabyte strings, enum values outside the proto, random
nesting), truncated and bit-flipped encodings, and structures nested past protobuf's depth limit. None may
answer UNKNOWN or INTERNAL, none may go unanswered (10 s, far above a loaded machine's latency), the
controller's memory stays bounded, and a study made before the fuzzing is, byte for byte, what it was. The
generator is seeded: a failure names its seed and call, and reruns the same.
"""

from __future__ import annotations

import contextlib
import os
import random
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cluster import Server, controller_stub, start_controller, start_executor
from google.protobuf import descriptor, struct_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nestor.v1 import controller_pb2 as c
from nestor.v1 import executor_pb2 as e
from nestor.v1 import executor_pb2_grpc
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

pytestmark = pytest.mark.timeout(300)

SEED = int(os.environ.get("NESTOR_FUZZ_SEED", "20240514"))
CALLS_PER_RPC = int(os.environ.get("NESTOR_FUZZ_CALLS", "70"))
# A stalled handler never answers; this only has to outlast a loaded CI machine (4 test processes on 2 cores).
DEADLINE_S = 10.0
#: How much the controller's resident memory may grow over the whole run.
RSS_GROWTH_BYTES = 256 * 1024 * 1024
BAD_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
#: A trainable the executor serves that ends at once (it raises), so that a valid assignment is answered fast.
QUICK = "raises"

INT32 = (0, 1, -1, 2**31 - 1, -(2**31), 7, 1000)
INT64 = (*INT32, 2**63 - 1, -(2**63), 2**53 + 1, -(2**53) - 1, 10**12)
DOUBLES = (float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e308, -1e308, 5e-324, 1e-300, 1.0, -1.0, 0.5,
           2.0**53, 1e15)
ENUMS = (0, 1, 2, 3, 99, -1, 2**31 - 1)


def strings(rng: random.Random) -> str:
    return rng.choice([
        "", "x", "\x00", "a\x00b", "../../../etc", "/abs/path", "..", "é" * 300, "127.0.0.1:0", "host:99999",
        "http://x:1/", "[::1]:1", "y", "epoch", "grid", "gp", "tpe", "hyperband", "asha", "median", "random",
        "darts", "trial-1", "🙂" * 50, "k" * 5000, "z" * rng.choice((300, 70_000)),
        "m" * rng.choice((1_000_000, 2_500_000)) if rng.random() < 0.15 else "mid",
        "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(1, 40))),
    ])


def json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(DOUBLES)
    if kind == 1:
        return rng.choice((True, False, None))
    if kind == 2:
        return strings(rng)[:2000]
    if kind == 3:
        return rng.choice(INT64[:8])
    if kind in (4, 5):
        return {strings(rng)[:50]: json_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [json_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def scalar(field: descriptor.FieldDescriptor, rng: random.Random) -> Any:
    t = field.type
    if t in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
        return rng.choice(DOUBLES)
    if t in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_SFIXED32):
        return rng.choice(INT32)
    if t in (field.TYPE_INT64, field.TYPE_SINT64, field.TYPE_SFIXED64):
        return rng.choice(INT64)
    if t == field.TYPE_BOOL:
        return rng.random() < 0.5
    if t == field.TYPE_ENUM:
        return rng.choice(ENUMS)
    if t == field.TYPE_STRING:
        return strings(rng)
    if t == field.TYPE_BYTES:
        return rng.randbytes(rng.randrange(64))
    raise AssertionError(f"no values for {field.full_name}")


def mutate(msg: Message, rng: random.Random, depth: int = 0) -> None:
    """Sets one field, somewhere in `msg`, to an extreme or random value (several when lucky)."""
    if msg.DESCRIPTOR.full_name == "google.protobuf.Struct":
        msg.update({strings(rng)[:100]: json_value(rng) for _ in range(rng.randrange(1, 4))})  # type: ignore[attr-defined]
        return
    if msg.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        msg.seconds = rng.choice(INT64)  # type: ignore[attr-defined]
        return
    fields = msg.DESCRIPTOR.fields
    if not fields:
        return
    for _ in range(1 if rng.random() < 0.7 else rng.randrange(2, 5)):
        f = rng.choice(fields)
        # A value the Python API itself refuses (e.g. 1e308 in a float32) leaves nothing to send.
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            _mutate_field(msg, f, rng, depth)


def _mutate_field(msg: Message, f: descriptor.FieldDescriptor, rng: random.Random, depth: int) -> None:
    value = getattr(msg, f.name)
    if f.is_repeated:
        entry = f.message_type
        if entry is not None and entry.GetOptions().map_entry:
            key_f, value_f = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for _ in range(rng.choice((1, 2, 5, 1200))):
                key = scalar(key_f, rng)
                if isinstance(key, str):
                    key = key[:300] + str(rng.random())
                if value_f.message_type is not None:
                    if depth < 6:
                        mutate(value[key], rng, depth + 1)
                    else:
                        value[key].SetInParent()
                else:
                    value[key] = scalar(value_f, rng)
        elif entry is not None:
            for _ in range(rng.choice((1, 2, 3))):
                item = value.add()
                if depth < 6:
                    mutate(item, rng, depth + 1)
        else:
            value.extend(scalar(f, rng) for _ in range(rng.choice((1, 3, 2000))))
        return
    if f.message_type is not None:
        value.SetInParent()
        if depth < 6:
            mutate(value, rng, depth + 1)
        return
    setattr(msg, f.name, scalar(f, rng))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field, encoded by hand (protobuf's own API refuses to build what is too deep)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def nested_struct(levels: int) -> bytes:
    """A Struct {"k": [[[...]]]} with `levels` list levels (two message levels each)."""
    inner = struct_pb2.Value(string_value="x").SerializeToString()
    for _ in range(levels):
        inner = _field(6, _field(1, inner))  # Value.list_value, ListValue.values
    return _field(1, _field(1, b"k") + _field(2, inner))  # Struct.fields entry


def deep_request(method: str, rng: random.Random) -> bytes:
    """A request whose Struct nests past (or just under) protobuf's depth limit of 100."""
    settings = nested_struct(rng.choice((20, 45, 60, 200)))
    if method == "CreateStudy":
        return _field(1, _field(4, _field(1, b"grid") + _field(2, settings)))  # spec.algorithm.settings
    if method == "RunTrial":
        return _field(1, _field(3, QUICK.encode()) + _field(5, settings))  # assignment.trainable, .config
    if method == "ReportMeasurement":
        return _field(1, b"nope") + _field(3, _field(2, _field(1, b"y") + b"\x11" + struct.pack("<d", 1.0)))
    return settings  # an unknown field 1 of the wrong shape, or a nested one: either way decodable or refused


def corrupt(raw: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(5)
    if how == 0 or not raw:
        return rng.randbytes(rng.randrange(1, 300))
    if how == 1:
        return raw[:rng.randrange(len(raw))]
    if how == 2:
        b = bytearray(raw)
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if how == 3:
        return raw + rng.randbytes(rng.randrange(1, 50))
    return raw + _field(rng.randrange(100, 10_000), rng.randbytes(8))  # an unknown field: must be ignored


@dataclass
class Rpc:
    service: str
    name: str
    request: type[Message]
    kind: str  # unary, server_stream, bidi
    base: Callable[[random.Random], Message]

    @property
    def path(self) -> str:
        return f"/nestor.v1.{self.service}/{self.name}"


def json_struct(d: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(d)
    return out


def space() -> sp.SearchSpace:
    return sp.SearchSpace(parameters=[
        sp.Parameter(name="x", double=sp.DoubleDomain(min=-1, max=1)),
        sp.Parameter(name="n", int=sp.IntDomain(min=1, max=8)),
        sp.Parameter(name="opt", categorical=sp.CategoricalDomain(
            choices=[sp.Value(string_value="adam"), sp.Value(string_value="sgd")]))])


def study_spec(rng: random.Random) -> s.StudySpec:
    algorithm = rng.choice(("random", "grid", "tpe", "gp", "quasirandom", "ga", "cmaes"))
    out = s.StudySpec(name="fuzz", space=space(), objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)],
                      algorithm=s.AlgorithmSpec(name=algorithm), budget=s.Budget(max_trials=rng.choice((0, 3, 50))))
    if rng.random() < 0.3:
        out.fidelity.CopyFrom(s.Fidelity(name="epoch", min=1, max=27))
        out.scheduler.name = rng.choice(("asha", "hyperband", "median", "none"))
    return out


def rpcs(targets: list[str], victim: str) -> list[Rpc]:
    """Every RPC with a valid base request. Calls that change a study act on `targets` or unknown ids, never
    on `victim`; calls that only read may read it."""

    def target(rng: random.Random) -> str:
        return rng.choice((*targets, "nope", ""))

    def readable(rng: random.Random) -> str:
        return rng.choice((*targets, victim, "nope"))

    measurement = s.Measurement(step=1, metrics={"y": 0.5}, elapsed_s=1.0)
    return [
        Rpc("Controller", "CreateStudy", c.CreateStudyRequest, "unary",
            lambda r: c.CreateStudyRequest(spec=study_spec(r))),
        Rpc("Controller", "GetStudy", c.GetStudyRequest, "unary", lambda r: c.GetStudyRequest(study_id=readable(r))),
        Rpc("Controller", "ListStudies", c.ListStudiesRequest, "unary",
            lambda r: c.ListStudiesRequest(include_finished=r.random() < 0.5)),
        Rpc("Controller", "StopStudy", c.StopStudyRequest, "unary",
            lambda r: c.StopStudyRequest(study_id=target(r), reason="fuzz")),
        Rpc("Controller", "DeleteStudy", c.DeleteStudyRequest, "unary",
            lambda r: c.DeleteStudyRequest(study_id=target(r))),
        Rpc("Controller", "SuggestTrials", c.SuggestTrialsRequest, "unary",
            lambda r: c.SuggestTrialsRequest(study_id=target(r), count=r.choice((1, 2)), client_id="fuzz")),
        Rpc("Controller", "ReportMeasurement", c.ReportMeasurementRequest, "unary",
            lambda r: c.ReportMeasurementRequest(study_id=target(r), trial_id=r.randrange(1, 5),
                                                 measurement=measurement)),
        Rpc("Controller", "CompleteTrial", c.CompleteTrialRequest, "unary",
            lambda r: c.CompleteTrialRequest(study_id=target(r), trial_id=r.randrange(1, 5),
                                             final_measurement=measurement)),
        Rpc("Controller", "GetTrial", c.GetTrialRequest, "unary",
            lambda r: c.GetTrialRequest(study_id=readable(r), trial_id=r.randrange(0, 5))),
        Rpc("Controller", "ListTrials", c.ListTrialsRequest, "unary",
            lambda r: c.ListTrialsRequest(study_id=readable(r), include_measurements=True)),
        Rpc("Controller", "ListTrialColumns", c.ListTrialColumnsRequest, "unary",
            lambda r: c.ListTrialColumnsRequest(study_id=readable(r), metrics=r.choice(([], ["loss"], ["x" * 300])))),
        Rpc("Controller", "EnqueueTrials", c.EnqueueTrialsRequest, "unary",
            lambda r: c.EnqueueTrialsRequest(study_id=target(r), skip_duplicates=r.random() < 0.5, trials=[
                s.ParamSet(params={"x": sp.Value(double_value=0.5), "n": sp.Value(int_value=3),
                                   "opt": sp.Value(string_value="adam")})])),
        Rpc("Controller", "AddTrials", c.AddTrialsRequest, "unary",
            lambda r: c.AddTrialsRequest(study_id=target(r), trials=[s.AddedTrial(
                params={"x": sp.Value(double_value=0.1), "n": sp.Value(int_value=2),
                        "opt": sp.Value(string_value="sgd")},
                final_measurement=measurement, measurements=[measurement])])),
        Rpc("Controller", "ExtendStudy", c.ExtendStudyRequest, "unary",
            lambda r: c.ExtendStudyRequest(study_id=target(r), max_trials=r.choice((0, 4, 60, 2**31 - 1)))),
        Rpc("Controller", "SetTrialUserAttrs", c.SetTrialUserAttrsRequest, "unary",
            lambda r: c.SetTrialUserAttrsRequest(study_id=target(r), trial_id=r.randrange(0, 5),
                                                 user_attrs=json_struct({"note": "fuzz", "n": 3}))),
        Rpc("Controller", "GetBestTrials", c.GetBestTrialsRequest, "unary",
            lambda r: c.GetBestTrialsRequest(study_id=readable(r), count=r.choice((0, 1, 3)))),
        # Watched: the victim (ended: its stream closes) and unknown ids; a running study's stream is live.
        Rpc("Controller", "WatchStudy", c.WatchStudyRequest, "server_stream",
            lambda r: c.WatchStudyRequest(study_id=r.choice((victim, "nope")), after_seq=r.choice((0, 3, 10**9)))),
        Rpc("Controller", "WatchStudyBatches", c.WatchStudyRequest, "server_stream",
            lambda r: c.WatchStudyRequest(study_id=r.choice((victim, "nope")), after_seq=r.choice((0, 3, 10**9)))),
        Rpc("Controller", "ReportOuterGradient", c.ReportOuterGradientRequest, "unary",
            lambda r: c.ReportOuterGradientRequest(study_id=target(r), trial_id=1, gradient=e.OuterGradient(
                step=1, gradients={"alpha": e.Tensor(shape=[2], values=[0.1, 0.2])}))),
        Rpc("Controller", "GetOuterState", c.GetOuterStateRequest, "unary",
            lambda r: c.GetOuterStateRequest(study_id=readable(r), include_history=True)),
        Rpc("Controller", "RegisterExecutor", c.RegisterExecutorRequest, "unary",
            lambda r: c.RegisterExecutorRequest(address=f"127.0.0.1:{r.randrange(2, 9)}", info=e.ExecutorInfo(
                slots=1, trainables=["t"]))),
        Rpc("Controller", "ListExecutors", c.ListExecutorsRequest, "unary", lambda r: c.ListExecutorsRequest()),
        Rpc("Executor", "Describe", e.DescribeRequest, "unary", lambda r: e.DescribeRequest()),
        Rpc("Executor", "RunTrial", e.ControllerMessage, "bidi",
            lambda r: e.ControllerMessage(assignment=e.TrialAssignment(
                study_id=f"fuzz{r.randrange(10**6)}", trial_id=1, trainable=r.choice((QUICK, "nope")),
                attempt=1))),
    ]


def payloads(rpc: Rpc, rng: random.Random) -> bytes:
    """One request as bytes: a valid one mutated, a corrupt encoding, random bytes or deep nesting."""
    how = rng.random()
    base = rpc.base(rng)
    if how < 0.55:
        mutate(base, rng)
        if rpc.name == "RegisterExecutor" and rng.random() < 0.7:
            base.address = rng.choice(("127.0.0.1:0", ":99999", "http://x:1/", "a\x00b:1", "", "::1:5", "h:-5"))
        return base.SerializeToString()
    if how < 0.8:
        return corrupt(base.SerializeToString(), rng)
    if how < 0.9:
        return rng.randbytes(rng.randrange(0, 400))
    return deep_request(rpc.name, rng)


@dataclass
class Outcome:
    rpc: str
    index: int
    code: grpc.StatusCode
    details: str
    seconds: float
    size: int
    sent: str  # what the messages decode to, for the report of a failure


def call(channel: grpc.Channel, rpc: Rpc, messages: list[bytes]) -> tuple[grpc.StatusCode, str, bytes]:
    """Sends raw bytes (identity serializers); a stream is read until it ends. Returns a unary call's answer."""
    answer = b""
    try:
        if rpc.kind == "unary":
            answer = channel.unary_unary(rpc.path)(messages[0], timeout=DEADLINE_S)
        elif rpc.kind == "server_stream":
            stream = channel.unary_stream(rpc.path)(messages[0], timeout=DEADLINE_S)
            for _ in stream:
                pass
        else:
            stream = channel.stream_stream(rpc.path)(iter(messages), timeout=DEADLINE_S)
            for _ in stream:
                pass
    except grpc.RpcError as err:
        return err.code(), err.details() or "", answer
    return grpc.StatusCode.OK, "", answer


def describe(rpc: Rpc, messages: list[bytes]) -> str:
    out = []
    for raw in messages:
        try:
            msg = rpc.request.FromString(raw)
        except Exception:
            out.append("undecodable")
            continue
        oneof = msg.DESCRIPTOR.oneofs[0].name if msg.DESCRIPTOR.oneofs else None
        out.append(str(msg.WhichOneof(oneof)) if oneof else type(msg).__name__)
    return ", ".join(out)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def snapshot(stub: Any, study_id: str) -> list[bytes]:
    """Everything a client can read of a study, as deterministic bytes (protobuf maps have no fixed order)."""
    out = [stub.GetStudy(c.GetStudyRequest(study_id=study_id)).SerializeToString(deterministic=True)]
    out += [t.SerializeToString(deterministic=True) for t in stub.ListTrials(
        c.ListTrialsRequest(study_id=study_id, include_measurements=True)).trials]
    out += [t.SerializeToString(deterministic=True) for t in stub.GetBestTrials(
        c.GetBestTrialsRequest(study_id=study_id, count=10)).trials]
    out += [ev.SerializeToString(deterministic=True) for ev in stub.WatchStudy(
        c.WatchStudyRequest(study_id=study_id), timeout=30)]
    return out


def ask_tell(stub: Any, trials: int) -> str:
    spec = s.StudySpec(name="victim", space=space(), objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)],
                       budget=s.Budget(max_trials=trials), labels={"team": "fuzz"}, seed=7)
    return stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    controller = start_controller(tmp_path)
    # Not registered with the controller: the fuzzed studies must not send it work, nor its trials race the fuzz.
    executor = start_executor(tmp_path, None, trainables=[f"{QUICK}=trainables_for_tests:{QUICK}"])
    # The first trial waits for the worker process to import its libraries: not the fuzz's to time.
    warm = e.ControllerMessage(assignment=e.TrialAssignment(study_id="warm", trial_id=1, trainable=QUICK, attempt=1))
    with grpc.insecure_channel(executor.address) as ch:
        assert list(executor_pb2_grpc.ExecutorStub(ch).RunTrial(iter([warm]), timeout=120))
    yield controller, executor
    executor.stop()
    controller.stop()


def test_fuzzed_requests_get_precise_codes_fast_and_change_nothing_else(cluster: tuple[Server, Server]) -> None:
    controller, executor = cluster
    stub = controller_stub(controller.address)
    victim = ask_tell(stub, trials=3)
    for t in stub.SuggestTrials(c.SuggestTrialsRequest(study_id=victim, count=3)).trials:
        stub.ReportMeasurement(c.ReportMeasurementRequest(study_id=victim, trial_id=t.id, measurement=s.Measurement(
            step=1, metrics={"y": 1.0 + t.id, "aux": 2.0}, elapsed_s=0.5)))
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=victim, trial_id=t.id, final_measurement=s.Measurement(
            step=2, metrics={"y": float(t.id)})))
    assert stub.GetStudy(c.GetStudyRequest(study_id=victim)).state == s.STUDY_COMPLETED
    before = snapshot(stub, victim)
    targets = [ask_tell(stub, trials=50) for _ in range(3)]
    rss_before = rss_bytes(controller.proc.pid)

    channels = {"Controller": grpc.insecure_channel(controller.address, options=[
        ("grpc.max_send_message_length", 8 * 1024 * 1024), ("grpc.max_receive_message_length", 64 * 1024 * 1024)]),
        "Executor": grpc.insecure_channel(executor.address)}
    rng = random.Random(SEED)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    every = rpcs(targets, victim)
    for i in range(CALLS_PER_RPC * len(every)):
        rpc = every[i % len(every)]
        # A stream of the controller's messages: one, or a few (the first is what the executor checks most).
        messages = [payloads(rpc, rng) for _ in range(1 if rpc.kind != "bidi" else rng.choice((1, 1, 2, 3)))]
        t0 = time.monotonic()
        code, details, answer = call(channels[rpc.service], rpc, messages)
        if rpc.name == "CreateStudy" and code == grpc.StatusCode.OK:
            # A spec the controller accepted must work from then on: later calls ask it for trials.
            targets.append(s.Study.FromString(answer).id)
        outcomes.append(Outcome(rpc.name, i, code, details[:300], time.monotonic() - t0, sum(map(len, messages)),
                                describe(rpc, messages)))
    took = time.monotonic() - started
    for ch in channels.values():
        ch.close()

    bad = [o for o in outcomes if o.code in BAD_CODES or o.seconds > DEADLINE_S]
    assert not bad, f"seed {SEED}: {len(bad)} of {len(outcomes)} calls answered badly:\n" + "\n".join(
        f"  call {o.index} {o.rpc} ({o.size} bytes: {o.sent}): {o.code.name} after {o.seconds:.2f} s: {o.details}"
        for o in bad[:30])
    assert len(outcomes) >= 1000
    codes = {o.code for o in outcomes}
    # The mix reached past decoding: refusals of every kind, and calls that did their work.
    assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND} <= codes, codes

    assert controller.alive() and executor.alive()
    for address in (controller.address, executor.address):
        with grpc.insecure_channel(address) as ch:
            health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    growth = rss_bytes(controller.proc.pid) - rss_before
    assert growth < RSS_GROWTH_BYTES, f"the controller grew by {growth / 2**20:.0f} MiB over {len(outcomes)} calls"
    assert snapshot(stub, victim) == before
    print(f"{len(outcomes)} fuzzed calls in {took:.1f} s; codes: "
          f"{sorted((code.name, sum(o.code == code for o in outcomes)) for code in codes)}")
