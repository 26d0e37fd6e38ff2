"""`Trial`: one point of a study's space, as a handle that can report and complete it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, struct_pb2

from nestor.connection import new_request_id
from nestor.errors import FailedPrecondition
from nestor.lineage import Interval, intervals
from nestor.outer import tensor, values_dict
from nestor.trainable import check_metrics
from nestor.v1 import controller_pb2, executor_pb2, study_pb2
from nestor.values import ParamValue, params_from_proto

if TYPE_CHECKING:
    from nestor.connection import Connection

TRIAL_STATE_NAMES: dict[int, str] = {v: k.removeprefix("TRIAL_") for k, v in study_pb2.TrialState.items()}
TRIAL_STATE_NAMES[study_pb2.TRIAL_STATE_UNSPECIFIED] = "UNSPECIFIED"


class Trial:
    """A trial of a study. ``report``/``complete``/``fail`` are for client-driven (ask/tell) studies."""

    def __init__(self, connection: Connection, proto: study_pb2.Trial, order: Sequence[str] = (),
                 scheduler: str = "") -> None:
        self._conn = connection
        self.proto = proto
        #: The scheduler the study's spec names ("" for none named: the controller decides, and checks).
        self._scheduler = scheduler
        #: The space's parameter names in declared order: ``params`` follows it (a proto map has no order).
        self._order = order
        self._params: dict[str, ParamValue] | None = None
        # Measures elapsed time when the trial carries no start time (older controllers).
        self._t0 = time.monotonic()
        self._last_step = max((m.step for m in proto.measurements), default=0)
        #: Reports kept to go with complete() or fail() (report(..., defer=True)).
        self._deferred: list[study_pb2.Measurement] = []
        self.should_stop = False
        self.stop_reason = ""

    # --- what the trial is -------------------------------------------------

    @property
    def id(self) -> int:
        return self.proto.id

    @property
    def study_id(self) -> str:
        return self.proto.study_id

    @property
    def params(self) -> dict[str, ParamValue]:
        if self._params is None:
            params = params_from_proto(self.proto.params)
            rank = {name: i for i, name in enumerate(self._order)}
            self._params = dict(sorted(params.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
        return self._params

    @property
    def checkpoint(self) -> str:
        """Where its checkpoints are (a folder under the controller's --artifact-dir, else relative to its
        executor's own); empty when it never ran on an executor."""
        return self.proto.checkpoint

    @property
    def lineage(self) -> list[Interval]:
        """A population member's intervals (pbt, pb2), oldest first; empty for other trials. In an ask/tell
        study, the last one's ``donor`` and ``step`` say whose weights, at which step, to continue from."""
        return intervals(self.proto)

    @property
    def state(self) -> study_pb2.TrialState:
        return self.proto.state

    @property
    def state_name(self) -> str:
        return TRIAL_STATE_NAMES.get(self.proto.state, str(self.proto.state))

    @property
    def measurements(self) -> list[study_pb2.Measurement]:
        return list(self.proto.measurements)

    @property
    def final_metrics(self) -> dict[str, float]:
        return dict(self.proto.final_measurement.metrics)

    @property
    def executor(self) -> str:
        return self.proto.executor

    @property
    def error(self) -> str:
        return self.proto.error

    @property
    def budget(self) -> float:
        return self.proto.budget

    @property
    def origin(self) -> str:
        """Where its parameters came from: "" the sampler, "enqueued", "warm_start" or "added"."""
        return self.proto.origin

    @property
    def user_attrs(self) -> dict[str, Any]:
        return json_format.MessageToDict(self.proto.user_attrs)

    def set_user_attrs(self, **attrs: Any) -> Trial:
        """Sets JSON-like attributes of the trial (merged with those it has; None removes one)."""
        s = struct_pb2.Struct()
        s.update(attrs)
        request = controller_pb2.SetTrialUserAttrsRequest(study_id=self.study_id, trial_id=self.id, user_attrs=s)
        return self._replace(self._conn.call("SetTrialUserAttrs", request))

    def set_user_attr(self, key: str, value: Any) -> Trial:
        """Sets one attribute (as Optuna's ``Trial.set_user_attr``)."""
        return self.set_user_attrs(**{key: value})

    def __repr__(self) -> str:
        return (f"Trial(study={self.study_id!r}, id={self.id}, state={self.state_name}, "
                f"params={self.params!r})")

    def _replace(self, proto: study_pb2.Trial) -> Trial:
        self.proto = proto
        self._params = None
        return self

    def refresh(self) -> Trial:
        """Reloads the trial from the controller, with its measurements."""
        return self._replace(self._conn.call(
            "GetTrial", controller_pb2.GetTrialRequest(study_id=self.study_id, trial_id=self.id)))

    # --- ask/tell ------------------------------------------------------------

    def _elapsed(self) -> float:
        if self.proto.HasField("start_time"):
            return max(0.0, time.time() - self.proto.start_time.ToNanoseconds() / 1e9)
        return time.monotonic() - self._t0

    def _measurement(self, step: int, metrics: Mapping[str, float]) -> study_pb2.Measurement:
        checked = check_metrics(metrics, f"trial {self.id}, step {step}")
        return study_pb2.Measurement(step=step, metrics=checked, elapsed_s=self._elapsed())

    def report(self, step: int, metrics: Mapping[str, float], *, defer: bool = False) -> bool:
        """Sends an intermediate measurement; True means the controller asks the trial to stop.

        With ``defer=True`` the measurement (its elapsed time taken now) is kept here and sent with
        complete() or fail(), in the same call: no round trip per report, but no early stopping either, so
        only a study without a scheduler takes it; it returns False. Deferred reports are lost if this
        process dies before the trial ends."""
        if defer and self._scheduler not in ("", "none"):
            # Refused here, before a measurement is kept that neither complete() nor fail() could then send.
            raise FailedPrecondition(f"trial {self.id}: study {self.study_id} stops trials early (scheduler "
                                     f"{self._scheduler}); report without defer so that it sees each measurement")
        measurement = self._measurement(step, metrics)
        if defer:
            self._deferred.append(measurement)
            self._last_step = max(self._last_step, step)
            return False
        request = controller_pb2.ReportMeasurementRequest(
            study_id=self.study_id, trial_id=self.id, measurement=measurement, request_id=new_request_id())
        answer = self._conn.call("ReportMeasurement", request)
        self._last_step = max(self._last_step, step)
        if answer.decision == study_pb2.DECISION_STOP:
            self.should_stop = True
            self.stop_reason = answer.reason
        return self.should_stop

    def outer(self) -> dict[str, Any]:
        """Bilevel strategies: the trial's outer variables as the controller holds them (nested lists)."""
        request = controller_pb2.GetOuterStateRequest(study_id=self.study_id, trial_id=self.id)
        held = self._conn.call("GetOuterState", request).trials
        return values_dict(held[0].values.values) if held else {}

    def send_outer_grad(self, gradients: Mapping[str, Any],
                        metrics: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Bilevel strategies: the gradient of the validation loss w.r.t. the outer variables (numbers,
        nested lists or arrays); returns the updated variables."""
        grad = executor_pb2.OuterGradient(gradients={k: tensor(v) for k, v in gradients.items()},
                                          metrics=check_metrics(metrics or {}, f"trial {self.id}, outer gradient"))
        request = controller_pb2.ReportOuterGradientRequest(study_id=self.study_id, trial_id=self.id, gradient=grad,
                                                            request_id=new_request_id())
        return values_dict(self._conn.call("ReportOuterGradient", request).values)

    def complete(self, metrics: Mapping[str, float] | None = None) -> Trial:
        """Tells the final result; without ``metrics`` the last reported measurement is the result."""
        request = controller_pb2.CompleteTrialRequest(study_id=self.study_id, trial_id=self.id,
                                                      request_id=new_request_id())
        if metrics is not None:
            request.final_measurement.CopyFrom(self._measurement(self._last_step, metrics))
        return self._end(request)

    def fail(self, reason: str) -> Trial:
        """Tells that the trial failed, and why."""
        return self._end(controller_pb2.CompleteTrialRequest(study_id=self.study_id, trial_id=self.id,
                                                             error=reason or "failed", request_id=new_request_id()))

    def _end(self, request: controller_pb2.CompleteTrialRequest) -> Trial:
        request.measurements.extend(self._deferred)
        ended = self._replace(self._conn.call("CompleteTrial", request))
        self._deferred.clear()
        return ended
