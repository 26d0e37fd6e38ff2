"""One-shot NAS over edge-op cells: the weight-sharing supernet, its batch-norm recalibration, and the
oneshot_supernet trainable's two modes (train the supernet; score architectures with its weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nestor import architecture as arch
from nestor.trainable import LocalContext
from nestor_executor.nas.supernet import EdgeSupernet, recalibrate
from nestor_executor.trainables import oneshot

OPS = ("none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3")


def supernet() -> EdgeSupernet:
    torch.manual_seed(0)
    return EdgeSupernet(4, OPS, 3, 8, 1, 10)


def test_a_path_of_the_supernet_is_the_architecture_built_alone_with_its_weights() -> None:
    net = supernet()
    x = torch.randn(16, 1, 8, 8)
    rng = np.random.default_rng(0)
    for _ in range(3):  # move every weight and statistic away from its initial value
        net.train()
        net(x, net.sample(rng)).sum().backward()
        with torch.no_grad():
            for p in net.parameters():
                if p.grad is not None:
                    p -= 0.01 * p.grad
    for k in range(5):
        cell = net.sample(np.random.default_rng([7, k]))
        alone = net.standalone(cell)
        net.eval()
        alone.eval()
        assert torch.equal(net(x, cell), alone(x)), arch.describe(cell)
        assert net.path_parameters(cell) == sum(p.numel() for p in alone.parameters())


def test_recalibration_gives_a_path_the_statistics_of_its_own_activations() -> None:
    net = supernet()
    x = torch.randn(64, 1, 8, 8) * 3 + 1
    cell = net.sample(np.random.default_rng(3))
    net.train()
    for k in range(4):  # other paths leave their mixture of statistics behind
        net(x, net.sample(np.random.default_rng(10 + k)))
    recalibrate(net, cell, x.split(16))
    with torch.no_grad():
        stem = net.stem[0](x)
    stem_bn = net.stem[1]
    assert torch.allclose(stem_bn.running_mean, stem.mean(dim=(0, 2, 3)), atol=1e-5)
    assert stem_bn.momentum == 0.1 and stem_bn.training  # momentum and mode as they were
    # The same statistics as the network built alone and calibrated on the same batches.
    alone = net.standalone(cell)
    norms = [m for m in alone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    alone.train()
    with torch.no_grad():
        for batch in x.split(16):
            alone(batch)
    alone.eval()
    net.eval()
    assert torch.allclose(net(x, cell), alone(x), atol=1e-5)


def test_the_trainable_trains_the_supernet_then_scores_architectures_with_it(tmp_path) -> None:
    config = {"edge_cell": {"init_channels": 8}, "epochs": 2, "lr": 0.05, "optimizer": "sgd"}
    ctx = LocalContext(config=config, checkpoint_dir=str(tmp_path / "supernet"), seed=5)
    trained = oneshot.train({}, ctx)
    assert [s for s, _ in ctx.reports] == [1, 2] and trained["val_accuracy"] > 0.2
    cells = [{"arch.num_cells": 3, "arch.init_channels": 16, **{
        f"arch.node{j}.edge{i}": op for j in (1, 2, 3) for i in range(j)}} for op in ("conv_3x3", "none")]
    scores = []
    for params in cells:
        ev = LocalContext(config={**config, "mode": "evaluate", "supernet": str(tmp_path / "supernet")})
        scores.append(oneshot.train(params, ev))
        assert ev.reports[0][0] == 1
    assert scores[0]["val_accuracy"] > scores[1]["val_accuracy"]  # all convolutions beat an empty cell
    # The worker keeps the loaded supernet for the next evaluation; what one recalibrated does not leak into another.
    again = oneshot.train(cells[0], LocalContext(config={**config, "mode": "evaluate",
                                                         "supernet": str(tmp_path / "supernet")}))
    assert again == scores[0]
    assert scores[0]["n_params"] > scores[1]["n_params"]


def test_evaluate_refuses_an_architecture_of_another_space(tmp_path) -> None:
    config = {"edge_cell": {"init_channels": 4, "num_nodes": 3}, "epochs": 1}
    oneshot.train({}, LocalContext(config=config, checkpoint_dir=str(tmp_path / "s")))
    params = {"arch.num_cells": 3, "arch.init_channels": 4, **{
        f"arch.node{j}.edge{i}": "conv_3x3" for j in (1, 2, 3) for i in range(j)}}
    with pytest.raises(ValueError, match="not an edge-op cell of the supernet's space"):
        oneshot.train(params, LocalContext(config={**config, "mode": "evaluate", "supernet": str(tmp_path / "s")}))


def test_a_study_ranks_architectures_with_the_supernet_of_another(tmp_path) -> None:
    """The workflow over real processes: one trial trains the supernet; a second study's algorithm proposes
    architectures that are scored with its weights, each in a moment; the best go on to be trained alone."""
    from cluster import controller_stub, start_controller, start_executor, wait_for_executors
    from nestor.v1 import controller_pb2 as c
    from nestor.v1 import space_pb2 as sp
    from nestor.v1 import study_pb2 as s
    from nestor.values import params_from_proto

    artifacts = tmp_path / "shared"
    ctl = start_controller(tmp_path, "--artifact-dir", str(artifacts))
    ex = start_executor(tmp_path, ctl.address, "--artifact-dir", str(artifacts), slots=2)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1)
        space = {"edge_cell": {"init_channels": 8}}

        def run(spec: s.StudySpec) -> list[s.Trial]:
            sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
            list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=120))
            assert stub.GetStudy(c.GetStudyRequest(study_id=sid)).state == s.STUDY_COMPLETED
            return list(stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials)

        goal = [s.Objective(metric="val_accuracy", goal=s.GOAL_MAXIMIZE)]
        train = s.StudySpec(name="supernet", trainable="oneshot_supernet", objectives=goal,
                            space=sp.SearchSpace(parameters=[sp.Parameter(name="lr", double=sp.DoubleDomain(
                                min=0.03, max=0.1, scale=sp.SCALE_LOG))]),
                            algorithm=s.AlgorithmSpec(name="random"), budget=s.Budget(max_trials=1))
        train.trainable_config.update({**space, "epochs": 2, "optimizer": "sgd"})
        (trained,) = run(train)
        search = s.StudySpec(
            name="oneshot", trainable="oneshot_supernet", objectives=goal, seed=4,
            space=sp.SearchSpace(architecture=sp.ArchitectureSpace(edge_cell=sp.EdgeCellSpace(init_channels=8))),
            algorithm=s.AlgorithmSpec(name="regularized_evolution"), budget=s.Budget(max_trials=16, max_parallel=2))
        search.algorithm.settings.update({"population_size": 8, "sample_size": 3})
        search.trainable_config.update({**space, "mode": "evaluate", "supernet": trained.checkpoint})
        scored = run(search)
        assert len({arch.describe(arch.decode(params_from_proto(t.params))) for t in scored}) > 8
        assert all(0.0 <= t.final_measurement.metrics["val_accuracy"] <= 1.0 for t in scored)
        best = max(scored, key=lambda t: t.final_measurement.metrics["val_accuracy"])
        retrain = s.StudySpec(name="retrain", trainable="digits_nas", objectives=goal,
                              space=search.space, budget=s.Budget(max_trials=1))
        retrain.trainable_config.update({"epochs": 2})
        chosen = retrain.enqueue.add()
        for name, value in best.params.items():
            chosen.params[name].CopyFrom(value)
        (alone,) = run(retrain)
        assert alone.final_measurement.metrics["val_accuracy"] > 0.3
    finally:
        ex.stop()
        ctl.stop()


def test_the_supernet_trains_on_the_paths_it_is_given_and_refuses_others(tmp_path) -> None:
    config = {"edge_cell": {"init_channels": 4, "num_nodes": 3}, "supernet_epochs": 1}
    convs = '[["conv_3x3", "conv_3x3", "conv_3x3"]]'
    ctx = LocalContext(config=config, checkpoint_dir=str(tmp_path / "s"), seed=1)
    oneshot.train({"paths": convs}, ctx)
    import io

    from nestor.checkpoints import CheckpointDir

    saved = CheckpointDir(str(tmp_path / "s"), attempt=0).load()
    assert saved is not None
    trained = torch.load(io.BytesIO(saved.state), weights_only=True)["model"]
    torch.manual_seed(1)
    fresh = oneshot.supernet_for(oneshot.space_of({}, config)).state_dict()
    # Only the given path's operations moved: the 1x1 convolutions kept their initial weights, the 3x3 did not.
    ones = [k for k in fresh if ".conv_1x1." in k and k.endswith("weight")]
    threes = [k for k in fresh if ".conv_3x3." in k and k.endswith("weight")]
    assert ones and threes
    assert all(torch.equal(trained[k], fresh[k]) for k in ones)
    assert not any(torch.equal(trained[k], fresh[k]) for k in threes)
    with pytest.raises(ValueError, match="is not a path of the supernet"):
        oneshot.train({"paths": '[["conv_3x3", "max_pool_7x7", "none"]]'},
                      LocalContext(config=config, checkpoint_dir=str(tmp_path / "t"), seed=1))


def test_a_cosine_schedule_anneals_the_learning_rate_per_epoch() -> None:
    from nestor_executor.trainables.epochs import lr_schedule

    assert lr_schedule("constant", 0.1, 10) is None
    at = lr_schedule("cosine", 0.1, 10)
    assert at is not None and at(1) == pytest.approx(0.1) and at(6) == pytest.approx(0.05)
    assert all(at(e) > at(e + 1) > 0 for e in range(1, 10))
    with pytest.raises(ValueError, match="lr_schedule 'step' is not one of constant, cosine"):
        lr_schedule("step", 0.1, 10)
