"""A manual check for a machine with an NVIDIA GPU (not collected by pytest): one executor on `--device cuda`
runs a digits_mlp trial sent straight over Executor.RunTrial while its /metrics endpoint is scraped; prints
the highest trials running, GPU utilisation and GPU memory seen, and fails when the GPU metrics never appear.

    PYTHONPATH=client_sdk:executor python3 tests/gpu/executor_metrics_on_gpu.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
from nestor.v1 import executor_pb2, executor_pb2_grpc
from nestor.values import params_to_proto
from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    proc = subprocess.Popen([sys.executable, "-m", "nestor_executor", "--port", "0", "--device", "cuda",
                             "--metrics-port", "0", "--slots", "1", "--artifact-dir", "/tmp/nestor-gpu"],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    metrics = address = ""
    while not address:
        line = proc.stdout.readline()
        print(line.rstrip())
        if not line:
            return 1
        if " metrics on " in line:
            metrics = line.split(" metrics on ")[1].split()[0]
        if " listening on " in line:
            address = line.split()[-1]
    seen: dict[str, float] = {}
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set():
            with urllib.request.urlopen(metrics, timeout=10) as answer:
                for family in text_string_to_metric_families(answer.read().decode()):
                    for s in family.samples:
                        if s.name.startswith("nestor_executor"):
                            key = s.name + str(sorted(s.labels.items()))
                            seen[key] = max(seen.get(key, 0.0), s.value)
            time.sleep(0.2)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    assignment = executor_pb2.TrialAssignment(
        study_id="gpu", trial_id=1, trainable="digits_mlp", budget=40, max_budget=40, seed=1,
        params=params_to_proto({"lr": 0.003, "hidden": 1024, "depth": 4, "batch_size": 16}))
    stub = executor_pb2_grpc.ExecutorStub(grpc.insecure_channel(address))
    started = time.monotonic()
    for msg in stub.RunTrial(iter([executor_pb2.ControllerMessage(assignment=assignment)])):
        kind = msg.WhichOneof("body")
        if kind == "started":
            print("started on", msg.started.device)
        elif kind == "result":
            print("result", dict(msg.result.final_measurement.metrics), msg.result.error or "")
    print(f"trial took {time.monotonic() - started:.1f} s")
    time.sleep(6)  # one more nvidia-smi reading after the trial
    done.set()
    scraper.join()
    proc.terminate()
    proc.wait(timeout=60)
    for key, value in sorted(seen.items()):
        print(f"max {key} = {value}")
    gpu = [k for k in seen if "device_utilization" in k and "cuda:0" in k]
    memory = [k for k in seen if "memory_used" in k and "cuda:0" in k]
    running = seen.get("nestor_executor_trials_running[]", 0.0)
    ok = bool(gpu) and bool(memory) and seen[memory[0]] > 0 and running == 1
    print("GPU metrics", "OK" if ok else "MISSING")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
