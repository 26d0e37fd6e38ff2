"""Trainables for tests/test_pbt.py: the PBT toy with faults and without checkpoints."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from nestor_executor.trainables import pbt_toy


def claim(marker: str) -> bool:
    """True for the one caller that creates `marker`: both members reach the step at once on a loaded machine,
    and a check-then-write would let each of them kill its executor, leaving the study none."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def kills_its_executor_after_a_copy(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """pbt_toy, except that the first run starting from a checkpoint at step `kill_at` or later (its folder was
    just seeded from the one it continues) kills its executor, once: the marker file says it did."""
    saved = ctx.load_checkpoint()
    marker = ctx.config["marker"]
    if saved and saved["step"] >= int(ctx.config["kill_at"]) and claim(marker):
        with open(marker, "w") as f:
            f.write(f"trial {ctx.trial_id} at step {saved['step']}\n")
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)  # this worker dies with its executor
    return pbt_toy.train(params, ctx)


class ContextWrapper:
    """A trainable's context with some of its methods changed: everything else goes to the context it wraps."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


class HoldsAfterReport(ContextWrapper):
    """A context whose run, the first time each trial reports step `hold_at`, waits there (its checkpoint of that
    step saved and its report sent) until the file `release` exists or the run is told to stop."""

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        stop = self._ctx.report(step, metrics)
        folder = self._ctx.config["hold_dir"]
        if step == int(self._ctx.config["hold_at"]) and claim(os.path.join(folder, f"held-{self._ctx.trial_id}")):
            release = os.path.join(folder, "release")
            deadline = time.monotonic() + 120
            while not os.path.exists(release) and not self._ctx.should_stop and time.monotonic() < deadline:
                time.sleep(0.05)
        return stop


def holds_after_a_report(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    """pbt_toy, held after its report of step `hold_at` when the study's config names one."""
    return pbt_toy.train(params, HoldsAfterReport(ctx) if ctx.config.get("hold_at") else ctx)


class NoCheckpoints(ContextWrapper):
    """A context that drops every checkpoint: the trainable resumes nothing and nothing can be copied."""

    def save_checkpoint(self, state: Any, step: int) -> bool:
        return True

    def load_checkpoint(self) -> Any:
        return None


def never_checkpoints(params: Mapping[str, Any], ctx: Any) -> dict[str, float]:
    return pbt_toy.train(params, NoCheckpoints(ctx))
