"""TLS on every port, mutual TLS between controller and executors, bearer tokens on the API.

One controller and one executor run with certificates made for this test; the
right credentials run a managed and a client-driven study, and each wrong one
(no token, a wrong token, no or an untrusted client certificate, plaintext) is
refused with the store left exactly as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nestor
import pytest
from certs import CertificateAuthority, Issued
from cluster import Server, start_controller, start_executor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nestor.tls import ClientTLS, sync_channel
from nestor.v1 import controller_pb2, controller_pb2_grpc, executor_pb2, executor_pb2_grpc
from nestor_controller.auth import TokenFile, parse_tokens

TOKEN = "test-token-0123456789abcdef"
EXECUTOR_TOKEN = "executor-token-0123456789abcdef"
TIMEOUT = 20.0


@dataclass
class SecureCluster:
    controller: Server
    executor: Server
    ca: CertificateAuthority
    rogue_ca: CertificateAuthority
    user: Issued
    controller_cert: Issued
    rogue: Issued
    store: Path

    def tls(self, cert: Issued | None = None, ca: str | None = None) -> ClientTLS:
        return ClientTLS(ca=ca or self.ca.path, cert=cert.cert if cert else "", key=cert.key if cert else "")

    def stub(self, tls: ClientTLS | None, address: str | None = None) -> controller_pb2_grpc.ControllerStub:
        return controller_pb2_grpc.ControllerStub(sync_channel(address or self.controller.address, tls))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    tmp = tmp_path_factory.mktemp("secure")
    ca = CertificateAuthority(tmp, "nestor-test-ca")
    rogue_ca = CertificateAuthority(tmp, "rogue-ca")
    controller_cert = ca.issue("controller")
    executor_cert = ca.issue("executor")
    tokens = tmp / "tokens"
    tokens.write_text(f"# API tokens\n{TOKEN}\n{EXECUTOR_TOKEN}  # executors register with this one\n")
    executor_token = tmp / "executor-token"
    executor_token.write_text(EXECUTOR_TOKEN + "\n")
    store = tmp / "nestor.db"
    controller = start_controller(
        tmp, "--tls-cert", controller_cert.cert, "--tls-key", controller_cert.key, "--tls-client-ca", ca.path,
        "--executor-ca", ca.path, "--auth-tokens", str(tokens), "--health-port", "0", "--health-interval", "0.5",
        store=f"sqlite:///{store}")
    executor = None
    try:
        executor = start_executor(
            tmp, f"localhost:{controller.port}", "--tls-cert", executor_cert.cert, "--tls-key", executor_cert.key,
            "--tls-client-ca", ca.path, "--controller-ca", ca.path, "--token-file", str(executor_token),
            "--register-interval", "0.5")
        yield SecureCluster(controller, executor, ca, rogue_ca, ca.issue("user", server=False),
                            controller_cert, rogue_ca.issue("rogue"), store)
    finally:
        if executor is not None:
            executor.stop()
        controller.stop()


def store_snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, read beside the running controller (SQLite in WAL mode allows it)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(db.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


def ask_tell_spec(max_trials: int) -> dict[str, object]:
    return {"name": "secure-ask-tell", "objective": {"metric": "y", "goal": "minimize"}, "algorithm": "random",
            "budget": {"max_trials": max_trials}, "space": {"x": {"type": "double", "min": -1, "max": 1}}}


def test_the_right_credentials_run_managed_and_client_driven_studies(cluster: SecureCluster) -> None:
    with nestor.Client(cluster.controller.address, token=TOKEN, tls=cluster.tls(cluster.user),
                       timeout=TIMEOUT) as client:
        # The executor registered over TLS with its token; the controller dials it back over mutual TLS.
        study = client.create_study({
            "name": "secure-managed", "trainable": "noop", "trainable_config": {"steps": 2},
            "objective": {"metric": "value", "goal": "minimize"}, "budget": {"max_trials": 3},
            "space": {"x": {"type": "double", "min": 0, "max": 1}}})
        done = study.wait(timeout=120)
        assert done.counts.completed == 3, done
        assert [e.healthy for e in client.executors()] == [True]

        asked = client.create_study(ask_tell_spec(2))
        while trials := asked.suggest(2):
            for trial in trials:
                trial.report(1, {"y": trial.params["x"] ** 2})
                trial.complete()
        assert asked.info().counts.completed == 2


def test_health_answers_plaintext_on_the_health_port_only(cluster: SecureCluster) -> None:
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(cluster.controller.announced("health checks")))
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    # The health port serves nothing else.
    stub = controller_pb2_grpc.ControllerStub(grpc.insecure_channel(cluster.controller.announced("health checks")))
    with pytest.raises(grpc.RpcError) as e:
        stub.ListStudies(controller_pb2.ListStudiesRequest(), timeout=TIMEOUT)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def refused_calls(cluster: SecureCluster, study_id: str) -> list[Callable[[controller_pb2_grpc.ControllerStub,
                                                                          tuple[tuple[str, str], ...]], object]]:
    """Calls that would change the store if they were let through."""
    spec = nestor.load_spec(ask_tell_spec(5))
    return [
        lambda stub, md: stub.CreateStudy(controller_pb2.CreateStudyRequest(spec=spec), metadata=md, timeout=TIMEOUT),
        lambda stub, md: stub.SuggestTrials(controller_pb2.SuggestTrialsRequest(study_id=study_id, count=1),
                                            metadata=md, timeout=TIMEOUT),
        lambda stub, md: stub.StopStudy(controller_pb2.StopStudyRequest(study_id=study_id), metadata=md,
                                        timeout=TIMEOUT),
        lambda stub, md: stub.DeleteStudy(controller_pb2.DeleteStudyRequest(study_id=study_id), metadata=md,
                                          timeout=TIMEOUT),
        lambda stub, md: stub.RegisterExecutor(controller_pb2.RegisterExecutorRequest(
            address="evil.example:1", info=executor_pb2.ExecutorInfo(slots=8, trainables=["noop"])),
            metadata=md, timeout=TIMEOUT),
        lambda stub, md: list(stub.WatchStudy(controller_pb2.WatchStudyRequest(study_id=study_id), metadata=md,
                                              timeout=TIMEOUT)),
    ]


def test_wrong_credentials_are_refused_and_change_nothing(cluster: SecureCluster) -> None:
    with nestor.Client(cluster.controller.address, token=TOKEN, tls=cluster.tls(cluster.user),
                       timeout=TIMEOUT) as client:
        study = client.create_study(ask_tell_spec(5))
        (trial,) = study.suggest(1)
    before = store_snapshot(cluster.store)
    good_tls = cluster.tls(cluster.user)
    bearer = (("authorization", f"Bearer {TOKEN}"),)
    cases = {
        "no token": (good_tls, (), grpc.StatusCode.UNAUTHENTICATED),
        "a wrong token": (good_tls, (("authorization", "Bearer not-the-token-0123456789"),),
                          grpc.StatusCode.UNAUTHENTICATED),
        "not a bearer token": (good_tls, (("authorization", f"Basic {TOKEN}"),), grpc.StatusCode.UNAUTHENTICATED),
        "an untrusted client certificate": (cluster.tls(cluster.rogue), bearer, grpc.StatusCode.UNAVAILABLE),
        "no client certificate": (cluster.tls(), bearer, grpc.StatusCode.UNAVAILABLE),
        "plaintext": (None, bearer, grpc.StatusCode.UNAVAILABLE),
    }
    for what, (tls, metadata, code) in cases.items():
        stub = cluster.stub(tls)
        for call in refused_calls(cluster, study.id):
            with pytest.raises(grpc.RpcError) as e:
                call(stub, metadata)
            assert e.value.code() == code, f"{what}: {e.value.code()} {e.value.details()}"
            if code == grpc.StatusCode.UNAUTHENTICATED:
                assert "token" in (e.value.details() or "")
    # The SDK says the same, as its own exception.
    with nestor.Client(cluster.controller.address, token="wrong-token-0123456789", tls=good_tls,
                       timeout=TIMEOUT) as client, pytest.raises(nestor.Unauthenticated):
        client.list_studies()
    assert store_snapshot(cluster.store) == before
    # The study took none of it: the trial is still the only one, and running.
    with nestor.Client(cluster.controller.address, token=TOKEN, tls=good_tls, timeout=TIMEOUT) as client:
        info = client.get_study(study.id).info()
        assert (info.counts.running, info.counts.completed) == (1, 0)
        assert trial.id == 1


def test_executors_serve_only_the_controller_certificate(cluster: SecureCluster) -> None:
    def describe(tls: ClientTLS | None) -> executor_pb2.ExecutorInfo:
        stub = executor_pb2_grpc.ExecutorStub(sync_channel(cluster.executor.address, tls))
        return stub.Describe(executor_pb2.DescribeRequest(), timeout=TIMEOUT)

    assert describe(cluster.tls(cluster.controller_cert)).slots == 1
    for what, tls in (("an untrusted certificate", cluster.tls(cluster.rogue)), ("no certificate", cluster.tls()),
                      ("plaintext", None)):
        with pytest.raises(grpc.RpcError) as e:
            describe(tls)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE, what


def test_token_file_rules_and_reload(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no token"):
        parse_tokens("# nothing\n\n", "tokens")
    with pytest.raises(ValueError, match="at least 16"):
        parse_tokens("short\n", "tokens")
    path = tmp_path / "tokens"
    path.write_text("first-token-0123456789\n")
    tokens = TokenFile(str(path))
    assert tokens.accepts("first-token-0123456789") and not tokens.accepts("second-token-0123456789")
    path.write_text("second-token-0123456789\n")
    tokens._checked = tokens._mtime = 0.0  # as if the reload interval had passed and the file changed
    assert tokens.accepts("second-token-0123456789") and not tokens.accepts("first-token-0123456789")


def test_half_a_tls_configuration_is_refused_at_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nestor_controller.cli import parse_args
    from nestor_executor.cli import main as executor_main

    ca = CertificateAuthority(tmp_path, "ca")
    pair = ca.issue("server")
    for args, message in ((["--tls-cert", pair.cert], "--tls-cert and --tls-key go together"),
                          (["--tls-client-ca", ca.path], "--tls-client-ca needs --tls-cert"),
                          (["--executor-ca", ca.path], "--executor-ca needs --tls-cert"),
                          (["--tls-cert", pair.cert, "--tls-key", str(tmp_path / "none.key")], "cannot read")):
        with pytest.raises(SystemExit):
            parse_args(args)
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        executor_main(["--tls-key", pair.key])
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
