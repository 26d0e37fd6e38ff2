"""Nestor's side of bench/pbt.py: one study per method and seed through a real controller.

A study's events are read from WatchStudy while it runs: every first measurement of a (trial, step) is one
epoch (or toy step) trained, so a study given a total budget (asha) is stopped once it has made that many, and
its figures come from those measurements. Every other study's figures come from the stored measurements
(ListTrials after it ended): WatchStudy was seen to leave out a stored measurement now and then, and
`missed_events` counts those. ListTrials also gives each member's lineage: the decisions taken at the end of
its intervals (every entry after the first) and which of them copied a donor's weights (donor_trial_id set:
an exploit).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from nestor.spec import load_spec  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402

#: The toy's learning rate (pbt_toy's default, given explicitly so Ray's copy of the math uses the same).
TOY_LR = 0.02
TOY_SPACE: dict[str, Any] = {"h0": {"type": "double", "min": 0.0, "max": 1.0},
                             "h1": {"type": "double", "min": 0.0, "max": 1.0}}
#: The paper's initial population: each member optimises one coordinate only.
TOY_START: list[dict[str, float]] = [{"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0}]

#: The numeric ranges of digits_mlp's search (also Ray's); sgd is the one optimizer (a one-choice categorical).
DIGITS_RANGES: dict[str, tuple[float, float, bool]] = {  # name: (min, max, log scale)
    "lr": (1e-3, 0.5, True), "momentum": (0.5, 0.99, False), "weight_decay": (1e-6, 1e-2, True)}
DIGITS_SPACE: dict[str, Any] = {
    **{name: {"type": "double", "min": lo, "max": hi, **({"scale": "log"} if log else {})}
       for name, (lo, hi, log) in DIGITS_RANGES.items()},
    "optimizer": {"type": "categorical", "choices": ["sgd"]},
}
MUTABLE = list(DIGITS_RANGES)


@dataclass
class PBTSettings:
    population: int
    interval: int
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    perturbation_factors: tuple[float, ...] = (0.8, 1.2)

    def scheduler(self, name: str, mutable: list[str] | None = None) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "population_size": self.population, "perturbation_interval": self.interval,
            "quantile_fraction": self.quantile_fraction, "resample_probability": self.resample_probability,
            "perturbation_factors": list(self.perturbation_factors)}
        if mutable:
            settings["mutable"] = mutable
        return {"name": name, "settings": settings}


@dataclass
class Run:
    """One study: what it reached and what it cost."""

    state: str
    wall_s: float          # CreateStudy until the study-ended event
    best_final: float      # the best objective measured at the full fidelity (nan: none got there)
    train_s: float         # seconds trials reported training (Measurement.elapsed_s, summed per run)
    measurements: int      # (trial, step) measured: epochs or toy steps trained
    decisions: int         # interval ends at which the scheduler ranked a member (lineage entries after the first)
    exploits: int          # of those, the ones that copied a donor's weights
    missed_events: int = 0  # stored measurements WatchStudy never sent

    def figures(self) -> dict[str, Any]:
        return dict(self.__dict__)


def toy_spec(method: str, seed: int, steps: int, pbt: PBTSettings) -> dict[str, Any]:
    return {"name": f"pbt-toy-{method}-{seed}", "trainable": "pbt_toy", "trainable_config": {"lr": TOY_LR},
            "space": TOY_SPACE, "objective": {"metric": "q", "goal": "maximize"},
            "fidelity": {"name": "step", "min": 1, "max": steps}, "algorithm": "random",
            "scheduler": pbt.scheduler(method), "budget": {"max_trials": pbt.population},
            "enqueue": TOY_START, "seed": seed}


def digits_spec(method: str, seed: int, epochs: int, pbt: PBTSettings, slots: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": f"pbt-digits-{method}-{seed}", "trainable": "digits_mlp", "space": DIGITS_SPACE,
                            "objective": {"metric": "val_accuracy", "goal": "maximize"}, "algorithm": "random",
                            "seed": seed, "budget": {"max_trials": pbt.population, "max_parallel": slots}}
    if method in ("pbt", "pb2"):
        spec["scheduler"] = pbt.scheduler(method, MUTABLE)
        spec["fidelity"] = {"name": "epoch", "min": 1, "max": epochs}
    elif method == "random":  # P trials, each trained E epochs
        spec["scheduler"] = {"name": "none"}
        spec["trainable_config"] = {"epochs": epochs}
    elif method == "asha":  # as many trials as it likes; stopped at P x E epochs
        spec["scheduler"] = {"name": "asha"}
        spec["fidelity"] = {"name": "epoch", "min": 1, "max": epochs}
        spec["budget"]["max_trials"] = 100_000
    else:
        raise ValueError(f"unknown method {method!r}")
    return spec


def run_study(stub: Any, spec: dict[str, Any], metric: str, top: int, interval: int | None = None,
              total: int | None = None, timeout: float = 1800.0) -> Run:
    """Runs the study until it ends (or, with `total`, until it has measured that many steps, then stops it)."""
    t0 = time.perf_counter()
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=load_spec(spec))).id
    seen: dict[tuple[int, int], tuple[float, float]] = {}  # (trial, step) -> (metric, elapsed_s), first copy
    stopped = False
    wall = math.nan
    try:
        for ev in stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=timeout):
            if ev.type == c.STUDY_EVENT_TRIAL_MEASUREMENT and (total is None or len(seen) < total):
                m = ev.measurement
                key = (int(ev.trial_id), int(m.step))
                if key not in seen and metric in m.metrics:
                    seen[key] = (float(m.metrics[metric]), float(m.elapsed_s))
            if total is not None and len(seen) >= total and not stopped:
                stub.StopStudy(c.StopStudyRequest(study_id=sid, reason="the benchmark's budget is spent"))
                stopped = True
            if ev.type == c.STUDY_EVENT_STUDY_ENDED:
                wall = time.perf_counter() - t0
                break
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
        print(f"  study {spec['name']} did not end within {timeout:g} s: stopped", file=sys.stderr, flush=True)
        stub.StopStudy(c.StopStudyRequest(study_id=sid, reason="the benchmark's timeout"))
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    stored: dict[tuple[int, int], tuple[float, float]] = {}
    for t in trials:
        for m in t.measurements:
            if metric in m.metrics:
                stored.setdefault((int(t.id), int(m.step)), (float(m.metrics[metric]), float(m.elapsed_s)))
    missed = len(set(stored) - set(seen))
    if missed:
        print(f"  study {spec['name']}: WatchStudy never sent {missed} of {len(stored)} stored measurements",
              file=sys.stderr, flush=True)
    if total is None:
        seen = stored
    decisions = sum(max(0, len(t.lineage) - 1) for t in trials)
    exploits = sum(1 for t in trials for step in t.lineage if step.donor_trial_id)
    stub.DeleteStudy(c.DeleteStudyRequest(study_id=sid))
    finals = [v for (_, step), (v, _) in seen.items() if step == top]
    return Run(s.StudyState.Name(study.state), wall, max(finals) if finals else math.nan,
               training_seconds(seen, interval), len(seen), decisions, exploits, missed)


def training_seconds(seen: dict[tuple[int, int], tuple[float, float]], interval: int | None) -> float:
    """Seconds spent training, from each run's reports: elapsed_s counts from the start of the run (one interval
    of a population member), so a run's time is the elapsed_s of its last report. With an interval, a member's
    runs are its intervals (steps k*I+1 .. (k+1)*I); without one, a run starts where elapsed_s drops."""
    runs: dict[tuple[int, int], float] = {}
    last: dict[int, tuple[int, float]] = {}
    for (trial, step), (_, elapsed) in sorted(seen.items()):
        if interval:
            key = (trial, math.ceil(step / interval))
        else:
            run, before = last.get(trial, (0, math.inf))
            key = (trial, run + 1 if elapsed < before else run)
            last[trial] = (key[1], elapsed)
        runs[key] = max(runs.get(key, 0.0), elapsed)
    return sum(runs.values())


def toy_constant_q(h: dict[str, float], steps: int) -> float:
    """q after `steps` steps with h held constant: pbt_toy's own train() in-process, with a stub context."""
    from nestor_executor.trainables import pbt_toy

    class Ctx:
        budget = steps
        config = {"lr": TOY_LR}
        should_stop = False

        def load_checkpoint(self) -> None:
            return None

        def save_checkpoint(self, data: Any, step: int) -> bool:
            return True

        def report(self, step: int, metrics: dict[str, float]) -> bool:
            return False

    return float(pbt_toy.train(h, Ctx())["q"])
