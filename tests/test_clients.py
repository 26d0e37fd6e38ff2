"""The Node.js and C++ example clients, built from protos/ and run against a real controller.

Each tunes Branin by ask/tell to the end of its budget, once over plaintext and
once over mutual TLS with a bearer token. Builds are cached: node_modules under
examples/node, the C++ objects under build/cpp-client (make rebuilds what changed).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from certs import CertificateAuthority
from cluster import REPO, Server, start_controller
from toolchains import require

NODE_DIR = REPO / "examples/node"
CPP_BUILD = REPO / "build/cpp-client"
TOKEN = "client-token-0123456789abcdef"
TRIALS = 12


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Server, dict[str, str]]]]:
    """A plaintext controller, and one that wants TLS, a client certificate and a token: each with the
    environment a client needs to reach it."""
    tmp = tmp_path_factory.mktemp("clients")
    ca = CertificateAuthority(tmp, "clients-ca")
    server, client = ca.issue("controller"), ca.issue("client", server=False)
    tokens = tmp / "tokens"
    tokens.write_text(TOKEN + "\n")
    plain = start_controller(tmp / "plain")
    secure = None
    try:
        secure = start_controller(tmp / "secure", "--tls-cert", server.cert, "--tls-key", server.key,
                                  "--tls-client-ca", ca.path, "--auth-tokens", str(tokens))
        yield {
            "plaintext": (plain, {}),
            "mutual TLS and token": (secure, {"NESTOR_TLS_CA": ca.path, "NESTOR_TLS_CERT": client.cert,
                                              "NESTOR_TLS_KEY": client.key, "NESTOR_TOKEN": TOKEN}),
        }
    finally:
        if secure is not None:
            secure.stop()
        plain.stop()


def run_client(cmd: list[str], controller: Server, env: dict[str, str]) -> dict[str, object]:
    # localhost, not 127.0.0.1: the name the controller's certificate carries (both are in it).
    address = controller.address.replace("127.0.0.1", "localhost")
    done = subprocess.run([*cmd, "--controller", address, "--trials", str(TRIALS)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})
    log = controller.log_path.read_text()[-6000:] if controller.log_path.exists() else ""
    assert done.returncode == 0, f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}\ncontroller log:\n{log}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["state"] == "STUDY_COMPLETED" and summary["completed"] == TRIALS, summary
    assert isinstance(summary["best_y"], float) and summary["best_y"] >= 0.397887 - 1e-6  # Branin's minimum
    return summary


def node_modules() -> None:
    """npm ci when node_modules is missing or older than the lock file."""
    installed = NODE_DIR / "node_modules/.package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("mode", ["plaintext", "mutual TLS and token"])
def test_node_client_completes_a_study(controllers: dict[str, tuple[Server, dict[str, str]]], mode: str) -> None:
    require("the Node.js client", ["node", "npm"], "apt-get install nodejs npm")
    node_modules()
    controller, env = controllers[mode]
    run_client(["node", str(NODE_DIR / "ask_tell.js")], controller, env)


@pytest.mark.parametrize("mode", ["plaintext", "mutual TLS and token"])
def test_cpp_client_completes_a_study(controllers: dict[str, tuple[Server, dict[str, str]]], mode: str) -> None:
    require("the C++ client", ["g++", "make", "pkg-config", "protoc", "grpc_cpp_plugin"],
            "apt-get install g++ make pkg-config protobuf-compiler protobuf-compiler-grpc libprotobuf-dev "
            "libgrpc++-dev", pkg_config=("grpc++", "protobuf"))
    build = subprocess.run(["make", "-C", str(REPO / "examples/cpp"), "-j2", f"BUILD={CPP_BUILD}"],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"the C++ client did not build:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    controller, env = controllers[mode]
    run_client([str(CPP_BUILD / "ask_tell")], controller, env)


def test_generated_code_is_not_committed() -> None:
    """Node and C++ code comes from protos/ at build time; only the Python stubs are committed."""
    tracked = subprocess.run(["git", "ls-files", "examples"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith((".pb.cc", ".pb.h", "_pb.js", "_grpc_pb.js"))]
    assert not [f for f in tracked if "node_modules" in Path(f).parts]
