"""The Prometheus endpoints of a real controller and executor, scraped while studies run."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nestor
from cluster import start_controller, start_executor
from nestor_executor.metrics import parse_nvidia_smi, read_cpu_times
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
WAIT_S = 90.0


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(url: str, what: str, ok: Callable[[Samples], bool]) -> Samples:
    """Scrapes until `ok` holds (bounded: it fails with the last scrape)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        samples = scrape(url)
        if ok(samples):
            return samples
        if time.monotonic() > deadline:
            shown = {k: v for k, v in samples.items() if k[0].startswith("nestor_")}
            raise AssertionError(f"{what}: never seen at {url}; last scrape: {shown}")
        time.sleep(0.1)


def test_metrics_move_as_trials_run(tmp_path: Path) -> None:
    controller = start_controller(tmp_path, "--metrics-port", "0", "--health-interval", "0.5")
    executor = start_executor(tmp_path, controller.address, "--metrics-port", "0", "--register-interval", "0.5",
                              trainables=["exits=trainables_for_tests:exits"])
    try:
        c_url, e_url = controller.announced("metrics"), executor.announced("metrics")
        c0 = scrape(c_url)
        assert value(c0, "nestor_studies", state="running") == 0
        assert value(c0, "nestor_trials", state="completed") == 0
        assert value(c0, "nestor_queue_depth") == 0
        e0 = wait_for(e_url, "the executor's one slot", lambda m: value(m, "nestor_executor_slots") == 1)
        assert value(e0, "nestor_executor_trials_running") == 0
        assert value(e0, "nestor_executor_worker_restarts_total") == 0
        assert 0.0 <= value(e0, "nestor_executor_device_utilization_ratio", device="cpu") <= 1.0
        wait_for(c_url, "the executor registered", lambda m: value(m, "nestor_pool_slots") == 1)

        with nestor.Client(controller.address) as client:
            # Client-driven: two suggestions and two reports are timed.
            asked = client.create_study({
                "name": "metrics-ask-tell", "objective": {"metric": "y", "goal": "minimize"},
                "budget": {"max_trials": 2}, "space": {"x": {"type": "double", "min": 0, "max": 1}}})
            for trial in asked.suggest(1) + asked.suggest(1):
                trial.report(1, {"y": trial.params["x"]})
                trial.complete()
            c1 = scrape(c_url)
            assert value(c1, "nestor_suggestion_latency_seconds_count", mode="client") == 2
            assert value(c1, "nestor_report_latency_seconds_count", mode="client") == 2
            assert value(c1, "nestor_studies", state="completed") == 1
            assert value(c1, "nestor_trials", state="completed") == 2

            # A trial whose worker process dies: the executor starts another worker.
            crash = client.create_study({
                "name": "metrics-crash", "trainable": "exits", "objective": {"metric": "loss", "goal": "minimize"},
                "budget": {"max_trials": 1, "max_failed": 0}, "space": {"x": {"type": "double", "min": 0, "max": 1}}})
            crash.wait(timeout=WAIT_S)
            wait_for(e_url, "a worker restart", lambda m: value(m, "nestor_executor_worker_restarts_total") >= 1)
            assert value(scrape(c_url), "nestor_trials", state="failed") == 1

            # A long managed trial: running on both sides, its reports timed as managed ones.
            long = client.create_study({
                "name": "metrics-long", "trainable": "noop", "trainable_config": {"steps": 1000, "sleep_s": 600},
                "objective": {"metric": "value", "goal": "minimize"}, "budget": {"max_trials": 1},
                "space": {"x": {"type": "double", "min": 0, "max": 1}}})
            wait_for(e_url, "a trial running", lambda m: value(m, "nestor_executor_trials_running") == 1)
            wait_for(c_url, "a busy slot and a managed report", lambda m: (
                value(m, "nestor_pool_slots_busy") == 1 and value(m, "nestor_trials", state="running") == 1
                and value(m, "nestor_report_latency_seconds_count", mode="managed") >= 1
                and value(m, "nestor_suggestion_latency_seconds_count", mode="managed") >= 2))

            # Its executor dies: the trial goes back to the queue, with no executor left to take it.
            executor.kill()
            c2 = wait_for(c_url, "the trial queued again", lambda m: value(m, "nestor_queue_depth") == 1)
            assert value(c2, "nestor_pool_executors", health="unhealthy") == 1
            assert value(c2, "nestor_pool_slots_busy") == 0
            long.stop()
            c3 = wait_for(c_url, "the study stopped", lambda m: value(m, "nestor_studies", state="stopped") == 1)
            assert value(c3, "nestor_queue_depth") == 0
    finally:
        executor.stop()
        controller.stop()


def test_gpu_and_cpu_readings_parse(tmp_path: Path) -> None:
    # As `nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits` prints them
    # (tests/gpu/executor_metrics_on_gpu.py checks the real thing on a GPU machine).
    assert parse_nvidia_smi("0, 17, 879\n1, [N/A], 12\n") == {0: (0.17, 879 * 1024 * 1024)}
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert read_cpu_times(str(stat)) == (150.0, 1000.0)
    assert read_cpu_times(str(tmp_path / "missing")) is None
