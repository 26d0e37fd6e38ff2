"""Every size a request can set, in one table (README: Security, Limits), and the checks that name them.

A limit exists so that no request, however crafted, can stall the controller or take its memory: each
bounds the work or the memory one request can cause, and is checked when the request arrives (most at
CreateStudy), so that nothing accepted then fails later. A refusal is INVALID_ARGUMENT naming the field
and the limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sized
from typing import Any

from nestor_controller.errors import SpecError

# --- messages and text ----------------------------------------------------------------------------------

#: The largest request the controller decodes (its --max-message-mb default); larger: RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: Names: study, parameter, metric, fidelity, trainable, label key, client and executor ids.
MAX_NAME_CHARS = 256
#: A string value: a categorical choice, a default, a condition value, a label value.
MAX_VALUE_CHARS = 1024
#: Free text that is stored: a stop reason, a trial's error.
MAX_TEXT_CHARS = 65_536
#: Error messages echo what was wrong; a refusal never carries more than this of it.
MAX_ERROR_CHARS = 2048

# --- a study spec ---------------------------------------------------------------------------------------

MAX_LABELS = 64
MAX_OBJECTIVES = 16
MAX_CONSTRAINTS = 16
#: Parameters of a space, architecture decisions included.
MAX_PARAMETERS = 1000
#: Choices of one categorical parameter.
MAX_CHOICES = 10_000
#: Integer bounds and values: every sampler handles integers up to 2**53 exactly (they pass through doubles).
MAX_ABS_INT = 2**53
#: Distinct values of a stepped double, (max - min) / step + 1.
MAX_STEPS = 2**53
#: The fidelity's min and max (both > 0) lie in this range.
MIN_FIDELITY = 1e-9
MAX_FIDELITY = 1e15
#: Rungs of a multi-fidelity ladder (log(max / min) / log(eta) + 1).
MAX_RUNGS = 100
#: Any integer algorithm or scheduler setting without a tighter limit of its own.
MAX_SETTING_INT = 1_000_000
#: Nesting of the JSON-like settings and trainable_config.
MAX_SETTINGS_DEPTH = 32

# --- warm starts and the study lifecycle ------------------------------------------------------------------

#: Prior studies one study learns from (named, found by labels or similar).
MAX_PRIOR_STUDIES = 32
#: Results taken from one prior study (its best quarter and an even spread of the rest).
MAX_PRIOR_OBSERVATIONS = 2000
#: warm_start.top_k, and warm_start.decay.
MAX_TOP_K = 1000
MAX_DECAY = 1e6
#: Meta-features of a task.
MAX_TASK_FEATURES = 256
#: Parameter sets one EnqueueTrials call sends, and a study's queue holds.
MAX_ENQUEUE = 1000
MAX_QUEUE = 10_000
#: Results one AddTrials call adds, and intermediate measurements one added result carries.
MAX_ADD = 1000
MAX_ADDED_MEASUREMENTS = 10_000
#: A trial's user attributes: keys, and their size as JSON.
MAX_USER_ATTRS = 256
MAX_USER_ATTRS_BYTES = 65_536

# --- what samplers may be asked to do --------------------------------------------------------------------

#: Points of a grid: the product over dimensions, conditional branches counted as they are.
MAX_GRID_POINTS = 1_000_000
#: Points times parameters of a grid: the memory it is held in.
MAX_GRID_VALUES = 10_000_000
#: Random candidates GP-BO scores per suggestion, and the L-BFGS starts it refines.
MAX_GP_CANDIDATES = 65_536
MAX_GP_RESTARTS = 100
#: Encoded columns GP-BO models: it scores every neighbour of its best points (a row per other choice).
MAX_GP_COLUMNS = 2048
#: Candidates TPE and BOHB draw and score per suggestion.
MAX_KDE_CANDIDATES = 10_000
#: Candidates times encoded columns (a categorical takes one column per choice): one candidate matrix.
MAX_CANDIDATE_VALUES = 2**24
#: Population of the evolutionary samplers.
MAX_POPULATION = 10_000
#: Values per numeric parameter of the RL policy, and weights of its network.
MAX_POLICY_BINS = 1000
MAX_POLICY_WEIGHTS = 2**24
#: The RL policy's learning_rate and entropy_weight, and its temperature and tanh_constant (logit scales).
MAX_POLICY_STEP = 10.0
MAX_POLICY_LOGIT = 100.0

# --- calls --------------------------------------------------------------------------------------------------

#: Metrics of one measurement.
MAX_METRICS = 1000
#: Slots and queued trials an executor may announce; trainables it may serve; devices it may list.
MAX_SLOTS = 4096
MAX_TRAINABLES = 1000
MAX_DEVICES = 1024


def check_length(value: str, where: str, limit: int = MAX_NAME_CHARS) -> str:
    """The string, unless it is too long or holds a NUL (which PostgreSQL cannot store)."""
    if len(value) > limit:
        raise SpecError(f"{where}: {len(value)} characters exceed the limit of {limit}")
    if "\x00" in value:
        raise SpecError(f"{where}: contains a NUL character")
    return value


def check_count(items: Sized, where: str, limit: int, what: str) -> None:
    n = len(items)
    if n > limit:
        raise SpecError(f"{where}: {n} {what} exceed the limit of {limit}")


def check_int(value: int, where: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise SpecError(f"{where}: must be between {low} and {high}, got {value}")
    return value


def check_metrics(metrics: Sized, names: Iterable[str], where: str) -> None:
    """A measurement's metrics: how many, and their names (the values are the study's business)."""
    check_count(metrics, where, MAX_METRICS, "metrics")
    for name in names:
        check_length(name, f"{where}: metric name {name[:40]!r}")


def check_executor_info(info: Any, where: str = "info") -> None:
    """What an executor says of itself, kept in memory and shown by ListExecutors: sane counts and names."""
    for field in ("slots", "busy_slots", "queue_capacity", "queued"):
        check_int(getattr(info, field), f"{where}.{field}", 0, MAX_SLOTS)
    check_length(info.executor_id, f"{where}.executor_id")
    check_length(info.version, f"{where}.version")
    check_count(info.trainables, f"{where}.trainables", MAX_TRAINABLES, "trainables")
    for i, name in enumerate(info.trainables):
        check_length(name, f"{where}.trainables[{i}]")
    check_count(info.devices, f"{where}.devices", MAX_DEVICES, "devices")
    for i, d in enumerate(info.devices):
        check_length(d.name, f"{where}.devices[{i}].name")
        check_length(d.kind, f"{where}.devices[{i}].kind")
    check_count(info.running, f"{where}.running", 2 * MAX_SLOTS, "runs")
    for i, r in enumerate(info.running):
        check_length(r.study_id, f"{where}.running[{i}].study_id")
