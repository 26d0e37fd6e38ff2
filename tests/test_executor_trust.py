"""The executor takes orders from its controller only, and keeps every path inside its artifact directory.

Real executors and controllers over real gRPC: with mutual TLS and
--controller-identity, a certificate the same CA signed for someone else (a
user, another executor) is refused; with --controller-token-file, a call
without the controller's token is refused; the real controller runs a managed
study through both. A RunTrial whose assignment would put a checkpoint outside
the artifact directory is refused, naming the field, before anything is created.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nestor
import pytest
from certs import CertificateAuthority, Issued
from cluster import Server, start_controller, start_executor
from executor_helpers import ExecutorProcess, assignment, kinds, run_trial
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nestor.tls import ClientTLS, sync_channel
from nestor.v1 import executor_pb2, executor_pb2_grpc

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 20.0
CONTROLLER_TOKEN = "controller-to-executor-0123456789"
NEXT_TOKEN = "rotated-controller-token-0123456789"


def managed_noop(client: nestor.Client, trials: int = 2) -> None:
    study = client.create_study({
        "name": "trusted", "trainable": "noop", "trainable_config": {"steps": 2},
        "objective": {"metric": "value", "goal": "minimize"}, "budget": {"max_trials": trials},
        "space": {"x": {"type": "double", "min": 0, "max": 1}}})
    done = study.wait(timeout=90)
    assert (done.counts.completed, done.counts.failed) == (trials, 0), done


def run_trial_call(stub: executor_pb2_grpc.ExecutorStub, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    first = executor_pb2.ControllerMessage(assignment=assignment("noop", {"steps": 1}))
    list(stub.RunTrial(iter([first]), metadata=metadata, timeout=TIMEOUT))


def run_trials_call(stub: executor_pb2_grpc.ExecutorStub, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    first = executor_pb2.ControllerMessage(assignment=assignment("noop", {"steps": 1}))
    controls = executor_pb2.RunControls(items=[executor_pb2.RunControl(run=1, message=first)])
    list(stub.RunTrials(iter([controls]), metadata=metadata, timeout=TIMEOUT))


def refused(call: object, code: grpc.StatusCode) -> str:
    """The details of the RpcError `call()` raised; fails unless it raised one with `code`."""
    with pytest.raises(grpc.RpcError) as e:
        call()  # type: ignore[operator]
    assert e.value.code() == code, (e.value.code(), e.value.details())
    return e.value.details() or ""


# -- mutual TLS: the controller's certificate identity ------------------------------------------------------


@dataclass
class TLSCluster:
    controller: Server
    executor: Server
    ca: CertificateAuthority
    certs: dict[str, Issued]

    def executor_stub(self, who: str) -> executor_pb2_grpc.ExecutorStub:
        cert = self.certs[who]
        return executor_pb2_grpc.ExecutorStub(
            sync_channel(self.executor.address, ClientTLS(ca=self.ca.path, cert=cert.cert, key=cert.key)))


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSCluster]:
    tmp = tmp_path_factory.mktemp("trust-tls")
    ca = CertificateAuthority(tmp, "trust-ca")
    certs = {
        "controller": ca.issue("nestor-controller"),
        "executor": ca.issue("executor"),
        "other-executor": ca.issue("other-executor"),
        "user": ca.issue("user", server=False),
        # A second controller (a standby) known by a SAN rather than its CN.
        "standby": ca.issue("standby", dns=("standby.nestor.internal",), ips=()),
    }
    ex = certs["executor"]
    executor = start_executor(tmp, None, "--tls-cert", ex.cert, "--tls-key", ex.key, "--tls-client-ca", ca.path,
                              "--controller-identity", "nestor-controller",
                              "--controller-identity", "standby.nestor.internal")
    try:
        ctl = certs["controller"]
        controller = start_controller(tmp, "--tls-cert", ctl.cert, "--tls-key", ctl.key, "--executor-ca", ca.path,
                                      "--executors", executor.address, "--health-interval", "0.5")
        try:
            yield TLSCluster(controller, executor, ca, certs)
        finally:
            controller.stop()
    finally:
        executor.stop()


def test_a_certificate_of_the_same_ca_that_is_not_the_controller_is_refused(tls_cluster: TLSCluster) -> None:
    for who in ("user", "other-executor"):
        stub = tls_cluster.executor_stub(who)
        details = refused(lambda stub=stub: run_trial_call(stub), grpc.StatusCode.PERMISSION_DENIED)
        # What was presented, and what is required.
        assert f"CN '{who}'" in details and "'nestor-controller'" in details, details
        assert "'standby.nestor.internal'" in details and "--controller-identity" in details, details
        details = refused(lambda stub=stub: run_trials_call(stub), grpc.StatusCode.PERMISSION_DENIED)
        assert "RunTrials" in details and f"CN '{who}'" in details, details
        refused(lambda stub=stub: stub.Describe(executor_pb2.DescribeRequest(), timeout=TIMEOUT),
                grpc.StatusCode.PERMISSION_DENIED)
    # Health stays open to any certificate the handshake accepts: probes run no trial.
    health = health_pb2_grpc.HealthStub(sync_channel(tls_cluster.executor.address, ClientTLS(
        ca=tls_cluster.ca.path, cert=tls_cluster.certs["user"].cert, key=tls_cluster.certs["user"].key)))
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == \
        health_pb2.HealthCheckResponse.SERVING
    # Nothing ran: no slot was ever taken by the refused calls.
    info = tls_cluster.executor_stub("controller").Describe(executor_pb2.DescribeRequest(), timeout=TIMEOUT)
    assert info.busy_slots == 0 and not info.running


def test_the_controller_identity_by_cn_or_san_is_served(tls_cluster: TLSCluster) -> None:
    # By subject alternative name: a standby controller's certificate.
    info = tls_cluster.executor_stub("standby").Describe(executor_pb2.DescribeRequest(), timeout=TIMEOUT)
    assert info.slots == 1
    # By common name: the real controller runs a managed study on the executor.
    with nestor.Client(tls_cluster.controller.address, tls=ClientTLS(ca=tls_cluster.ca.path),
                       timeout=TIMEOUT) as client:
        managed_noop(client)


# -- tokens: the controller's bearer token ------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    tmp = tmp_path_factory.mktemp("trust-tokens")
    accepted = tmp / "controller-tokens"
    accepted.write_text(f"# tokens the executor accepts (two while rotating)\n{CONTROLLER_TOKEN}\n{NEXT_TOKEN}\n")
    sent = tmp / "executor-token"
    sent.write_text(f"{CONTROLLER_TOKEN}\n")
    executor = start_executor(tmp, None, "--controller-token-file", str(accepted))
    try:
        controller = start_controller(tmp, "--executors", executor.address, "--executor-token-file", str(sent),
                                      "--health-interval", "0.5")
        try:
            yield controller, executor
        finally:
            controller.stop()
    finally:
        executor.stop()


def test_calls_without_the_controller_token_are_refused(token_cluster: tuple[Server, Server]) -> None:
    _, executor = token_cluster
    stub = executor_pb2_grpc.ExecutorStub(grpc.insecure_channel(executor.address))
    wrong = (("authorization", "Bearer not-the-controller-0123456789"),)
    cases = {"no token": ((), "missing 'authorization: Bearer <token>'"),
             "a wrong token": (wrong, "the bearer token is not valid"),
             "not a bearer token": ((("authorization", f"Basic {CONTROLLER_TOKEN}"),), "missing")}
    for what, (metadata, says) in cases.items():
        details = refused(lambda md=metadata: run_trial_call(stub, md), grpc.StatusCode.UNAUTHENTICATED)
        assert says in details and "RunTrial" in details, (what, details)
        details = refused(lambda md=metadata: run_trials_call(stub, md), grpc.StatusCode.UNAUTHENTICATED)
        assert says in details and "RunTrials" in details, (what, details)
        refused(lambda md=metadata: stub.Describe(executor_pb2.DescribeRequest(), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.UNAUTHENTICATED)
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(executor.address))
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == \
        health_pb2.HealthCheckResponse.SERVING
    # Either listed token is the controller's (a rotation in progress).
    for token in (CONTROLLER_TOKEN, NEXT_TOKEN):
        info = stub.Describe(executor_pb2.DescribeRequest(), metadata=(("authorization", f"Bearer {token}"),),
                             timeout=TIMEOUT)
        assert info.busy_slots == 0 and not info.running


def test_the_controller_sends_its_token_and_runs_a_managed_study(token_cluster: tuple[Server, Server]) -> None:
    controller, _ = token_cluster
    with nestor.Client(controller.address, timeout=TIMEOUT) as client:
        managed_noop(client)


def test_identity_and_token_flags_are_checked_at_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nestor_controller.cli import parse_args
    from nestor_executor.cli import main as executor_main

    with pytest.raises(SystemExit):
        executor_main(["--controller-identity", "nestor-controller"])
    assert "--controller-identity needs mutual TLS" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        executor_main(["--controller-token-file", str(tmp_path / "missing")])
    assert "--controller-token-file" in capsys.readouterr().err
    short = tmp_path / "short"
    short.write_text("short\n")
    with pytest.raises(SystemExit):
        parse_args(["--executor-token-file", str(short)])
    err = capsys.readouterr().err
    assert "--executor-token-file" in err and "at least 16" in err, err


# -- paths: every one stays inside the artifact directory ---------------------------------------------------


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExecutorProcess, Path]]:
    """An executor whose artifact directory is <tmp>/root/artifacts; <tmp> is what lies outside."""
    tmp = tmp_path_factory.mktemp("confined")
    root = tmp / "root" / "artifacts"
    root.mkdir(parents=True)
    os.symlink(tmp / "elsewhere", root / "link-out")  # a link that leads out of the artifact directory
    with ExecutorProcess(trainables=("echo=trainables_for_tests:echo",), artifact_dir=str(root),
                         log_dir=tmp / "logs") as ex:
        yield ex, tmp


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_assignments_that_escape_the_artifact_directory_are_refused(confined: tuple[ExecutorProcess, Path]) -> None:
    ex, tmp = confined
    root = Path(ex.artifact_dir)
    before = files_under(tmp)
    escapes = {
        "an absolute path outside": ({"checkpoint_dir": str(tmp / "outside" / "ckpt")}, "checkpoint_dir"),
        "the artifact directory itself": ({"checkpoint_dir": str(root)}, "checkpoint_dir"),
        "a relative climb": ({"checkpoint_dir": "../../../../y"}, "checkpoint_dir"),
        "a climb that comes back": ({"checkpoint_dir": "study/../../artifacts/x"}, "checkpoint_dir"),
        "an absolute climb": ({"checkpoint_dir": f"{root}/../../y"}, "checkpoint_dir"),
        "a NUL": ({"checkpoint_dir": "study\0/x"}, "checkpoint_dir"),
        "a symbolic link out": ({"checkpoint_dir": "link-out/ckpt"}, "checkpoint_dir"),
        "study id ..": ({"study_id": ".."}, "study_id"),
        "study id .": ({"study_id": "."}, "study_id"),
        "a separator in the study id": ({"study_id": "../../../y"}, "study_id"),
        "a backslash in the study id": ({"study_id": "a\\b"}, "study_id"),
        "a NUL in the study id": ({"study_id": "s\0"}, "study_id"),
        "an empty study id": ({"study_id": ""}, "study_id"),
        "a study id too long": ({"study_id": "s" * 300}, "study_id"),
        "a negative trial id": ({"trial_id": -1}, "trial_id"),
    }
    for what, (fields, field) in escapes.items():
        a = assignment("echo", {"a": 1.0}, **{"study_id": "s-ok", **fields})
        details = refused(lambda a=a: run_trial(ex.stub, a, timeout=TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT)
        assert details.startswith(f"RunTrial: {field}"), (what, details)
    # Nothing was created anywhere, inside the artifact directory or out of it.
    assert files_under(tmp) == before
    assert not (tmp / "elsewhere").exists()


def test_paths_inside_the_artifact_directory_still_work(confined: tuple[ExecutorProcess, Path]) -> None:
    ex, _ = confined
    root = Path(ex.artifact_dir)
    # Absolute inside (a directory shared with a controller at the same path), relative, and the default.
    for fields, folder in (({"checkpoint_dir": str(root / "s-abs" / "trial-1")}, root / "s-abs" / "trial-1"),
                           ({"checkpoint_dir": "s-rel/trial-1"}, root / "s-rel" / "trial-1"),
                           ({"study_id": "s:def", "trial_id": 7}, root / "s_def" / "7")):
        msgs = run_trial(ex.stub, assignment("echo", {"a": 1.0}, config={"k": 1}, **fields), timeout=60)
        assert kinds(msgs)[-1] == "result" and msgs[-1].result.error == "", msgs[-1].result.error
        assert (folder / "echo.json").exists(), folder
