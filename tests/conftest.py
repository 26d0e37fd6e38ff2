from __future__ import annotations

import os

# Set before anything loads torch, here and in every process the tests start: idle OpenMP threads that spin
# instead of sleeping starve the other processes of a 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Server, controller_stub, start_controller
from nestor.v1 import controller_pb2_grpc
from postgres import fresh_database, postgres_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each engine: the durability tests run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server = request.getfixturevalue("postgres_url")
    return fresh_database(server, f"nestor_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Server]:
    server = start_controller(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def stub(controller: Server) -> controller_pb2_grpc.ControllerStub:
    return controller_stub(controller.address)
