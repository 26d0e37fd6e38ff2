"""The JSON the pages fetch: a study's plot data, a trial's detail, downloads, the studies list."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import orjson
from google.protobuf import json_format
from nestor import lineage as lineage_sdk
from nestor.importance import importance
from nestor.records import (
    iso,
    measurement_to_dict,
    objectives_of,
    one_shot_text,
    seconds,
    trial_to_dict,
    warm_start_text,
)
from nestor.spec import spec_to_dict
from nestor.study import STUDY_STATE_NAMES
from nestor.v1 import space_pb2, study_pb2
from nestor.values import from_value

from nestor_dashboard.cache import StudyCache
from nestor_dashboard.rows import Row, clean


def param_meta(p: space_pb2.Parameter) -> dict[str, Any]:
    kind = p.WhichOneof("domain") or ""
    meta: dict[str, Any] = {"name": p.name, "kind": kind, "log": False}
    if kind in ("double", "int"):
        meta["log"] = getattr(p, kind).scale == space_pb2.SCALE_LOG
    elif kind == "categorical":
        meta["choices"] = [from_value(c) for c in p.categorical.choices]
    return meta


def study_summary(s: study_pb2.Study) -> dict[str, Any]:
    c = s.counts
    done = c.completed + c.stopped + c.failed
    return {
        "id": s.id, "name": s.spec.name, "state": STUDY_STATE_NAMES.get(s.state, str(s.state)),
        "algorithm": s.spec.algorithm.name, "scheduler": s.spec.scheduler.name or "none",
        "done": done, "max_trials": s.spec.budget.max_trials, "running": c.running, "failed": c.failed,
        "labels": dict(s.spec.labels), "created": iso(s.create_time), "ended": iso(s.end_time),
        "reason": s.reason, "objectives": [{"metric": m, "goal": g} for m, g in objectives_of(s.spec)],
        "trainable": s.spec.trainable, "fidelity": s.spec.fidelity.name, "added": c.added, "queued": c.queued,
        "warm_start": warm_start_text(s.warm_start) if s.HasField("warm_start") else "",
        "one_shot": one_shot_text(s.one_shot) if s.HasField("one_shot") else "",
        "one_shot_pairs": [{"evaluate": p.evaluate_trial, "standalone": p.standalone_trial, "score": p.supernet_score,
                            "value": p.standalone_value, "rank": p.supernet_rank, "reason": p.reason}
                           for p in s.one_shot.pairs],
        "one_shot_tau": s.one_shot.kendall_tau if s.one_shot.HasField("kendall_tau") else None,
    }


def study_importance(cache: StudyCache, objective: int = 0) -> dict[str, float]:
    return importance(cache.results(objective), [p.name for p in cache.info.spec.space.parameters])


def study_data(cache: StudyCache, pareto_ids: list[int]) -> tuple[int, bytes]:
    """(the cache's version, the study page's data as JSON): serialised under the cache's lock, straight from
    its columns, so that a live update cannot tear them."""
    info = cache.info
    with cache.lock:
        return cache.version, orjson.dumps({
            "study": study_summary(info),
            "spec": spec_to_dict(info.spec),
            "params": [param_meta(p) for p in info.spec.space.parameters],
            "trials": cache.table.plot_columns(),
            "pareto": pareto_ids,
            "version": cache.version,
        })


def curves(trials: list[study_pb2.Trial], metric: str, cache: StudyCache) -> dict[str, Any]:
    """Every trial's intermediate values of ``metric`` as one line broken by nulls (one trace draws
    100,000 curves fast), and the scheduler's decisions placed on them."""
    xs: list[Any] = []
    ys: list[Any] = []
    points: dict[int, list[tuple[int, float]]] = {}
    for t in trials:
        for m in t.measurements:
            if metric in m.metrics:
                xs.append(m.step)
                ys.append(clean(m.metrics[metric]))
                points.setdefault(t.id, []).append((m.step, m.metrics[metric]))
        xs.append(None)
        ys.append(None)
    marks = []
    for d in cache.decisions():
        at = _at_step(points.get(d["trial"], []), d["step"])
        if at is not None:
            marks.append({"trial": d["trial"], "type": d["type"], "step": at[0], "message": d["message"],
                          "value": clean(at[1])})
    return {"metric": metric, "x": xs, "y": ys, "decisions": marks}


def _at_step(points: list[tuple[int, float]], step: int) -> tuple[int, float] | None:
    """The measurement a decision was taken on: the last one at or before ``step`` (the last of all
    when the step is not known)."""
    before = [p for p in points if p[0] <= step] if step else []
    return before[-1] if before else (points[-1] if points else None)


def trial_detail(t: study_pb2.Trial, spec: study_pb2.StudySpec, events: list[dict[str, Any]]) -> dict[str, Any]:
    d = trial_to_dict(t, spec)
    d["measurements"] = [measurement_to_dict(m) for m in t.measurements]
    d["events"] = events
    d["start_s"], d["end_s"] = seconds(t.start_time), seconds(t.end_time)
    d["checkpoint"] = t.checkpoint
    return d


def csv_text(rows: list[Row], names: list[str], metrics: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "state", *metrics, *(f"param_{n}" for n in names), "start", "end", "duration_s",
                     "executor", "attempt", "reason"])
    for r in rows:
        writer.writerow([r["id"], r["state"], *("" if v is None else v for v in r["values"]),
                         *("" if r["params"].get(n) is None else r["params"][n] for n in names),
                         r["start"] or "", r["end"] or "", "" if r["duration"] is None else r["duration"],
                         r["executor"], r["attempt"], r["reason"]])
    return out.getvalue()


def json_text(rows: list[Row], metrics: list[str]) -> str:
    return json.dumps([{"id": r["id"], "state": r["state"], "values": dict(zip(metrics, r["values"], strict=True)),
                        "params": r["params"], "start": r["start"], "end": r["end"], "duration_s": r["duration"],
                        "executor": r["executor"], "attempt": r["attempt"], "reason": r["reason"]} for r in rows])


def outer(states: list[Any]) -> list[dict[str, Any]]:
    """Bilevel studies: each trial's outer variables (flat tensors with their shape), what the strategy
    derives from them (the DARTS genotype and softmax weights, tuned hyperparameters) and their history."""
    def tensors(values: Any) -> dict[str, dict[str, list[Any]]]:
        return {name: {"shape": list(t.shape), "values": [clean(v) for v in t.values]} for name, t in values.items()}

    return [{"trial": st.trial_id, "strategy": st.strategy, "step": st.values.step,
             "values": tensors(st.values.values),
             "summary": json_format.MessageToDict(st.summary),
             "history": [{"step": h.step, "values": tensors(h.values), "metrics": dict(h.metrics)}
                         for h in st.history]} for st in states]


def lineage(trials: list[study_pb2.Trial], spec: study_pb2.StudySpec, metric: str, best: int | None) -> dict[str, Any]:
    """Population-based studies (pbt, pb2): each member's measured values of ``metric`` and its intervals
    (from ``step``, with ``params``, from the weights of ``donor`` or its own, the decision's ``reason``),
    and the schedule behind the best member (nestor.lineage.schedule: its donors' earlier intervals
    included). Empty ``members`` for a study whose trials have no lineage."""
    members = [t for t in trials if t.lineage]
    if not members:
        return {"members": [], "schedule": [], "best": None, "numeric": [], "metric": metric}
    out = []
    for t in members:
        points: dict[int, Any] = {}
        for m in t.measurements:
            if metric in m.metrics:
                points.setdefault(int(m.step), clean(m.metrics[metric]))  # a resumed run's repeat: the first stands
        out.append({"trial": t.id, "points": sorted(points.items()),
                    "intervals": [{"step": i.step, "params": _json_params(i.params), "donor": i.donor,
                                   "reason": i.reason} for i in lineage_sdk.intervals(t)]})
    by_id = {t.id: t for t in trials}
    steps: list[lineage_sdk.Interval] = []
    if best in by_id and by_id[best].lineage:
        try:
            steps = lineage_sdk.merged(lineage_sdk.schedule(by_id, best))
        except KeyError:  # a donor that is not (or no longer) a trial of the study
            steps = []
    mutable = spec.scheduler.settings.fields.get("mutable")
    names = {v.string_value for v in mutable.list_value.values} if mutable is not None else None
    numeric = [p.name for p in spec.space.parameters
               if p.WhichOneof("domain") in ("double", "int") and (names is None or p.name in names)]
    return {"members": out, "best": best if steps else None, "numeric": numeric, "metric": metric,
            "schedule": [{"step": i.step, "params": _json_params(i.params), "trial": i.trial, "donor": i.donor}
                         for i in steps]}


def _json_params(params: Any) -> dict[str, Any]:
    return {k: clean(v) for k, v in params.items()}
