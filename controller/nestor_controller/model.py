"""In-memory records of trials and their conversions to protos and store rows."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import timestamp_pb2
from nestor.v1 import study_pb2
from nestor.values import ParamValue, params_to_proto

FINISHED_TRIAL_STATES = frozenset({study_pb2.TRIAL_COMPLETED, study_pb2.TRIAL_STOPPED, study_pb2.TRIAL_FAILED})

#: One ended run of a trial (a trial promoted by a multi-fidelity scheduler runs several times):
#: {"budget": the budget it ran to, "values": objective values or None when it failed, "seq": its event's seq}.
RunEnd = dict[str, Any]
#: One interval of a population member: {"step": where it starts, "params": its parameters, "donor": the trial
#: whose weights it starts from (0: its own), "reason": the decision, "folder": its checkpoint folder name,
#: "source": the folder its checkpoint is seeded from ("" for none), "saved": the last step checkpointed in it}.
LineageEntry = dict[str, Any]
#: Where a trial's parameters came from, besides its sampler ("").
ENQUEUED, WARM_START, ADDED = "enqueued", "warm_start", "added"
TRIAL_STATE_NAMES = {v: k.removeprefix("TRIAL_") for k, v in study_pb2.TrialState.items()}


def interval_ending_at(lineage: Sequence[Mapping[str, Any]], step: float) -> Any:
    """The interval of a population member's lineage that ends at `step` (the last one that starts before it),
    or None when there is none."""
    return next((e for e in reversed(lineage) if e["step"] < step), None)


def loads(text: str | bytes) -> Any:
    """JSON from the store, read at restart a million times: orjson, several times faster than json (and it
    shares the strings of repeated keys); json for the NaN and Infinity that json.dumps may have written."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def timestamp(t: float | None) -> timestamp_pb2.Timestamp | None:
    if t is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


@dataclass(slots=True)
class MeasurementRecord:
    step: int
    metrics: dict[str, float]
    elapsed: float

    def to_proto(self) -> study_pb2.Measurement:
        return study_pb2.Measurement(step=self.step, metrics=self.metrics, elapsed_s=self.elapsed)

    def to_json(self) -> str:
        return json.dumps({"step": self.step, "metrics": self.metrics, "elapsed_s": self.elapsed})

    @classmethod
    def from_json(cls, text: str) -> MeasurementRecord:
        d = loads(text)
        return cls(int(d["step"]), {k: float(v) for k, v in d["metrics"].items()}, float(d["elapsed_s"]))

    @classmethod
    def from_proto(cls, m: study_pb2.Measurement) -> MeasurementRecord:
        return cls(int(m.step), dict(m.metrics), float(m.elapsed_s))


@dataclass(frozen=True)
class QueuedSet:
    """Parameters a study runs before asking its sampler again (EnqueueTrials, a warm start's top_k)."""

    position: int
    params: dict[str, ParamValue]
    origin: str
    user_attrs: dict[str, Any]

    def to_row(self, study_id: str) -> dict[str, Any]:
        return {"study_id": study_id, "position": self.position, "params": json.dumps(self.params),
                "origin": self.origin, "user_attrs": json.dumps(self.user_attrs)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueuedSet:
        return cls(int(row["position"]), json.loads(row["params"]), row["origin"] or "",
                   json.loads(row["user_attrs"] or "{}"))


@dataclass
class TrialRecord:
    study_id: str
    id: int
    params: dict[str, ParamValue]
    state: int = study_pb2.TRIAL_PENDING
    measurements: list[MeasurementRecord] = field(default_factory=list)
    final: MeasurementRecord | None = None
    executor: str = ""
    error: str = ""
    stop_reason: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    budget: float = 0.0
    attempt: int = 0
    checkpoint: str = ""
    #: The scheduler's latest decision about the trial, with its reason.
    decision: str = ""
    #: Its ended runs in order; what the sampler observed of it and when (restored in that order).
    runs: list[RunEnd] = field(default_factory=list)
    #: Its final measurement breaks a constraint of the study; derived from it, so not stored.
    infeasible: bool = False
    #: Where its parameters came from: "" the sampler, "enqueued", "warm_start" or "added".
    origin: str = ""
    #: JSON-like attributes its users set.
    user_attrs: dict[str, Any] = field(default_factory=dict)
    #: A population member's intervals in order (pbt, pb2), each a LineageEntry; empty for other trials.
    lineage: list[LineageEntry] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_TRIAL_STATES

    def params_at(self, budget: float) -> dict[str, ParamValue]:
        """The parameters its run to `budget` trained with (a population member's change between intervals)."""
        entry = interval_ending_at(self.lineage, budget)
        return self.params if entry is None else entry["params"]

    @property
    def state_name(self) -> str:
        return TRIAL_STATE_NAMES.get(self.state, str(self.state))

    def where(self) -> str:
        return f"trial {self.id} of study {self.study_id}"

    def to_proto(self, *, measurements: bool = True) -> study_pb2.Trial:
        t = study_pb2.Trial(
            study_id=self.study_id, id=self.id, params=params_to_proto(self.params), state=self.state,  # type: ignore[arg-type]
            executor=self.executor, error=self.error, stop_reason=self.stop_reason,
            create_time=timestamp(self.created), start_time=timestamp(self.started),
            end_time=timestamp(self.ended), budget=self.budget, attempt=self.attempt, decision=self.decision,
            infeasible=self.infeasible, checkpoint=self.checkpoint, origin=self.origin,
        )
        if self.user_attrs:
            t.user_attrs.update(self.user_attrs)
        for e in self.lineage:
            t.lineage.add(step=e["step"], params=params_to_proto(e["params"]), donor_trial_id=e["donor"],
                          reason=e["reason"], checkpoint=e["folder"])
        if measurements:
            t.measurements.extend(m.to_proto() for m in self.measurements)
        if self.final is not None:
            t.final_measurement.CopyFrom(self.final.to_proto())
        return t

    def to_row(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id, "id": self.id, "params": json.dumps(self.params), "state": self.state,
            "executor": self.executor, "error": self.error, "stop_reason": self.stop_reason,
            "created": self.created, "started": self.started, "ended": self.ended,
            "final": self.final.to_json() if self.final else None, "budget": self.budget,
            "attempt": self.attempt, "checkpoint": self.checkpoint, "decision": self.decision,
            "runs": json.dumps(self.runs), "origin": self.origin, "user_attrs": json.dumps(self.user_attrs),
            "lineage": json.dumps(self.lineage),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrialRecord:
        return cls(
            study_id=row["study_id"], id=int(row["id"]), params=loads(row["params"]), state=int(row["state"]),
            executor=row["executor"] or "", error=row["error"] or "", stop_reason=row["stop_reason"] or "",
            created=row["created"], started=row["started"], ended=row["ended"],
            final=MeasurementRecord.from_json(row["final"]) if row["final"] else None,
            budget=float(row["budget"] or 0.0), attempt=int(row["attempt"] or 0), checkpoint=row["checkpoint"] or "",
            decision=row.get("decision") or "", runs=loads(row.get("runs") or "[]"),
            origin=row.get("origin") or "", user_attrs=loads(row.get("user_attrs") or "{}"),
            lineage=loads(row.get("lineage") or "[]"),
        )
