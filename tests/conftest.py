from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Server, controller_stub, start_controller
from nestor.v1 import controller_pb2_grpc


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Server]:
    server = start_controller(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def stub(controller: Server) -> controller_pb2_grpc.ControllerStub:
    return controller_stub(controller.address)
