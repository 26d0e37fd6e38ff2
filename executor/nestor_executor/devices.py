"""The devices an executor trains on, and which one each slot uses."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from nestor.v1 import executor_pb2


@dataclass(frozen=True)
class Device:
    name: str  # "cpu" or "cuda:N"
    kind: str  # "cpu" or "cuda"
    memory_bytes: int

    def to_proto(self) -> executor_pb2.Device:
        return executor_pb2.Device(name=self.name, kind=self.kind, memory_bytes=self.memory_bytes)


class DeviceError(RuntimeError):
    pass


def cpu() -> Device:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    return Device("cpu", "cpu", memory)


def _nvidia_driver_present() -> bool:
    # Importing torch costs seconds; without an NVIDIA driver CUDA cannot be available anyway.
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.isdir("/proc/driver/nvidia/gpus")


def cuda_devices() -> list[Device]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [Device(f"cuda:{i}", "cuda", int(torch.cuda.get_device_properties(i).total_memory))
            for i in range(torch.cuda.device_count())]


def detect(choice: str) -> list[Device]:
    """`auto`: every CUDA GPU if there is one, else the CPU; `cpu`; `cuda` (an error without a GPU)."""
    if choice == "cpu":
        return [cpu()]
    gpus = cuda_devices() if choice == "cuda" or _nvidia_driver_present() else []
    if gpus:
        return gpus
    if choice == "cuda":
        raise DeviceError("--device cuda: no CUDA device is available to torch")
    return [cpu()]


def slot_devices(devices: list[Device], slots: int) -> list[Device]:
    """Slot i trains on GPU i (round robin when there are more slots than GPUs); on CPU all share it."""
    return [devices[i % len(devices)] for i in range(slots)]


def cgroup_cpu_limit(path: str = "/sys/fs/cgroup/cpu.max") -> float | None:
    """The CPU quota of this container (cgroup v2), e.g. 2.0 for a Kubernetes limit of 2; None if unlimited."""
    try:
        with open(path) as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return float(quota) / float(period)
    except (ValueError, ZeroDivisionError):
        return None


def cpu_count() -> int:
    """Cores this process may use: its affinity, capped by its container's quota (a pod sees every core)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, int(limit)))
    return cores
