"""NAS end to end: a real controller searches architectures that a real executor builds and trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from nestor import architecture as arch
from nestor import space as S
from nestor.spec import load_spec
from nestor.v1 import controller_pb2 as c
from nestor.v1 import study_pb2 as s
from nestor.values import params_from_proto


@pytest.fixture
def cluster(tmp_path: Path):
    ctl = start_controller(tmp_path)
    ex = start_executor(tmp_path, ctl.address)
    stub = controller_stub(ctl.address)
    wait_for_executors(stub, 1)
    yield stub
    ex.stop()
    ctl.stop()


def study(algorithm: dict, architecture) -> s.StudySpec:
    spec = load_spec({
        "name": f"nas-{algorithm['name']}", "trainable": "digits_nas", "seed": 11,
        "objective": {"metric": "val_accuracy", "goal": "maximize"}, "algorithm": algorithm,
        "budget": {"max_trials": 4, "max_parallel": 1}, "fidelity": {"name": "epoch", "min": 1, "max": 1},
        "space": {"lr": {"type": "double", "min": 0.005, "max": 0.05, "scale": "log"}},
    })
    spec.space.architecture.CopyFrom(architecture)
    return spec


@pytest.mark.parametrize(("algorithm", "architecture"), [
    ({"name": "rl", "settings": {"hidden_size": 8}}, S.Cells(["sep_conv_3x3", "max_pool_3x3", "skip_connect"],
                                                              num_nodes=2, num_cells=2, init_channels=4)),
    ({"name": "regularized_evolution", "settings": {"population_size": 2, "sample_size": 2}},
     S.Chain(["conv_3x3", "max_pool_3x3", "identity"], max_layers=3, filters=[4, 8], strides=[1, 2])),
])
def test_managed_nas_study_trains_every_suggested_architecture(cluster, algorithm: dict, architecture) -> None:
    sid = cluster.CreateStudy(c.CreateStudyRequest(spec=study(algorithm, architecture))).id
    for ev in cluster.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=240):
        if ev.type == c.STUDY_EVENT_STUDY_ENDED:
            break
    got = cluster.GetStudy(c.GetStudyRequest(study_id=sid))
    assert got.state == s.STUDY_COMPLETED and got.counts.completed == 4, (got.reason, got.counts)
    for t in cluster.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials:
        params = params_from_proto(t.params)
        assert arch.decode(params) is not None and "lr" in params  # architecture and hyperparameter together
        assert [m.step for m in t.measurements] == [1]  # the fidelity: one epoch
        assert 0.0 <= t.final_measurement.metrics["val_accuracy"] <= 1.0
