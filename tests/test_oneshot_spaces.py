"""One-shot NAS beyond edge-op cells: the sliced weight-sharing supernet of chain, multi-branch and cell spaces
(every weight the leading slice of its widest home), and the oneshot_supernet trainable over them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from google.protobuf import json_format
from nestor import architecture as arch
from nestor.trainable import LocalContext
from nestor.v1 import space_pb2 as sp
from nestor_executor.nas.sliced import SlicedSupernet
from nestor_executor.trainables import oneshot

SPACES = {
    # Widths change from layer to layer, kernels and strides are decisions, depth is conditional.
    "chain": sp.ArchitectureSpace(chain=sp.ChainSpace(
        min_layers=1, max_layers=4, operations=["conv", "sep_conv", "max_pool", "identity", "dil_conv_5x5"],
        filters=[4, 8], kernel_sizes=[3, 5], strides=[1, 2])),
    # Sums project every input to the first one's width; concatenations widen what the next operation reads.
    "multi_branch_sum": sp.ArchitectureSpace(multi_branch=sp.MultiBranchSpace(
        num_layers=4, operations=["conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "identity"], filters=[4, 8])),
    "multi_branch_concat": sp.ArchitectureSpace(multi_branch=sp.MultiBranchSpace(
        num_layers=4, operations=["conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "identity"], filters=[4, 8],
        merge="concat", max_inputs=3)),
    # A cell's output width is the number of nodes nothing reads; reduction cells stride their inputs.
    "cell": sp.ArchitectureSpace(cell=sp.CellSpace(
        num_nodes=3, num_cells=3, init_channels=4,
        operations=["sep_conv_3x3", "max_pool_3x3", "skip_connect", "dil_conv_3x3"])),
}


def trained_supernet(space: sp.ArchitectureSpace) -> SlicedSupernet:
    """A supernet whose weights and statistics moved away from their initial values along several paths."""
    torch.manual_seed(0)
    net = SlicedSupernet(space, 1, 10)
    x = torch.randn(16, 1, 8, 8)
    rng = np.random.default_rng(0)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    net.train()
    for _ in range(6):
        loss = net(x, net.sample(rng)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@pytest.mark.parametrize("kind", list(SPACES))
def test_a_path_of_the_sliced_supernet_is_the_architecture_built_alone_with_its_weights(kind: str) -> None:
    net = trained_supernet(SPACES[kind])
    x = torch.randn(16, 1, 8, 8)
    widths = set()
    for k in range(8):
        a = net.sample(np.random.default_rng([7, k]))
        alone = net.standalone(a)
        net.eval()
        alone.eval()
        assert torch.equal(net(x, a), alone(x)), arch.describe(a)
        assert net.path_parameters(a) == sum(p.numel() for p in alone.parameters())
        widths.add(sum(p.numel() for p in alone.parameters()))
    assert len(widths) > 4  # the paths drawn differ, in size too
    # Training one path moves the slices it uses and nothing else.
    a = net.sample(np.random.default_rng(99))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    net.zero_grad()
    net(x, a).sum().backward()
    moved = {name for name, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    homes = {home for home, _ in net.network(a)[1].values()}
    assert moved and {name.split(".")[1] for name in moved} <= homes
    untouched = [k for k in before if k.split(".")[1] not in homes]
    assert untouched and all(torch.equal(before[k], net.state_dict()[k]) for k in untouched)


@pytest.mark.parametrize("kind", ["chain", "cell"])
def test_recalibration_gives_a_sliced_path_the_statistics_of_the_network_alone(kind: str) -> None:
    net = trained_supernet(SPACES[kind])
    x = torch.randn(64, 1, 8, 8) * 3 + 1
    a = net.sample(np.random.default_rng(3))
    net.recalibrate(a, x.split(16))
    alone = net.standalone(a)
    # The same statistics as the network built alone and calibrated on the same batches from scratch.
    fresh = net.standalone(a)
    norms = [m for m in fresh.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    fresh.train()
    with torch.no_grad():
        for batch in x.split(16):
            fresh(batch)
    fresh.eval()
    alone.eval()
    assert torch.allclose(alone(x), fresh(x), atol=1e-5)
    assert all(m.momentum == 0.1 for m in net.network(a)[0].modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_a_space_too_wide_for_a_supernet_is_refused_before_it_is_built() -> None:
    wide = sp.ArchitectureSpace(chain=sp.ChainSpace(max_layers=30, operations=["conv_7x7"], filters=[1024]))
    with pytest.raises(ValueError, match=r"would hold .* weights, over"):
        SlicedSupernet(wide, 1, 10)


@pytest.mark.parametrize("kind", ["chain", "multi_branch_concat", "cell"])
def test_the_trainable_trains_a_sliced_supernet_on_given_paths_and_scores_architectures_with_it(
        tmp_path, kind: str) -> None:
    space = json_format.MessageToDict(SPACES[kind])
    config = {"arch_space": space, "supernet_epochs": 1, "lr": 0.05, "optimizer": "sgd"}
    net = SlicedSupernet(SPACES[kind], 1, 10)
    names = [d.name for d in net.decisions]
    paths = [net.sample(np.random.default_rng(k)) for k in range(3)]
    params = [net.draw(np.random.default_rng(k)) for k in range(3)]
    rows = [[p.get(n) for n in names] for p in params]
    assert [net.arch_of(p) for p in params] == paths
    ctx = LocalContext(config=config, checkpoint_dir=str(tmp_path / "supernet"), seed=2)
    trained = oneshot.train({"paths": json.dumps(rows)}, ctx)
    assert [s for s, _ in ctx.reports] == [1] and 0.0 <= trained["val_accuracy"] <= 1.0
    scores = []
    for p in params:
        ev = LocalContext(config={**config, "mode": "evaluate", "supernet": str(tmp_path / "supernet")})
        scores.append(oneshot.train(p, ev))
        assert ev.reports[0][0] == 1 and scores[-1]["n_params"] == net.path_parameters(net.arch_of(p))
    again = oneshot.train(params[0], LocalContext(config={**config, "mode": "evaluate",
                                                           "supernet": str(tmp_path / "supernet")}))
    assert again == scores[0]  # what one evaluation recalibrated does not leak into the next
    with pytest.raises(ValueError, match="not a path of the supernet"):
        oneshot.train({"paths": json.dumps([rows[0][:-1]])},
                      LocalContext(config=config, checkpoint_dir=str(tmp_path / "t"), seed=2))
    other = {**params[0], names[-1]: "conv_9x9"}
    with pytest.raises(ValueError, match="not one of the supernet's space"):
        oneshot.train(other, LocalContext(config={**config, "mode": "evaluate",
                                                  "supernet": str(tmp_path / "supernet")}))



def test_the_supernet_anneals_its_learning_rate_over_every_rounds_epochs(tmp_path) -> None:
    import io

    from nestor.checkpoints import CheckpointDir
    from nestor_executor.trainables.epochs import lr_schedule

    config = {"arch_space": json_format.MessageToDict(SPACES["chain"]), "supernet_lr": 0.1, "optimizer": "sgd",
              "lr_schedule": "cosine"}
    # The first of two rounds: 1 epoch of 4, so its learning rate is that of epoch 1 of a 4-epoch schedule.
    oneshot.train({"until_epoch": 1, "supernet_epochs": 4},
                  LocalContext(config=config, checkpoint_dir=str(tmp_path / "s"), seed=1))
    saved = CheckpointDir(str(tmp_path / "s"), attempt=0).load()
    assert saved is not None
    state = torch.load(io.BytesIO(saved.state), weights_only=True)
    cosine = lr_schedule("cosine", 0.1, 4)
    assert cosine is not None and state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cosine(1))
    oneshot.train({"until_epoch": 3, "supernet_epochs": 4},
                  LocalContext(config=config, checkpoint_dir=str(tmp_path / "s"), seed=1))
    state = torch.load(io.BytesIO(CheckpointDir(str(tmp_path / "s"), attempt=0).load().state), weights_only=True)
    assert state["epoch"] == 3 and state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(cosine(3))
