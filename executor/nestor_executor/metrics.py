"""Prometheus metrics of an executor (`--metrics-port`).

Everything is read from the slot pool when Prometheus scrapes: trials running,
worker processes restarted, and device utilisation where the device tells it
(`nvidia-smi` for CUDA GPUs, /proc/stat for the CPU). The collector runs on the
HTTP server's thread; it only reads counters the event loop writes.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from nestor_executor.slots import SlotPool

log = logging.getLogger(__name__)

#: nvidia-smi takes tens of milliseconds; scrapes closer together than this reuse its answer.
GPU_QUERY_CACHE_S = 5.0


def parse_nvidia_smi(text: str) -> dict[int, tuple[float, float]]:
    """`index, utilization.gpu [%], memory.used [MiB]` lines -> {index: (utilisation 0..1, memory bytes)}."""
    out = {}
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3:
            continue
        try:
            out[int(fields[0])] = (float(fields[1]) / 100.0, float(fields[2]) * 1024 * 1024)
        except ValueError:
            continue  # "[N/A]" on GPUs that do not report it
    return out


class GpuProbe:
    """Asks nvidia-smi. Inside a container it sees only the GPUs given to the pod, numbered as CUDA numbers
    them by default when CUDA_DEVICE_ORDER=PCI_BUS_ID (set in the executor image)."""

    def __init__(self) -> None:
        self.binary = shutil.which("nvidia-smi")
        self._at = -GPU_QUERY_CACHE_S
        self._last: dict[int, tuple[float, float]] = {}

    def read(self) -> dict[int, tuple[float, float]]:
        if self.binary is None:
            return {}
        if time.monotonic() - self._at >= GPU_QUERY_CACHE_S:
            self._at = time.monotonic()
            try:
                done = subprocess.run([self.binary, "--query-gpu=index,utilization.gpu,memory.used",
                                       "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                self._last = parse_nvidia_smi(done.stdout) if done.returncode == 0 else {}
            except (OSError, subprocess.TimeoutExpired) as e:
                log.warning("nvidia-smi: %s", e)
                self._last = {}
        return self._last


def read_cpu_times(path: str = "/proc/stat") -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot; None where /proc/stat is missing."""
    try:
        with open(path) as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


class CpuProbe:
    """The machine's CPU utilisation between two scrapes (since boot at the first)."""

    def __init__(self) -> None:
        self._prev: tuple[float, float] = (0.0, 0.0)
        self._lock = threading.Lock()

    def read(self) -> float | None:
        now = read_cpu_times()
        if now is None:
            return None
        with self._lock:
            busy, total = now[0] - self._prev[0], now[1] - self._prev[1]
            self._prev = now
        return busy / total if total > 0 else None


class SlotPoolCollector(Collector):
    def __init__(self, pool: SlotPool) -> None:
        self.pool = pool
        self.gpus = GpuProbe()
        self.cpu = CpuProbe()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        slots = list(self.pool.slots)
        yield GaugeMetricFamily("nestor_executor_slots", "Slots of this executor (one worker process each)",
                                value=len(slots))
        yield GaugeMetricFamily("nestor_executor_trials_running", "Trials running on this executor now",
                                value=sum(s.busy for s in slots))
        yield CounterMetricFamily(
            "nestor_executor_worker_restarts", "Worker processes started again after one died or was killed",
            value=sum(max(0, s.spawns - 1) for s in slots))
        util = GaugeMetricFamily("nestor_executor_device_utilization_ratio",
                                 "Utilisation of the devices trials run on, 0..1, where the device reports it",
                                 labels=["device"])
        memory = GaugeMetricFamily("nestor_executor_device_memory_used_bytes",
                                   "Memory in use on each GPU", labels=["device"])
        devices = {s.device.name: s.device for s in slots}
        if any(d.kind == "cuda" for d in devices.values()):
            for index, (ratio, used) in sorted(self.gpus.read().items()):
                if f"cuda:{index}" in devices:
                    util.add_metric([f"cuda:{index}"], ratio)
                    memory.add_metric([f"cuda:{index}"], used)
        if "cpu" in devices and (ratio := self.cpu.read()) is not None:
            util.add_metric(["cpu"], ratio)
        yield util
        yield memory

