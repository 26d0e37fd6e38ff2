"""Prometheus metrics of the controller (`--metrics-port`).

Counts (studies, trials by state, the queue, executor slots) are read from the
engine's own state when Prometheus scrapes, so the engine keeps no second set
of books that could drift. The two latencies are timed around the study
runtime's `new_trials` (every suggestion, ask/tell or managed: the sampler's
work, before the commit it shares with the dispatch) and
`record_measurement(s)_soon` (every report or batch of them, until its decisions are committed),
wrapped once at start-up so that the engine's code stays free of metrics calls.

The collector runs on the HTTP server's thread while the event loop changes the
engine: it only takes copies (`list(d.values())`, `dict(c)`), which CPython makes
without letting the loop run in between.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from nestor.v1 import study_pb2
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from nestor_controller.engine import Engine
from nestor_controller.study import StudyRuntime

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SUGGEST_LATENCY = Histogram(
    "nestor_suggestion_latency_seconds",
    "Time to create a batch of trials: the sampler's suggestion and the trials' records",
    ["mode"], buckets=LATENCY_BUCKETS)
REPORT_LATENCY = Histogram(
    "nestor_report_latency_seconds",
    "Time to record one measurement: the scheduler's decision and its commit to the store",
    ["mode"], buckets=LATENCY_BUCKETS)


def _state_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def _mode(rt: StudyRuntime) -> str:
    return "managed" if rt.managed else "client"


class EngineCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        studies = list(self.engine.studies.values())
        by_study_state = dict.fromkeys(
            (_state_name(study_pb2.StudyState, v, "STUDY_") for v in study_pb2.StudyState.values() if v), 0)
        by_trial_state = dict.fromkeys(
            (_state_name(study_pb2.TrialState, v, "TRIAL_") for v in study_pb2.TrialState.values() if v), 0)
        queued = 0
        for rt in studies:
            by_study_state[_state_name(study_pb2.StudyState, rt.state, "STUDY_")] += 1
            for state, n in dict(rt.counts).items():
                name = _state_name(study_pb2.TrialState, state, "TRIAL_")
                by_trial_state[name] = by_trial_state.get(name, 0) + n
            if rt.running:
                queued += len(rt.pending)
        g = GaugeMetricFamily("nestor_studies", "Studies known to the controller, by state", labels=["state"])
        for name, n in by_study_state.items():
            g.add_metric([name], n)
        yield g
        g = GaugeMetricFamily("nestor_trials", "Trials of every study, by state", labels=["state"])
        for name, n in by_trial_state.items():
            g.add_metric([name], n)
        yield g
        yield GaugeMetricFamily("nestor_queue_depth",
                                "Pending trials of running studies waiting for a free executor slot", value=queued)

        handles = list(self.engine.pool.handles.values())
        healthy = [h for h in handles if h.healthy and h.info is not None]
        g = GaugeMetricFamily("nestor_pool_executors", "Executors known to the controller, by health",
                              labels=["health"])
        g.add_metric(["healthy"], len(healthy))
        g.add_metric(["unhealthy"], len(handles) - len(healthy))
        yield g
        yield GaugeMetricFamily("nestor_pool_slots", "Slots of the healthy executors",
                                value=sum(h.info.slots for h in healthy if h.info is not None))
        yield GaugeMetricFamily("nestor_pool_slots_busy", "Slots of executors running a trial this controller placed",
                                value=sum(h.running for h in handles))


def _timed_async(method: Callable[..., Any], histogram: Histogram) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(self: StudyRuntime, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await method(self, *args, **kwargs)
        finally:
            histogram.labels(_mode(self)).observe(time.perf_counter() - start)

    return wrapper


def _timed_until_committed(method: Callable[..., Any], histogram: Histogram) -> Callable[..., Any]:
    """For `record_measurements_soon`, which decides at once and returns the task of its commit."""

    @functools.wraps(method)
    def wrapper(self: StudyRuntime, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        verdict, committed = method(self, *args, **kwargs)
        mode = _mode(self)
        committed.add_done_callback(lambda _: histogram.labels(mode).observe(time.perf_counter() - start))
        return verdict, committed

    return wrapper


#: Where every suggestion and every report pass through, ask/tell or managed.
TIMED = (("new_trials", SUGGEST_LATENCY, _timed_async),
         ("record_measurement_soon", REPORT_LATENCY, _timed_until_committed),
         ("record_measurements_soon", REPORT_LATENCY, _timed_until_committed))


def instrument_study_runtime() -> None:
    """Times suggestions and reports; idempotent (tests start several servers in one process)."""
    for name, histogram, wrap in TIMED:
        method = getattr(StudyRuntime, name, None)
        if method is None:
            # Renamed in the engine: fail at start, loudly, rather than serve histograms that never move.
            raise RuntimeError(f"metrics: StudyRuntime.{name} is gone; update nestor_controller.metrics.TIMED")
        if not getattr(method, "__nestor_timed__", False):
            wrapped = wrap(method, histogram)
            wrapped.__nestor_timed__ = True  # type: ignore[attr-defined]
            setattr(StudyRuntime, name, wrapped)
