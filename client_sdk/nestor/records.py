"""Studies, trials and executors as plain, JSON-ready dicts (``--json``), and small value formatters."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from nestor.spec import goal_name, spec_to_dict
from nestor.study import STUDY_STATE_NAMES
from nestor.trial import TRIAL_STATE_NAMES
from nestor.v1 import controller_pb2, study_pb2
from nestor.values import ParamValue, params_from_proto


def when(ts: timestamp_pb2.Timestamp) -> datetime | None:
    """A set Timestamp as an aware datetime; None when unset (proto3 cannot tell unset from the epoch)."""
    if not ts.seconds and not ts.nanos:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def iso(ts: timestamp_pb2.Timestamp) -> str | None:
    t = when(ts)
    return t.isoformat() if t else None


def seconds(ts: timestamp_pb2.Timestamp) -> float | None:
    t = when(ts)
    return t.timestamp() if t else None


def trial_duration(t: study_pb2.Trial, now: float | None = None) -> float | None:
    """Run time: start to end, or to ``now`` while running."""
    start, end = seconds(t.start_time), seconds(t.end_time)
    if start is None:
        return None
    if end is None:
        return None if now is None else max(0.0, now - start)
    return max(0.0, end - start)


def objective_value(t: study_pb2.Trial, metric: str) -> float | None:
    """The trial's result for ``metric``: the final measurement, else its latest one."""
    if metric in t.final_measurement.metrics:
        return t.final_measurement.metrics[metric]
    for m in reversed(t.measurements):
        if metric in m.metrics:
            return m.metrics[metric]
    return None


def counts_to_dict(c: study_pb2.TrialCounts) -> dict[str, int]:
    return {"pending": c.pending, "running": c.running, "completed": c.completed, "stopped": c.stopped,
            "failed": c.failed, "paused": c.paused, "added": c.added, "queued": c.queued}


def study_to_dict(s: study_pb2.Study) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.spec.name, "state": STUDY_STATE_NAMES.get(s.state, str(s.state)),
        "reason": s.reason, "seed": s.seed, "create_time": iso(s.create_time), "end_time": iso(s.end_time),
        "counts": counts_to_dict(s.counts), "spec": spec_to_dict(s.spec),
        **({"hypervolume": s.hypervolume, "reference_point": list(s.reference_point)}
           if s.HasField("hypervolume") else {}),
        **({"warm_start": warm_start_to_dict(s.warm_start)} if s.HasField("warm_start") else {}),
    }


def warm_start_to_dict(w: study_pb2.WarmStartSummary) -> dict[str, Any]:
    return {"mode": w.mode, "observations": w.observations, "weight": w.weight, "enqueued": w.enqueued,
            "priors": [{"study_id": p.study_id, "name": p.name, "observations": p.observations,
                        **({"distance": p.distance} if p.HasField("distance") else {})} for p in w.priors]}


def warm_start_text(w: study_pb2.WarmStartSummary) -> str:
    """Which priors a warm-started study chose and what of them it uses."""
    if not w.priors:
        return f"{w.mode}: no earlier study matched; it started cold"
    priors = ", ".join(f"{p.name or p.study_id} ({p.study_id}, {p.observations} results"
                       + (f", distance {p.distance:.3g}" if p.HasField("distance") else "") + ")" for p in w.priors)
    if w.mode == "top_k":
        use = f"their best {w.enqueued} configurations run first"
    elif w.mode == "observations":
        use = f"{w.observations} prior results in the model, each weighing {w.weight:.3g} of one of the study's own"
    else:
        use = f"{w.observations} prior results in a GP stack; the study's GP models what they do not explain"
    return f"{w.mode}: {use}; priors: {priors}"


def one_shot_text(o: study_pb2.OneShotSummary) -> str:
    """Where a one-shot study stands and how well its supernet ranked what was also trained alone."""
    parts = [f"phase {o.phase}"]
    if o.supernet_trial:
        parts.append(f"supernet of trial {o.supernet_trial}")
    parts.append(f"{o.evaluated}/{o.evaluations} architectures scored with it by {o.sampler} ({o.distinct} distinct)")
    parts.append(f"{o.standalone}/{o.standalone_planned} trained alone")
    if o.HasField("kendall_tau"):
        parts.append(f"Kendall tau {o.kendall_tau:.3f} between supernet score and trained alone, over "
                     f"{len(o.pairs)} architectures")
    return " · ".join(parts)


def measurement_to_dict(m: study_pb2.Measurement) -> dict[str, Any]:
    return {"step": m.step, "metrics": dict(m.metrics), "elapsed_s": m.elapsed_s}


def in_space_order(params: dict[str, ParamValue], spec: study_pb2.StudySpec | None) -> dict[str, ParamValue]:
    """Parameters in the order the space declares them (a proto map has no order)."""
    if spec is None:
        return dict(sorted(params.items()))
    order = {p.name: i for i, p in enumerate(spec.space.parameters)}
    return dict(sorted(params.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def trial_to_dict(t: study_pb2.Trial, spec: study_pb2.StudySpec | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "study_id": t.study_id, "id": t.id, "state": TRIAL_STATE_NAMES.get(t.state, str(t.state)),
        "params": in_space_order(params_from_proto(t.params), spec),
        "final_metrics": dict(t.final_measurement.metrics),
        "budget": t.budget, "executor": t.executor, "error": t.error, "stop_reason": t.stop_reason,
        "decision": t.decision, "infeasible": t.infeasible, "origin": t.origin,
        "user_attrs": json_format.MessageToDict(t.user_attrs),
        "attempt": t.attempt, "create_time": iso(t.create_time), "start_time": iso(t.start_time),
        "end_time": iso(t.end_time), "duration_s": trial_duration(t),
    }
    if t.lineage:
        d["lineage"] = [{"step": e.step, "params": in_space_order(params_from_proto(e.params), spec),
                         "donor": e.donor_trial_id, "reason": e.reason, "checkpoint": e.checkpoint}
                        for e in t.lineage]
    if t.measurements:
        d["measurements"] = [measurement_to_dict(m) for m in t.measurements]
    return d


def executor_to_dict(e: controller_pb2.ExecutorStatus) -> dict[str, Any]:
    return json_format.MessageToDict(e, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def objectives_of(spec: study_pb2.StudySpec) -> list[tuple[str, str]]:
    """(metric, goal name) of each objective."""
    return [(o.metric, goal_name(o.goal)) for o in spec.objectives]


# --- short text forms, for tables and log lines -----------------------------------


def fmt_value(x: ParamValue | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else str(x)
    return str(x)


#: A value longer than this is cut in one-line listings (a one-shot supernet's paths, a DARTS genotype).
LISTED_VALUE_CHARS = 80


def fmt_params(params: dict[str, ParamValue], names: list[str] | None = None) -> str:
    keys = names if names is not None else list(params)
    return " ".join(f"{k}={excerpt(fmt_value(params[k]), LISTED_VALUE_CHARS)}" for k in keys if k in params)


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def fmt_time(ts: timestamp_pb2.Timestamp) -> str:
    t = when(ts)
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def excerpt(text: str, width: int = 60) -> str:
    """The first line of ``text``, cut to ``width`` characters (errors can be whole tracebacks)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    # A traceback's last line says what happened; its first only that there is a traceback.
    line = lines[-1] if lines and lines[0].startswith("Traceback") else (lines[0] if lines else "")
    return line if len(line) <= width else line[: width - 1] + "…"
