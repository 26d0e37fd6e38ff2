from google.protobuf import struct_pb2 as _struct_pb2
from nestor.v1 import space_pb2 as _space_pb2
from nestor.v1 import study_pb2 as _study_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Device(_message.Message):
    __slots__ = ("name", "kind", "memory_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    memory_bytes: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class ExecutorInfo(_message.Message):
    __slots__ = ("executor_id", "slots", "busy_slots", "devices", "trainables", "version", "queue_capacity", "queued", "running", "runs_trials_together")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    BUSY_SLOTS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    TRAINABLES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    RUNS_TRIALS_TOGETHER_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    slots: int
    busy_slots: int
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    trainables: _containers.RepeatedScalarFieldContainer[str]
    version: str
    queue_capacity: int
    queued: int
    running: _containers.RepeatedCompositeFieldContainer[RunningTrial]
    runs_trials_together: bool
    def __init__(self, executor_id: _Optional[str] = ..., slots: _Optional[int] = ..., busy_slots: _Optional[int] = ..., devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., trainables: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., queue_capacity: _Optional[int] = ..., queued: _Optional[int] = ..., running: _Optional[_Iterable[_Union[RunningTrial, _Mapping]]] = ..., runs_trials_together: _Optional[bool] = ...) -> None: ...

class RunningTrial(_message.Message):
    __slots__ = ("study_id", "trial_id", "attempt", "started")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    attempt: int
    started: bool
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., attempt: _Optional[int] = ..., started: _Optional[bool] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("shape", "values")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class OuterVariables(_message.Message):
    __slots__ = ("step", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    step: int
    values: _containers.MessageMap[str, Tensor]
    def __init__(self, step: _Optional[int] = ..., values: _Optional[_Mapping[str, Tensor]] = ...) -> None: ...

class OuterGradient(_message.Message):
    __slots__ = ("step", "gradients", "metrics")
    class GradientsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    step: int
    gradients: _containers.MessageMap[str, Tensor]
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, step: _Optional[int] = ..., gradients: _Optional[_Mapping[str, Tensor]] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TrialAssignment(_message.Message):
    __slots__ = ("study_id", "trial_id", "trainable", "params", "config", "fidelity_name", "budget", "deadline_s", "checkpoint_dir", "attempt", "outer", "seed", "max_budget", "accepts_measurement_batches", "restore_from")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _space_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_space_pb2.Value, _Mapping]] = ...) -> None: ...
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    TRAINABLE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_NAME_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_DIR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OUTER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_BUDGET_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_MEASUREMENT_BATCHES_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FROM_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    trial_id: int
    trainable: str
    params: _containers.MessageMap[str, _space_pb2.Value]
    config: _struct_pb2.Struct
    fidelity_name: str
    budget: float
    deadline_s: float
    checkpoint_dir: str
    attempt: int
    outer: OuterVariables
    seed: int
    max_budget: float
    accepts_measurement_batches: bool
    restore_from: str
    def __init__(self, study_id: _Optional[str] = ..., trial_id: _Optional[int] = ..., trainable: _Optional[str] = ..., params: _Optional[_Mapping[str, _space_pb2.Value]] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., fidelity_name: _Optional[str] = ..., budget: _Optional[float] = ..., deadline_s: _Optional[float] = ..., checkpoint_dir: _Optional[str] = ..., attempt: _Optional[int] = ..., outer: _Optional[_Union[OuterVariables, _Mapping]] = ..., seed: _Optional[int] = ..., max_budget: _Optional[float] = ..., accepts_measurement_batches: _Optional[bool] = ..., restore_from: _Optional[str] = ...) -> None: ...

class MeasurementAnswer(_message.Message):
    __slots__ = ("step", "decision", "reason")
    STEP_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    step: int
    decision: _study_pb2.Decision
    reason: str
    def __init__(self, step: _Optional[int] = ..., decision: _Optional[_Union[_study_pb2.Decision, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class StopTrial(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ControllerMessage(_message.Message):
    __slots__ = ("assignment", "answer", "stop", "outer")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    OUTER_FIELD_NUMBER: _ClassVar[int]
    assignment: TrialAssignment
    answer: MeasurementAnswer
    stop: StopTrial
    outer: OuterVariables
    def __init__(self, assignment: _Optional[_Union[TrialAssignment, _Mapping]] = ..., answer: _Optional[_Union[MeasurementAnswer, _Mapping]] = ..., stop: _Optional[_Union[StopTrial, _Mapping]] = ..., outer: _Optional[_Union[OuterVariables, _Mapping]] = ...) -> None: ...

class TrialStarted(_message.Message):
    __slots__ = ("executor_id", "device", "slot")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    device: str
    slot: int
    def __init__(self, executor_id: _Optional[str] = ..., device: _Optional[str] = ..., slot: _Optional[int] = ...) -> None: ...

class CheckpointSaved(_message.Message):
    __slots__ = ("step", "path")
    STEP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    step: int
    path: str
    def __init__(self, step: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class TrialResult(_message.Message):
    __slots__ = ("final_measurement", "error", "stopped")
    FINAL_MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    final_measurement: _study_pb2.Measurement
    error: str
    stopped: bool
    def __init__(self, final_measurement: _Optional[_Union[_study_pb2.Measurement, _Mapping]] = ..., error: _Optional[str] = ..., stopped: _Optional[bool] = ...) -> None: ...

class ExecutorMessage(_message.Message):
    __slots__ = ("started", "measurement", "checkpoint", "result", "outer_gradient", "measurements")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    OUTER_GRADIENT_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    started: TrialStarted
    measurement: _study_pb2.Measurement
    checkpoint: CheckpointSaved
    result: TrialResult
    outer_gradient: OuterGradient
    measurements: MeasurementBatch
    def __init__(self, started: _Optional[_Union[TrialStarted, _Mapping]] = ..., measurement: _Optional[_Union[_study_pb2.Measurement, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointSaved, _Mapping]] = ..., result: _Optional[_Union[TrialResult, _Mapping]] = ..., outer_gradient: _Optional[_Union[OuterGradient, _Mapping]] = ..., measurements: _Optional[_Union[MeasurementBatch, _Mapping]] = ...) -> None: ...

class MeasurementBatch(_message.Message):
    __slots__ = ("measurements",)
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    measurements: _containers.RepeatedCompositeFieldContainer[_study_pb2.Measurement]
    def __init__(self, measurements: _Optional[_Iterable[_Union[_study_pb2.Measurement, _Mapping]]] = ...) -> None: ...

class RunControls(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RunControl]
    def __init__(self, items: _Optional[_Iterable[_Union[RunControl, _Mapping]]] = ...) -> None: ...

class RunControl(_message.Message):
    __slots__ = ("run", "message", "done_writing", "cancel")
    RUN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_WRITING_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    run: int
    message: ControllerMessage
    done_writing: bool
    cancel: bool
    def __init__(self, run: _Optional[int] = ..., message: _Optional[_Union[ControllerMessage, _Mapping]] = ..., done_writing: _Optional[bool] = ..., cancel: _Optional[bool] = ...) -> None: ...

class RunReplies(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RunReply]
    def __init__(self, items: _Optional[_Iterable[_Union[RunReply, _Mapping]]] = ...) -> None: ...

class RunReply(_message.Message):
    __slots__ = ("run", "message", "end")
    RUN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    run: int
    message: ExecutorMessage
    end: RunEnd
    def __init__(self, run: _Optional[int] = ..., message: _Optional[_Union[ExecutorMessage, _Mapping]] = ..., end: _Optional[_Union[RunEnd, _Mapping]] = ...) -> None: ...

class RunEnd(_message.Message):
    __slots__ = ("code", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    details: str
    def __init__(self, code: _Optional[int] = ..., details: _Optional[str] = ...) -> None: ...
