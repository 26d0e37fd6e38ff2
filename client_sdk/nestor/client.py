"""`Client`: the entry point of the SDK.

>>> with Client("localhost:50051") as client:
...     study = client.create_study("examples/digits_random.yaml")
...     study.wait()
...     print(study.best().params)
"""

from __future__ import annotations

from types import TracebackType

from nestor.connection import Connection, new_request_id
from nestor.spec import SpecSource, load_spec
from nestor.study import Study
from nestor.tls import ClientTLS
from nestor.trial import Trial
from nestor.v1 import controller_pb2

__all__ = ["Client", "Study", "Trial"]


class Client:
    """A connection to a controller.

    ``address`` defaults to ``$NESTOR_CONTROLLER`` or ``localhost:50051``;
    ``timeout`` bounds each call, retries included; ``token`` (default
    ``$NESTOR_TOKEN``, or the file ``$NESTOR_TOKEN_FILE``) is sent as
    ``authorization: Bearer <token>``; ``tls`` (default: from ``$NESTOR_TLS_CA``,
    ``$NESTOR_TLS_CERT``/``$NESTOR_TLS_KEY`` or ``$NESTOR_TLS=1``, else
    plaintext) makes the channel TLS, mutual when it carries a certificate.
    """

    def __init__(self, address: str | None = None, *, timeout: float = 30.0,
                 token: str | None = None, tls: ClientTLS | None = None) -> None:
        self._conn = Connection(address, timeout=timeout, token=token, tls=tls)

    @property
    def address(self) -> str:
        return self._conn.address

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def create_study(self, spec: SpecSource) -> Study:
        """Creates a study from a StudySpec, a dict, YAML text or a study file (see ``nestor.spec``)."""
        request = controller_pb2.CreateStudyRequest(spec=load_spec(spec), request_id=new_request_id())
        proto = self._conn.call("CreateStudy", request)
        return Study(self._conn, proto.id, proto)

    def get_study(self, study_id: str) -> Study:
        """A study, fetched (raises NotFound for an unknown id)."""
        study = Study(self._conn, study_id)
        study.info()
        return study

    def study(self, study_id: str) -> Study:
        """A handle on a study, without a call."""
        return Study(self._conn, study_id)

    def list_studies(self, include_finished: bool = False) -> list[Study]:
        request = controller_pb2.ListStudiesRequest(include_finished=include_finished)
        answer = self._conn.call("ListStudies", request)
        return [Study(self._conn, s.id, s) for s in answer.studies]

    def executors(self) -> list[controller_pb2.ExecutorStatus]:
        """The executors the controller knows, with their health and load."""
        return list(self._conn.call("ListExecutors", controller_pb2.ListExecutorsRequest()).executors)
