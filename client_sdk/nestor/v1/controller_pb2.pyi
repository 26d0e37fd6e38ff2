import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from nestor.v1 import executor_pb2 as _executor_pb2
from nestor.v1 import space_pb2 as _space_pb2
from nestor.v1 import study_pb2 as _study_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StudyEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDY_EVENT_TYPE_UNSPECIFIED: _ClassVar[StudyEventType]
    STUDY_EVENT_STUDY_CREATED: _ClassVar[StudyEventType]
    STUDY_EVENT_STUDY_ENDED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_CREATED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_STARTED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_MEASUREMENT: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_COMPLETED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_STOPPED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_FAILED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_REQUEUED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_DECISION: _ClassVar[StudyEventType]
    STUDY_EVENT_OUTER_UPDATE: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_PAUSED: _ClassVar[StudyEventType]
    STUDY_EVENT_TRIAL_PROMOTED: _ClassVar[StudyEventType]
    STUDY_EVENT_STUDY_EXTENDED: _ClassVar[StudyEventType]
STUDY_EVENT_TYPE_UNSPECIFIED: StudyEventType
STUDY_EVENT_STUDY_CREATED: StudyEventType
STUDY_EVENT_STUDY_ENDED: StudyEventType
STUDY_EVENT_TRIAL_CREATED: StudyEventType
STUDY_EVENT_TRIAL_STARTED: StudyEventType
STUDY_EVENT_TRIAL_MEASUREMENT: StudyEventType
STUDY_EVENT_TRIAL_COMPLETED: StudyEventType
STUDY_EVENT_TRIAL_STOPPED: StudyEventType
STUDY_EVENT_TRIAL_FAILED: StudyEventType
STUDY_EVENT_TRIAL_REQUEUED: StudyEventType
STUDY_EVENT_TRIAL_DECISION: StudyEventType
STUDY_EVENT_OUTER_UPDATE: StudyEventType
STUDY_EVENT_TRIAL_PAUSED: StudyEventType
STUDY_EVENT_TRIAL_PROMOTED: StudyEventType
STUDY_EVENT_STUDY_EXTENDED: StudyEventType

class CreateStudyRequest(_message.Message):
    __slots__ = ("spec", "request_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    spec: _study_pb2.StudySpec
    request_id: str
    def __init__(self, spec: _Optional[_Union[_study_pb2.StudySpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetStudyRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    def __init__(self, study_id: _Optional[str] = ...) -> None: ...

class ListStudiesRequest(_message.Message):
    __slots__ = ("include_finished", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    include_finished: bool
    labels: _containers.ScalarMap[str, str]
    def __init__(self, include_finished: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListStudiesResponse(_message.Message):
    __slots__ = ("studies",)
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedCompositeFieldContainer[_study_pb2.Study]
    def __init__(self, studies: _Optional[_Iterable[_Union[_study_pb2.Study, _Mapping]]] = ...) -> None: ...

class StopStudyRequest(_message.Message):
    __slots__ = ("study_id", "reason")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    reason: str
    def __init__(self, study_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeleteStudyRequest(_message.Message):
    __slots__ = ("study_id", "purge_artifacts")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    PURGE_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    purge_artifacts: bool
    def __init__(self, study_id: _Optional[str] = ..., purge_artifacts: _Optional[bool] = ...) -> None: ...

class DeleteStudyResponse(_message.Message):
    __slots__ = ("purged", "purge_note")
    PURGED_FIELD_NUMBER: _ClassVar[int]
    PURGE_NOTE_FIELD_NUMBER: _ClassVar[int]
    purged: _containers.RepeatedScalarFieldContainer[str]
    purge_note: str
    def __init__(self, purged: _Optional[_Iterable[str]] = ..., purge_note: _Optional[str] = ...) -> None: ...

class EnqueueTrialsRequest(_message.Message):
    __slots__ = ("study_id", "trials", "skip_duplicates", "request_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    SKIP_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trials: _containers.RepeatedCompositeFieldContainer[_study_pb2.ParamSet]
    skip_duplicates: bool
    request_id: str
    def __init__(self, study_id: _Optional[str] = ..., trials: _Optional[_Iterable[_Union[_study_pb2.ParamSet, _Mapping]]] = ..., skip_duplicates: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class EnqueueTrialsResponse(_message.Message):
    __slots__ = ("enqueued", "queued")
    ENQUEUED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    enqueued: int
    queued: int
    def __init__(self, enqueued: _Optional[int] = ..., queued: _Optional[int] = ...) -> None: ...

class AddTrialsRequest(_message.Message):
    __slots__ = ("study_id", "trials", "request_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trials: _containers.RepeatedCompositeFieldContainer[_study_pb2.AddedTrial]
    request_id: str
    def __init__(self, study_id: _Optional[str] = ..., trials: _Optional[_Iterable[_Union[_study_pb2.AddedTrial, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddTrialsResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_study_pb2.Trial]
    def __init__(self, trials: _Optional[_Iterable[_Union[_study_pb2.Trial, _Mapping]]] = ...) -> None: ...

class ExtendStudyRequest(_message.Message):
    __slots__ = ("study_id", "max_trials", "request_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIALS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    max_trials: int
    request_id: str
    def __init__(self, study_id: _Optional[str] = ..., max_trials: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetTrialUserAttrsRequest(_message.Message):
    __slots__ = ("study_id", "trial_id", "user_attrs")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ATTRS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    user_attrs: _struct_pb2.Struct
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., user_attrs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SuggestTrialsRequest(_message.Message):
    __slots__ = ("study_id", "count", "client_id", "request_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    count: int
    client_id: str
    request_id: str
    def __init__(self, study_id: _Optional[str] = ..., count: _Optional[int] = ..., client_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SuggestTrialsResponse(_message.Message):
    __slots__ = ("trials", "study_done")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    STUDY_DONE_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_study_pb2.Trial]
    study_done: bool
    def __init__(self, trials: _Optional[_Iterable[_Union[_study_pb2.Trial, _Mapping]]] = ..., study_done: _Optional[bool] = ...) -> None: ...

class ReportMeasurementRequest(_message.Message):
    __slots__ = ("study_id", "trial_id", "measurement", "request_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    measurement: _study_pb2.Measurement
    request_id: str
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., measurement: _Optional[_Union[_study_pb2.Measurement, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReportMeasurementResponse(_message.Message):
    __slots__ = ("decision", "reason")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    decision: _study_pb2.Decision
    reason: str
    def __init__(self, decision: _Optional[_Union[_study_pb2.Decision, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class CompleteTrialRequest(_message.Message):
    __slots__ = ("study_id", "trial_id", "final_measurement", "error", "request_id", "measurements")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    FINAL_MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    final_measurement: _study_pb2.Measurement
    error: str
    request_id: str
    measurements: _containers.RepeatedCompositeFieldContainer[_study_pb2.Measurement]
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., final_measurement: _Optional[_Union[_study_pb2.Measurement, _Mapping]] = ..., error: _Optional[str] = ..., request_id: _Optional[str] = ..., measurements: _Optional[_Iterable[_Union[_study_pb2.Measurement, _Mapping]]] = ...) -> None: ...

class GetTrialRequest(_message.Message):
    __slots__ = ("study_id", "trial_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ...) -> None: ...

class ListTrialsRequest(_message.Message):
    __slots__ = ("study_id", "states", "include_measurements")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    states: _containers.RepeatedScalarFieldContainer[_study_pb2.TrialState]
    include_measurements: bool
    def __init__(self, study_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_study_pb2.TrialState, str]]] = ..., include_measurements: _Optional[bool] = ...) -> None: ...

class ListTrialsResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_study_pb2.Trial]
    def __init__(self, trials: _Optional[_Iterable[_Union[_study_pb2.Trial, _Mapping]]] = ...) -> None: ...

class ListTrialColumnsRequest(_message.Message):
    __slots__ = ("study_id", "metrics")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    metrics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, study_id: _Optional[str] = ..., metrics: _Optional[_Iterable[str]] = ...) -> None: ...

class TrialColumns(_message.Message):
    __slots__ = ("id", "state", "values", "params", "create_time", "start_time", "end_time", "executor", "budget", "attempt", "reason", "infeasible")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INFEASIBLE_FIELD_NUMBER: _ClassVar[int]
    id: _containers.RepeatedScalarFieldContainer[int]
    state: _containers.RepeatedScalarFieldContainer[_study_pb2.TrialState]
    values: _containers.RepeatedCompositeFieldContainer[ValueColumn]
    params: _containers.RepeatedCompositeFieldContainer[ParamColumn]
    create_time: _containers.RepeatedScalarFieldContainer[float]
    start_time: _containers.RepeatedScalarFieldContainer[float]
    end_time: _containers.RepeatedScalarFieldContainer[float]
    executor: _containers.RepeatedScalarFieldContainer[str]
    budget: _containers.RepeatedScalarFieldContainer[float]
    attempt: _containers.RepeatedScalarFieldContainer[int]
    reason: _containers.RepeatedScalarFieldContainer[str]
    infeasible: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, id: _Optional[_Iterable[int]] = ..., state: _Optional[_Iterable[_Union[_study_pb2.TrialState, str]]] = ..., values: _Optional[_Iterable[_Union[ValueColumn, _Mapping]]] = ..., params: _Optional[_Iterable[_Union[ParamColumn, _Mapping]]] = ..., create_time: _Optional[_Iterable[float]] = ..., start_time: _Optional[_Iterable[float]] = ..., end_time: _Optional[_Iterable[float]] = ..., executor: _Optional[_Iterable[str]] = ..., budget: _Optional[_Iterable[float]] = ..., attempt: _Optional[_Iterable[int]] = ..., reason: _Optional[_Iterable[str]] = ..., infeasible: _Optional[_Iterable[bool]] = ...) -> None: ...

class ValueColumn(_message.Message):
    __slots__ = ("metric", "values")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    metric: str
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, metric: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class ParamColumn(_message.Message):
    __slots__ = ("name", "numbers", "codes", "labels", "categorical", "integer")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    name: str
    numbers: _containers.RepeatedScalarFieldContainer[float]
    codes: _containers.RepeatedScalarFieldContainer[int]
    labels: _containers.RepeatedCompositeFieldContainer[_space_pb2.Value]
    categorical: bool
    integer: bool
    def __init__(self, name: _Optional[str] = ..., numbers: _Optional[_Iterable[float]] = ..., codes: _Optional[_Iterable[int]] = ..., labels: _Optional[_Iterable[_Union[_space_pb2.Value, _Mapping]]] = ..., categorical: _Optional[bool] = ..., integer: _Optional[bool] = ...) -> None: ...

class GetBestTrialsRequest(_message.Message):
    __slots__ = ("study_id", "count")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    count: int
    def __init__(self, study_id: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GetBestTrialsResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_study_pb2.Trial]
    def __init__(self, trials: _Optional[_Iterable[_Union[_study_pb2.Trial, _Mapping]]] = ...) -> None: ...

class WatchStudyRequest(_message.Message):
    __slots__ = ("study_id", "after_seq")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    after_seq: int
    def __init__(self, study_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class StudyEvent(_message.Message):
    __slots__ = ("seq", "study_id", "type", "time", "trial_id", "trial", "measurement", "study_state", "counts", "message", "outer", "hypervolume")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    STUDY_STATE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTER_FIELD_NUMBER: _ClassVar[int]
    HYPERVOLUME_FIELD_NUMBER: _ClassVar[int]
    seq: int
    study_id: str
    type: StudyEventType
    time: _timestamp_pb2.Timestamp
    trial_id: int
    trial: _study_pb2.Trial
    measurement: _study_pb2.Measurement
    study_state: _study_pb2.StudyState
    counts: _study_pb2.TrialCounts
    message: str
    outer: OuterStep
    hypervolume: float
    def __init__(self, seq: _Optional[int] = ..., study_id: _Optional[str] = ..., type: _Optional[_Union[StudyEventType, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trial_id: _Optional[int] = ..., trial: _Optional[_Union[_study_pb2.Trial, _Mapping]] = ..., measurement: _Optional[_Union[_study_pb2.Measurement, _Mapping]] = ..., study_state: _Optional[_Union[_study_pb2.StudyState, str]] = ..., counts: _Optional[_Union[_study_pb2.TrialCounts, _Mapping]] = ..., message: _Optional[str] = ..., outer: _Optional[_Union[OuterStep, _Mapping]] = ..., hypervolume: _Optional[float] = ...) -> None: ...

class StudyEventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StudyEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[StudyEvent, _Mapping]]] = ...) -> None: ...

class OuterStep(_message.Message):
    __slots__ = ("trial_id", "step", "gradient_step", "values", "metrics", "time", "attempt")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _executor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_executor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_STEP_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    step: int
    gradient_step: int
    values: _containers.MessageMap[str, _executor_pb2.Tensor]
    metrics: _containers.ScalarMap[str, float]
    time: _timestamp_pb2.Timestamp
    attempt: int
    def __init__(self, trial_id: _Optional[int] = ..., step: _Optional[int] = ..., gradient_step: _Optional[int] = ..., values: _Optional[_Mapping[str, _executor_pb2.Tensor]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

class ReportOuterGradientRequest(_message.Message):
    __slots__ = ("study_id", "trial_id", "gradient", "request_id")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    gradient: _executor_pb2.OuterGradient
    request_id: str
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., gradient: _Optional[_Union[_executor_pb2.OuterGradient, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetOuterStateRequest(_message.Message):
    __slots__ = ("study_id", "trial_id", "include_history", "history_every")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    HISTORY_EVERY_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    include_history: bool
    history_every: int
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., include_history: _Optional[bool] = ..., history_every: _Optional[int] = ...) -> None: ...

class TrialOuterState(_message.Message):
    __slots__ = ("trial_id", "strategy", "values", "summary", "history")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    strategy: str
    values: _executor_pb2.OuterVariables
    summary: _struct_pb2.Struct
    history: _containers.RepeatedCompositeFieldContainer[OuterStep]
    def __init__(self, trial_id: _Optional[int] = ..., strategy: _Optional[str] = ..., values: _Optional[_Union[_executor_pb2.OuterVariables, _Mapping]] = ..., summary: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., history: _Optional[_Iterable[_Union[OuterStep, _Mapping]]] = ...) -> None: ...

class GetOuterStateResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[TrialOuterState]
    def __init__(self, trials: _Optional[_Iterable[_Union[TrialOuterState, _Mapping]]] = ...) -> None: ...

class RegisterExecutorRequest(_message.Message):
    __slots__ = ("address", "info")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    address: str
    info: _executor_pb2.ExecutorInfo
    def __init__(self, address: _Optional[str] = ..., info: _Optional[_Union[_executor_pb2.ExecutorInfo, _Mapping]] = ...) -> None: ...

class RegisterExecutorResponse(_message.Message):
    __slots__ = ("executor_id",)
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    def __init__(self, executor_id: _Optional[str] = ...) -> None: ...

class ListExecutorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExecutorStatus(_message.Message):
    __slots__ = ("address", "info", "healthy", "running_trials", "last_seen")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TRIALS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    address: str
    info: _executor_pb2.ExecutorInfo
    healthy: bool
    running_trials: int
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, address: _Optional[str] = ..., info: _Optional[_Union[_executor_pb2.ExecutorInfo, _Mapping]] = ..., healthy: _Optional[bool] = ..., running_trials: _Optional[int] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListExecutorsResponse(_message.Message):
    __slots__ = ("executors",)
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    executors: _containers.RepeatedCompositeFieldContainer[ExecutorStatus]
    def __init__(self, executors: _Optional[_Iterable[_Union[ExecutorStatus, _Mapping]]] = ...) -> None: ...
