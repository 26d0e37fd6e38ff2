import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from nestor.v1 import space_pb2 as _space_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Goal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOAL_UNSPECIFIED: _ClassVar[Goal]
    GOAL_MINIMIZE: _ClassVar[Goal]
    GOAL_MAXIMIZE: _ClassVar[Goal]

class StudyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDY_STATE_UNSPECIFIED: _ClassVar[StudyState]
    STUDY_RUNNING: _ClassVar[StudyState]
    STUDY_COMPLETED: _ClassVar[StudyState]
    STUDY_STOPPED: _ClassVar[StudyState]
    STUDY_FAILED: _ClassVar[StudyState]

class TrialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STATE_UNSPECIFIED: _ClassVar[TrialState]
    TRIAL_PENDING: _ClassVar[TrialState]
    TRIAL_RUNNING: _ClassVar[TrialState]
    TRIAL_COMPLETED: _ClassVar[TrialState]
    TRIAL_STOPPED: _ClassVar[TrialState]
    TRIAL_FAILED: _ClassVar[TrialState]
    TRIAL_PAUSED: _ClassVar[TrialState]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_CONTINUE: _ClassVar[Decision]
    DECISION_STOP: _ClassVar[Decision]
GOAL_UNSPECIFIED: Goal
GOAL_MINIMIZE: Goal
GOAL_MAXIMIZE: Goal
STUDY_STATE_UNSPECIFIED: StudyState
STUDY_RUNNING: StudyState
STUDY_COMPLETED: StudyState
STUDY_STOPPED: StudyState
STUDY_FAILED: StudyState
TRIAL_STATE_UNSPECIFIED: TrialState
TRIAL_PENDING: TrialState
TRIAL_RUNNING: TrialState
TRIAL_COMPLETED: TrialState
TRIAL_STOPPED: TrialState
TRIAL_FAILED: TrialState
TRIAL_PAUSED: TrialState
DECISION_UNSPECIFIED: Decision
DECISION_CONTINUE: Decision
DECISION_STOP: Decision

class Objective(_message.Message):
    __slots__ = ("metric", "goal", "target", "reference")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    goal: Goal
    target: float
    reference: float
    def __init__(self, metric: _Optional[str] = ..., goal: _Optional[_Union[Goal, str]] = ..., target: _Optional[float] = ..., reference: _Optional[float] = ...) -> None: ...

class Constraint(_message.Message):
    __slots__ = ("metric", "min", "max")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    metric: str
    min: float
    max: float
    def __init__(self, metric: _Optional[str] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class AlgorithmSpec(_message.Message):
    __slots__ = ("name", "settings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    settings: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SchedulerSpec(_message.Message):
    __slots__ = ("name", "settings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    settings: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., settings: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("max_trials", "max_parallel", "max_failed")
    MAX_TRIALS_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLEL_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILED_FIELD_NUMBER: _ClassVar[int]
    max_trials: int
    max_parallel: int
    max_failed: int
    def __init__(self, max_trials: _Optional[int] = ..., max_parallel: _Optional[int] = ..., max_failed: _Optional[int] = ...) -> None: ...

class Fidelity(_message.Message):
    __slots__ = ("name", "min", "max")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    name: str
    min: float
    max: float
    def __init__(self, name: _Optional[str] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class StudySpec(_message.Message):
    __slots__ = ("name", "space", "objectives", "algorithm", "scheduler", "budget", "fidelity", "trainable", "trainable_config", "seed", "trial_timeout_s", "labels", "constraints", "heartbeat_timeout_s", "expired_trials", "warm_start", "task", "enqueue")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TRIAL_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_TRIALS_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ENQUEUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    space: _space_pb2.SearchSpace
    objectives: _containers.RepeatedCompositeFieldContainer[Objective]
    algorithm: AlgorithmSpec
    scheduler: SchedulerSpec
    budget: Budget
    fidelity: Fidelity
    trainable: str
    trainable_config: _struct_pb2.Struct
    seed: int
    trial_timeout_s: float
    labels: _containers.ScalarMap[str, str]
    constraints: _containers.RepeatedCompositeFieldContainer[Constraint]
    heartbeat_timeout_s: float
    expired_trials: str
    warm_start: WarmStart
    task: Task
    enqueue: _containers.RepeatedCompositeFieldContainer[ParamSet]
    def __init__(self, name: _Optional[str] = ..., space: _Optional[_Union[_space_pb2.SearchSpace, _Mapping]] = ..., objectives: _Optional[_Iterable[_Union[Objective, _Mapping]]] = ..., algorithm: _Optional[_Union[AlgorithmSpec, _Mapping]] = ..., scheduler: _Optional[_Union[SchedulerSpec, _Mapping]] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., fidelity: _Optional[_Union[Fidelity, _Mapping]] = ..., trainable: _Optional[str] = ..., trainable_config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., seed: _Optional[int] = ..., trial_timeout_s: _Optional[float] = ..., labels: _Optional[_Mapping[str, str]] = ..., constraints: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., heartbeat_timeout_s: _Optional[float] = ..., expired_trials: _Optional[str] = ..., warm_start: _Optional[_Union[WarmStart, _Mapping]] = ..., task: _Optional[_Union[Task, _Mapping]] = ..., enqueue: _Optional[_Iterable[_Union[ParamSet, _Mapping]]] = ...) -> None: ...

class WarmStart(_message.Message):
    __slots__ = ("studies", "labels", "similar", "mode", "top_k", "decay")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    DECAY_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.ScalarMap[str, str]
    similar: int
    mode: str
    top_k: int
    decay: float
    def __init__(self, studies: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., similar: _Optional[int] = ..., mode: _Optional[str] = ..., top_k: _Optional[int] = ..., decay: _Optional[float] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("features",)
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.ScalarMap[str, float]
    def __init__(self, features: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PriorStudy(_message.Message):
    __slots__ = ("study_id", "name", "distance", "observations")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    name: str
    distance: float
    observations: int
    def __init__(self, study_id: _Optional[str] = ..., name: _Optional[str] = ..., distance: _Optional[float] = ..., observations: _Optional[int] = ...) -> None: ...

class WarmStartSummary(_message.Message):
    __slots__ = ("mode", "priors", "observations", "weight", "enqueued")
    MODE_FIELD_NUMBER: _ClassVar[int]
    PRIORS_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_FIELD_NUMBER: _ClassVar[int]
    mode: str
    priors: _containers.RepeatedCompositeFieldContainer[PriorStudy]
    observations: int
    weight: float
    enqueued: int
    def __init__(self, mode: _Optional[str] = ..., priors: _Optional[_Iterable[_Union[PriorStudy, _Mapping]]] = ..., observations: _Optional[int] = ..., weight: _Optional[float] = ..., enqueued: _Optional[int] = ...) -> None: ...

class OneShotPair(_message.Message):
    __slots__ = ("evaluate_trial", "standalone_trial", "supernet_score", "standalone_value", "supernet_rank", "reason", "trained")
    EVALUATE_TRIAL_FIELD_NUMBER: _ClassVar[int]
    STANDALONE_TRIAL_FIELD_NUMBER: _ClassVar[int]
    SUPERNET_SCORE_FIELD_NUMBER: _ClassVar[int]
    STANDALONE_VALUE_FIELD_NUMBER: _ClassVar[int]
    SUPERNET_RANK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRAINED_FIELD_NUMBER: _ClassVar[int]
    evaluate_trial: int
    standalone_trial: int
    supernet_score: float
    standalone_value: float
    supernet_rank: int
    reason: str
    trained: int
    def __init__(self, evaluate_trial: _Optional[int] = ..., standalone_trial: _Optional[int] = ..., supernet_score: _Optional[float] = ..., standalone_value: _Optional[float] = ..., supernet_rank: _Optional[int] = ..., reason: _Optional[str] = ..., trained: _Optional[int] = ...) -> None: ...

class OneShotSummary(_message.Message):
    __slots__ = ("phase", "supernet_trial", "evaluated", "evaluations", "distinct", "standalone", "standalone_planned", "kendall_tau", "pairs", "sampler", "rounds", "round")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SUPERNET_TRIAL_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_FIELD_NUMBER: _ClassVar[int]
    STANDALONE_FIELD_NUMBER: _ClassVar[int]
    STANDALONE_PLANNED_FIELD_NUMBER: _ClassVar[int]
    KENDALL_TAU_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    phase: str
    supernet_trial: int
    evaluated: int
    evaluations: int
    distinct: int
    standalone: int
    standalone_planned: int
    kendall_tau: float
    pairs: _containers.RepeatedCompositeFieldContainer[OneShotPair]
    sampler: str
    rounds: int
    round: int
    def __init__(self, phase: _Optional[str] = ..., supernet_trial: _Optional[int] = ..., evaluated: _Optional[int] = ..., evaluations: _Optional[int] = ..., distinct: _Optional[int] = ..., standalone: _Optional[int] = ..., standalone_planned: _Optional[int] = ..., kendall_tau: _Optional[float] = ..., pairs: _Optional[_Iterable[_Union[OneShotPair, _Mapping]]] = ..., sampler: _Optional[str] = ..., rounds: _Optional[int] = ..., round: _Optional[int] = ...) -> None: ...

class TrialCounts(_message.Message):
    __slots__ = ("pending", "running", "completed", "stopped", "failed", "paused", "added", "queued")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    pending: int
    running: int
    completed: int
    stopped: int
    failed: int
    paused: int
    added: int
    queued: int
    def __init__(self, pending: _Optional[int] = ..., running: _Optional[int] = ..., completed: _Optional[int] = ..., stopped: _Optional[int] = ..., failed: _Optional[int] = ..., paused: _Optional[int] = ..., added: _Optional[int] = ..., queued: _Optional[int] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("id", "spec", "state", "create_time", "end_time", "counts", "reason", "seed", "hypervolume", "reference_point", "warm_start", "one_shot")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    HYPERVOLUME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_POINT_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    ONE_SHOT_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: StudySpec
    state: StudyState
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    counts: TrialCounts
    reason: str
    seed: int
    hypervolume: float
    reference_point: _containers.RepeatedScalarFieldContainer[float]
    warm_start: WarmStartSummary
    one_shot: OneShotSummary
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[StudySpec, _Mapping]] = ..., state: _Optional[_Union[StudyState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counts: _Optional[_Union[TrialCounts, _Mapping]] = ..., reason: _Optional[str] = ..., seed: _Optional[int] = ..., hypervolume: _Optional[float] = ..., reference_point: _Optional[_Iterable[float]] = ..., warm_start: _Optional[_Union[WarmStartSummary, _Mapping]] = ..., one_shot: _Optional[_Union[OneShotSummary, _Mapping]] = ...) -> None: ...

class Measurement(_message.Message):
    __slots__ = ("step", "metrics", "elapsed_s")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    step: int
    metrics: _containers.ScalarMap[str, float]
    elapsed_s: float
    def __init__(self, step: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., elapsed_s: _Optional[float] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("study_id", "id", "params", "state", "measurements", "final_measurement", "executor", "error", "stop_reason", "create_time", "start_time", "end_time", "budget", "attempt", "decision", "infeasible", "checkpoint", "origin", "user_attrs", "lineage")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _space_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_space_pb2.Value, _Mapping]] = ...) -> None: ...
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    FINAL_MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    INFEASIBLE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    USER_ATTRS_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    id: int
    params: _containers.MessageMap[str, _space_pb2.Value]
    state: TrialState
    measurements: _containers.RepeatedCompositeFieldContainer[Measurement]
    final_measurement: Measurement
    executor: str
    error: str
    stop_reason: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    budget: float
    attempt: int
    decision: str
    infeasible: bool
    checkpoint: str
    origin: str
    user_attrs: _struct_pb2.Struct
    lineage: _containers.RepeatedCompositeFieldContainer[LineageStep]
    def __init__(self, study_id: _Optional[str] = ..., id: _Optional[int] = ..., params: _Optional[_Mapping[str, _space_pb2.Value]] = ..., state: _Optional[_Union[TrialState, str]] = ..., measurements: _Optional[_Iterable[_Union[Measurement, _Mapping]]] = ..., final_measurement: _Optional[_Union[Measurement, _Mapping]] = ..., executor: _Optional[str] = ..., error: _Optional[str] = ..., stop_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., budget: _Optional[float] = ..., attempt: _Optional[int] = ..., decision: _Optional[str] = ..., infeasible: _Optional[bool] = ..., checkpoint: _Optional[str] = ..., origin: _Optional[str] = ..., user_attrs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., lineage: _Optional[_Iterable[_Union[LineageStep, _Mapping]]] = ...) -> None: ...

class LineageStep(_message.Message):
    __slots__ = ("step", "params", "donor_trial_id", "reason", "checkpoint")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _space_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_space_pb2.Value, _Mapping]] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    DONOR_TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    step: int
    params: _containers.MessageMap[str, _space_pb2.Value]
    donor_trial_id: int
    reason: str
    checkpoint: str
    def __init__(self, step: _Optional[int] = ..., params: _Optional[_Mapping[str, _space_pb2.Value]] = ..., donor_trial_id: _Optional[int] = ..., reason: _Optional[str] = ..., checkpoint: _Optional[str] = ...) -> None: ...

class ParamSet(_message.Message):
    __slots__ = ("params", "user_attrs")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _space_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_space_pb2.Value, _Mapping]] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    USER_ATTRS_FIELD_NUMBER: _ClassVar[int]
    params: _containers.MessageMap[str, _space_pb2.Value]
    user_attrs: _struct_pb2.Struct
    def __init__(self, params: _Optional[_Mapping[str, _space_pb2.Value]] = ..., user_attrs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AddedTrial(_message.Message):
    __slots__ = ("params", "final_measurement", "measurements", "error", "user_attrs")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _space_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_space_pb2.Value, _Mapping]] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FINAL_MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USER_ATTRS_FIELD_NUMBER: _ClassVar[int]
    params: _containers.MessageMap[str, _space_pb2.Value]
    final_measurement: Measurement
    measurements: _containers.RepeatedCompositeFieldContainer[Measurement]
    error: str
    user_attrs: _struct_pb2.Struct
    def __init__(self, params: _Optional[_Mapping[str, _space_pb2.Value]] = ..., final_measurement: _Optional[_Union[Measurement, _Mapping]] = ..., measurements: _Optional[_Iterable[_Union[Measurement, _Mapping]]] = ..., error: _Optional[str] = ..., user_attrs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
