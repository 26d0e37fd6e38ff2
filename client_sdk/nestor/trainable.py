"""The trainable API that executors host.

A trainable is a plain function ``train(params, ctx)``. Executors call it in a
worker process with the trial's parameters and a context that implements
:class:`TrialContext`; it reports intermediate metrics with ``ctx.report`` and
may return a dict of final metrics (otherwise its last report is final).

Checkpoints: ``ctx.save_checkpoint(state, step)`` and ``ctx.load_checkpoint()``
keep one checkpoint in ``ctx.checkpoint_dir``, written atomically and fenced
by attempt (see :mod:`nestor.checkpoints`): a stale run of the trial never
overwrites a newer run's checkpoint.

This module stays free of torch and numpy: the SDK is thin.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from nestor.checkpoints import CheckpointDir
from nestor.errors import LocalRefusal


@runtime_checkable
class TrialContext(Protocol):
    """What a trainable sees of its trial."""

    study_id: str
    trial_id: int
    #: Fidelity granted (e.g. epochs); 0.0 when the study has no fidelity.
    budget: float
    #: The fidelity's maximum; 0.0 when the study has no fidelity.
    max_budget: float
    #: Name of the fidelity (e.g. "epoch"); empty when the study has none.
    fidelity: str
    #: The study's fixed ``trainable_config``.
    config: Mapping[str, Any]
    #: "cpu" or "cuda:N".
    device: str
    #: Directory for this trial's checkpoints; it survives the executor and is
    #: handed to whichever executor resumes the trial.
    checkpoint_dir: str
    seed: int
    attempt: int

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        """Send an intermediate measurement; returns ``should_stop``."""
        ...

    @property
    def should_stop(self) -> bool:
        """True once the controller (scheduler or study) asked the trial to stop."""
        ...

    @property
    def outer(self) -> Mapping[str, Any]:
        """Bilevel strategies: the outer variables (name -> array) as last sent by the controller."""
        ...

    def send_outer_grad(self, gradients: Mapping[str, Any], metrics: Mapping[str, float] | None = None) -> None:
        """Bilevel strategies: stream the gradient of the validation loss w.r.t. the outer variables."""
        ...

    @property
    def outer_step(self) -> int:
        """Bilevel strategies: how many outer updates the values in ``outer`` include."""
        ...

    def wait_outer(self, step: int, timeout: float | None = None) -> bool:
        """Bilevel strategies: block until ``outer_step >= step`` (True) or the trial must stop or the
        timeout passes (False). Not waiting at all runs with outer variables one step stale."""
        ...

    def checkpoint_saved(self, step: int, path: str) -> None:
        """Tell the controller a checkpoint was written (used to resume on another executor)."""
        ...

    def save_checkpoint(self, state: Any, step: int) -> bool:
        """Replace the trial's checkpoint with ``state`` (bytes, or anything JSON-serialisable) at ``step``.

        Written atomically (a temporary file, then a rename) and announced to the controller. False when a
        newer attempt of the trial holds the checkpoint folder: nothing was written, ``should_stop`` is now
        True and the run ends without a result of its own."""
        ...

    def load_checkpoint(self) -> Any | None:
        """The state last saved with ``save_checkpoint`` by any attempt of this trial, or None."""
        ...


Trainable = Callable[[Mapping[str, Any], TrialContext], Mapping[str, float] | None]


def check_metrics(metrics: Mapping[str, float], where: str) -> dict[str, float]:
    """Metrics as floats; raises LocalRefusal (a ValueError) naming the metric that is not a finite number."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise LocalRefusal(f"{where}: metric names must be non-empty strings, got {name!r}")
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise LocalRefusal(f"{where}: metric {name!r} is not a number: {value!r}") from None
        if not math.isfinite(x):
            raise LocalRefusal(f"{where}: metric {name!r} is {x} (must be finite)")
        out[name] = x
    return out


@dataclass
class LocalContext:
    """Runs a trainable in this process, without controller or executor: for debugging a trainable."""

    budget: float = 0.0
    max_budget: float = 0.0
    fidelity: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    checkpoint_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="nestor-ckpt-"))
    seed: int = 0
    attempt: int = 0
    study_id: str = "local"
    trial_id: int = 1
    stop_after_step: int | None = None
    reports: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    outer_values: dict[str, Any] = field(default_factory=dict)
    outer_gradients: list[dict[str, Any]] = field(default_factory=list)
    _stop: bool = False
    _checkpoints: CheckpointDir | None = None

    @property
    def checkpoints(self) -> CheckpointDir:
        if self._checkpoints is None:
            self._checkpoints = CheckpointDir(self.checkpoint_dir, self.attempt)
        return self._checkpoints

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        self.reports.append((step, check_metrics(metrics, f"report at step {step}")))
        if self.stop_after_step is not None and step >= self.stop_after_step:
            self._stop = True
        return self._stop

    @property
    def should_stop(self) -> bool:
        return self._stop

    @property
    def outer(self) -> Mapping[str, Any]:
        return self.outer_values

    def send_outer_grad(self, gradients: Mapping[str, Any], metrics: Mapping[str, float] | None = None) -> None:
        self.outer_gradients.append(dict(gradients))

    @property
    def outer_step(self) -> int:
        return 0

    def wait_outer(self, step: int, timeout: float | None = None) -> bool:
        return False  # no controller here: the outer variables never change

    def checkpoint_saved(self, step: int, path: str) -> None:
        pass

    def save_checkpoint(self, state: Any, step: int) -> bool:
        if self.checkpoints.save(state, step) is None:
            self._stop = True
            return False
        return True

    def load_checkpoint(self) -> Any | None:
        found = self.checkpoints.load()
        return None if found is None else found.state


def run_local(train: Trainable, params: Mapping[str, Any], **context: Any) -> tuple[dict[str, float], LocalContext]:
    """Call ``train(params, ctx)`` here; returns (final metrics, the context with its reports)."""
    ctx = LocalContext(**context)
    result = train(params, ctx)
    if result is not None:
        final = check_metrics(result, "trainable result")
    elif ctx.reports:
        final = ctx.reports[-1][1]
    else:
        raise ValueError("the trainable returned nothing and reported nothing")
    return final, ctx
