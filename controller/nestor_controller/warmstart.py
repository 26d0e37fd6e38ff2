"""Warm starts: which earlier studies a new study learns from, and what it takes from them.

Chosen once, at CreateStudy, and persisted with the study (the priors' projected
observations themselves, not references), so a restarted controller continues
exactly and a prior deleted later changes nothing. The pure parts are here: the
nearest studies by task meta-features (min-max scaled, L1, as auto-sklearn
does) and the priors' best configurations for `top_k`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nestor.v1 import study_pb2
from nestor.values import ParamValue

from nestor_controller.constraints import ConstraintDef, missing_metric, violations
from nestor_controller.errors import NotFoundError, SpecError
from nestor_controller.limits import (
    MAX_DECAY,
    MAX_PRIOR_OBSERVATIONS,
    MAX_PRIOR_STUDIES,
    MAX_TASK_FEATURES,
    MAX_TOP_K,
    check_count,
    check_length,
)
from nestor_controller.objectives import ObjectiveDef, objective_values
from nestor_controller.samplers.base import Assignment, Observation, Sampler
from nestor_controller.samplers.multiobjective.pareto import constrained_ranks, loss_matrix, total_violation
from nestor_controller.samplers.priors import (
    OBSERVATIONS,
    TOP_K,
    TRANSFER,
    PriorStudy,
    eligible,
    own_count,
    prior_weight,
    project,
    shared_parameters,
)
from nestor_controller.space import Space


def nearest(target: Mapping[str, float], candidates: Mapping[str, Mapping[str, float]],
            k: int) -> list[tuple[str, float]]:
    """The k candidates nearest to `target` by L1 distance over the target's features, each scaled to [0, 1]
    by its range over the target and the candidates; a feature a candidate lacks counts as the full range.
    Ties go to the candidate listed first. [(key, distance)], nearest first."""
    names = sorted(target)
    if not names:
        return []
    lo = {f: min([target[f], *[c[f] for c in candidates.values() if f in c]]) for f in names}
    hi = {f: max([target[f], *[c[f] for c in candidates.values() if f in c]]) for f in names}
    out = []
    for key, features in candidates.items():
        d = 0.0
        for f in names:
            span = hi[f] - lo[f]
            if f not in features:
                d += 1.0
            elif span > 0:
                d += abs(features[f] - target[f]) / span
        out.append((key, d))
    return sorted(out, key=lambda kv: kv[1])[:k]


def ranked(objectives: Sequence[ObjectiveDef], observations: Sequence[Observation]) -> list[Observation]:
    """A prior's results best first: by loss (one objective), else by feasibility and non-domination rank; the
    earlier trial first among equals. Failed trials are left out."""
    valid = [o for o in observations if o.values is not None]
    if not valid:
        return []
    if len(objectives) == 1:
        o = objectives[0]
        key = [(not ob.feasible, o.loss(ob.values[0]), i) for i, ob in enumerate(valid)]  # type: ignore[index]
    else:
        ranks = constrained_ranks(loss_matrix(objectives, valid), total_violation(valid))
        key = [(int(r), 0.0, i) for i, r in enumerate(ranks)]
    return [valid[i] for *_, i in sorted(key)]


def params_key(params: Mapping[str, object]) -> str:
    return json.dumps(params, sort_keys=True)


def top_configurations(objectives: Sequence[ObjectiveDef], priors: Sequence[PriorStudy], k: int) -> list[Assignment]:
    """The priors' best k distinct configurations, taken in turns (each prior's best, then each one's second,
    ...), priors in their given order: values of different tasks are not comparable, their ranks are."""
    lists = [ranked(objectives, p.observations) for p in priors]
    out: list[Assignment] = []
    seen: set[str] = set()
    for rank in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if rank < len(x) and len(out) < k:
                key = params_key(x[rank].params)
                if key not in seen:
                    seen.add(key)
                    out.append(dict(x[rank].params))
    return out


def finite_features(features: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in features.items() if math.isfinite(v)}


# --- the choice made at CreateStudy ------------------------------------------------------------------------

MODES = (TOP_K, OBSERVATIONS, TRANSFER)
#: A study's completed results: (trial id, parameters, final metrics).
Results = list[tuple[int, Mapping[str, ParamValue], Mapping[str, float]]]
DEFAULT_TOP_K = 10
DEFAULT_DECAY = 10.0


def wanted(spec: study_pb2.StudySpec) -> bool:
    w = spec.warm_start
    return bool(w.studies or w.labels or w.similar)


def resolve_mode(spec: study_pb2.StudySpec, sampler: type[Sampler], objectives: Sequence[ObjectiveDef],
                 constraints: Sequence[object]) -> str:
    """The mode a warm start uses ("" for a cold study), or SpecError when the algorithm cannot take it."""
    w = spec.warm_start
    if not wanted(spec):
        if w.mode or w.top_k or w.decay:
            raise SpecError("spec.warm_start: no prior is named; give studies, labels or similar")
        return ""
    single = len(objectives) == 1 and not constraints
    takes = [m for m in sampler.warm_modes if m != TRANSFER or single]
    if w.mode in ("", "auto"):
        return takes[-1]
    if w.mode not in MODES:
        raise SpecError(f"spec.warm_start.mode: expected auto, {', '.join(MODES)}; got {w.mode[:64]!r}")
    if w.mode not in takes:
        why = " (transfer models one objective without constraints)" if w.mode in sampler.warm_modes else ""
        raise SpecError(f"spec.warm_start.mode: algorithm {sampler.name!r} takes {', '.join(takes)} or auto, "
                        f"not {w.mode!r}{why}")
    return w.mode


def check_warm_start(spec: study_pb2.StudySpec) -> None:
    """Sizes and values of spec.warm_start (but its labels: validate.check_labels) and spec.task."""
    w, where = spec.warm_start, "spec.warm_start"
    check_count(w.studies, f"{where}.studies", MAX_PRIOR_STUDIES, "studies")
    for i, sid in enumerate(w.studies):
        check_length(sid, f"{where}.studies[{i}]")
    if not 0 <= w.similar <= MAX_PRIOR_STUDIES:
        raise SpecError(f"{where}.similar: must be between 0 and {MAX_PRIOR_STUDIES}, got {w.similar}")
    if w.similar and not spec.task.features:
        raise SpecError(f"{where}.similar: needs spec.task.features, the meta-features to compare tasks by")
    if not 0 <= w.top_k <= MAX_TOP_K:
        raise SpecError(f"{where}.top_k: must be between 0 (the default, {DEFAULT_TOP_K}) and {MAX_TOP_K}, "
                        f"got {w.top_k}")
    if not math.isfinite(w.decay) or not 0 <= w.decay <= MAX_DECAY:
        raise SpecError(f"{where}.decay: must be a finite number between 0 (the default, {DEFAULT_DECAY:g}) and "
                        f"{MAX_DECAY:g}, got {w.decay}")
    check_count(spec.task.features, "spec.task.features", MAX_TASK_FEATURES, "features")
    for key, value in spec.task.features.items():
        check_length(key, f"spec.task.features: key {key[:40]!r}")
        if not key:
            raise SpecError("spec.task.features: a feature has an empty name")
        if not math.isfinite(value):
            raise SpecError(f"spec.task.features[{key[:40]!r}]: must be a finite number, got {value}")


@dataclass(frozen=True)
class Candidate:
    """An earlier study as the choice sees it."""

    study_id: str
    name: str
    labels: Mapping[str, str]
    features: Mapping[str, float]
    finished: bool
    kinds: Mapping[str, str]
    metrics: frozenset[str]


def candidate(rt: Any) -> Candidate:
    """A study runtime (study.StudyRuntime) as a candidate prior."""
    return Candidate(rt.id, rt.spec.name, dict(rt.spec.labels), finite_features(rt.spec.task.features),
                     not rt.running, {p.name: p.kind for p in rt.parsed.space.params},
                     frozenset(o.metric for o in rt.objectives) | frozenset(c.metric for c in rt.parsed.constraints))


def results(rt: Any) -> Results:
    """A study's completed, scored trials as (trial id, parameters, final metrics): a snapshot to read elsewhere."""
    return [(t.id, t.params, t.final.metrics) for t in rt.trials.values()
            if t.state == study_pb2.TRIAL_COMPLETED and t.final is not None and rt.sampler.scored(t.params)]


@dataclass
class WarmStart:
    """What a study chose: persisted as JSON with it, and given to its sampler at every start."""

    mode: str
    decay: float
    priors: list[PriorStudy]
    enqueued: int = 0

    def summary(self, history: Sequence[Observation]) -> study_pb2.WarmStartSummary:
        modelled = self.mode in (OBSERVATIONS, TRANSFER)
        out = study_pb2.WarmStartSummary(
            mode=self.mode, enqueued=self.enqueued,
            observations=sum(len(p.observations) for p in self.priors) if modelled else 0,
            weight=prior_weight(self.decay, own_count(history)) if self.mode == OBSERVATIONS else 0.0)
        for p in self.priors:
            prior = out.priors.add(study_id=p.study_id, name=p.name, observations=len(p.observations))
            if p.distance is not None:
                prior.distance = p.distance
        return out

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "decay": self.decay, "enqueued": self.enqueued, "priors": [
            {"study_id": p.study_id, "name": p.name, "distance": p.distance, "observations": [
                {"trial_id": o.trial_id, "params": o.params, "values": o.values, "violations": o.violations}
                for o in p.observations]} for p in self.priors]})

    @classmethod
    def from_json(cls, text: str) -> WarmStart:
        d = json.loads(text)
        priors = [PriorStudy(p["study_id"], p["name"], p["distance"], tuple(
            Observation(int(o["trial_id"]), o["params"], None if o["values"] is None else tuple(o["values"]),
                        0.0, tuple(o["violations"])) for o in p["observations"])) for p in d["priors"]]
        return cls(d["mode"], float(d["decay"]), priors, int(d["enqueued"]))


def select(spec: study_pb2.StudySpec, space: Space, objectives: Sequence[ObjectiveDef],
           candidates: Sequence[Candidate]) -> list[tuple[Candidate, float | None]]:
    """The priors of a new study among the earlier ones (`candidates`, oldest first), with their distance by task
    meta-features. Named studies must exist and fit (NotFoundError, SpecError); studies found by labels or
    similarity that do not fit are passed over. With task features the priors go nearest first (those without
    features last), else in the order named, then found by labels."""
    w = spec.warm_start
    by_id = {c.study_id: c for c in candidates}
    need = {o.metric for o in objectives}
    chosen: dict[str, float | None] = {}
    for i, sid in enumerate(w.studies):
        c = by_id.get(sid)
        if c is None:
            raise NotFoundError(f"spec.warm_start.studies[{i}]: study {sid!r} not found")
        if not eligible(space, c.kinds):
            raise SpecError(f"spec.warm_start.studies[{i}]: study {sid} shares {shared_parameters(space, c.kinds)} "
                            f"of this study's {len(space.params)} parameters (by name and kind); a prior needs "
                            "at least half")
        if not need <= c.metrics:
            raise SpecError(f"spec.warm_start.studies[{i}]: study {sid} does not measure objective "
                            f"{sorted(need - c.metrics)[0]!r}")
        chosen.setdefault(sid, None)
    fits = [c for c in candidates if eligible(space, c.kinds) and need <= c.metrics]
    if w.labels:
        for c in fits:
            if all(c.labels.get(k) == v for k, v in w.labels.items()):
                chosen.setdefault(c.study_id, None)
    features = finite_features(spec.task.features)
    order = list(chosen)
    if features:
        with_features = {c.study_id: c.features for c in fits if c.features}
        distances = dict(nearest(features, with_features, len(with_features)))
        finished = {k: v for k, v in with_features.items() if by_id[k].finished}
        for sid, _ in nearest(features, finished, w.similar):
            chosen.setdefault(sid, None)
        order = sorted(chosen, key=lambda sid: (sid not in distances, distances.get(sid, 0.0)))
        chosen = {sid: distances.get(sid) for sid in order}
    return [(by_id[sid], chosen[sid]) for sid in order[:MAX_PRIOR_STUDIES]]


def build(mode: str, decay: float, space: Space, objectives: Sequence[ObjectiveDef],
          constraints: Sequence[ConstraintDef], chosen: Sequence[tuple[Candidate, float | None, Results]]) -> WarmStart:
    """The warm start from the selected priors and their results (projected onto this study's space)."""
    priors = [PriorStudy(c.study_id, c.name, d, observations(space, objectives, constraints, c, r))
              for c, d, r in chosen]
    return WarmStart(mode, decay or DEFAULT_DECAY, priors)


def observations(space: Space, objectives: Sequence[ObjectiveDef], constraints: Sequence[ConstraintDef],
                 c: Candidate, rows: Results) -> tuple[Observation, ...]:
    """A prior's completed results on this study's space (priors.project), at most MAX_PRIOR_OBSERVATIONS: the
    best quarter of that and an even spread of the others, in trial order."""
    out = []
    for trial_id, params, metrics in rows:
        values = objective_values(objectives, metrics)
        placed = project(space, c.kinds, params)
        if values is None or placed is None:
            continue
        measured = missing_metric(constraints, metrics) is None
        out.append(Observation(trial_id, placed, values, 0.0, violations(constraints, metrics) if measured else ()))
    if len(out) > MAX_PRIOR_OBSERVATIONS:
        best = {o.trial_id for o in ranked(objectives, out)[:MAX_PRIOR_OBSERVATIONS // 4]}
        rest = [o for o in out if o.trial_id not in best]
        step = len(rest) / (MAX_PRIOR_OBSERVATIONS - len(best))
        keep = best | {rest[int(i * step)].trial_id for i in range(MAX_PRIOR_OBSERVATIONS - len(best))}
        out = [o for o in out if o.trial_id in keep]
    return tuple(out)
