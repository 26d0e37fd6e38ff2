"""`Client`: the entry point of the SDK.

>>> with Client("localhost:50051") as client:
...     study = client.create_study("examples/digits_random.yaml")
...     study.wait()
...     print(study.best().params)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType

from nestor.connection import Connection, new_request_id
from nestor.errors import InvalidArgument, NotFound
from nestor.local import LocalServers
from nestor.spec import SpecSource, load_spec
from nestor.study import STUDY_STATE_NAMES, Study
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
    plaintext) makes the channel TLS, mutual when it carries a certificate. ``wait_for_controller=False``
    fails the first call at once when no controller answers (else it is waited for, as after a restart).
    """

    def __init__(self, address: str | None = None, *, timeout: float = 30.0,
                 token: str | None = None, tls: ClientTLS | None = None, wait_for_controller: bool = True) -> None:
        self._conn = Connection(address, timeout=timeout, token=token, tls=tls,
                                wait_for_controller=wait_for_controller)
        self._local: LocalServers | None = None

    @classmethod
    def local(cls, path: str | os.PathLike[str] = "nestor.db", *, executors: int = 1, slots: int = 0,
              trainables: Sequence[str] = (), timeout: float = 30.0) -> Client:
        """A client of a private controller on the SQLite store at ``path``, for this process's lifetime.

        No server to start: the controller (and, once a managed study is created, ``executors`` local
        executors of ``slots`` slots each serving the built-in trainables and ``trainables``, given as
        ``NAME=module:function``) run as child processes and stop with the client. The store is an ordinary
        one that a real controller and the dashboard can open later. See ``nestor.local``."""
        servers = LocalServers(path, executors=executors, slots=slots, trainables=trainables)
        client = cls.__new__(cls)
        # Loopback to our own child: no token, no TLS, whatever the environment says for remote controllers.
        client._conn = Connection(servers.address, timeout=timeout, token="", plaintext=True)
        client._local = servers
        return client

    @property
    def address(self) -> str:
        return self._conn.address

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    def close(self) -> None:
        self._conn.close()
        if self._local is not None:
            self._local.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def create_study(self, spec: SpecSource) -> Study:
        """Creates a study from a StudySpec, a dict, YAML text or a study file (see ``nestor.spec``)."""
        spec = load_spec(spec)
        if self._local is not None and spec.trainable:
            self._local.ensure_executors(self._conn)
        request = controller_pb2.CreateStudyRequest(spec=spec, request_id=new_request_id())
        proto = self._conn.call("CreateStudy", request)
        return Study(self._conn, proto.id, proto)

    def get_study(self, study_id: str) -> Study:
        """A study, fetched (raises NotFound for an unknown id)."""
        study = Study(self._conn, study_id)
        study.info()
        return study

    def find_study(self, ref: str) -> Study:
        """A study by its id, its unique name, or a unique prefix of its id (fetched).

        Raises NotFound when nothing matches and InvalidArgument, listing the candidates, when several do."""
        try:
            return self.get_study(ref)
        except NotFound:
            pass
        studies = self.list_studies(include_finished=True)
        for matches in ([s for s in studies if s.name == ref], [s for s in studies if s.id.startswith(ref)]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                listed = ", ".join(f"{s.id} ({s.name}, {STUDY_STATE_NAMES[s.proto.state].lower()})"
                                   for s in matches[:10])
                raise InvalidArgument(f"{ref!r} names {len(matches)} studies: {listed}; give an id")
        raise NotFound(f"no study has the id, name or id prefix {ref!r} (`nestor study list --all` lists them)")

    def study(self, study_id: str) -> Study:
        """A handle on a study, without a call."""
        return Study(self._conn, study_id)

    def list_studies(self, include_finished: bool = False, labels: Mapping[str, str] | None = None) -> list[Study]:
        """Running studies (or every one), optionally only those carrying every one of ``labels``."""
        request = controller_pb2.ListStudiesRequest(include_finished=include_finished, labels=dict(labels or {}))
        answer = self._conn.call("ListStudies", request)
        return [Study(self._conn, s.id, s) for s in answer.studies]

    def executors(self) -> list[controller_pb2.ExecutorStatus]:
        """The executors the controller knows, with their health and load."""
        return list(self._conn.call("ListExecutors", controller_pb2.ListExecutorsRequest()).executors)
