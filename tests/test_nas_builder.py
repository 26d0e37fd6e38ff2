"""Every architecture the samplers can produce builds and runs; digits_nas trains, checkpoints and resumes."""

from __future__ import annotations

import nestor
import numpy as np
import pytest
import torch
from nestor import architecture as arch
from nestor import space as S
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import SAMPLERS, Observation
from nestor_controller.space import parse_space
from nestor_executor.nas import build_network, network_for
from nestor_executor.trainables import digits_nas

ALL_OPS = ["conv", "sep_conv", "dil_conv", "max_pool", "avg_pool", "identity",
           "conv_1x1", "sep_conv_7x7", "dil_conv_5x5", "max_pool_3x3", "avg_pool_5x5", "skip_connect"]
SPACES = {
    "chain": S.Chain(ALL_OPS, max_layers=6, filters=[2, 5], kernel_sizes=[1, 3, 5, 7], strides=[1, 2]),
    "sum": S.MultiBranch(ALL_OPS, num_layers=5, merge="sum", max_inputs=3, filters=[3, 6]),
    "concat": S.MultiBranch(ALL_OPS, num_layers=5, merge="concat", max_inputs=4, filters=[3]),
    "cells": S.Cells(ALL_OPS, num_nodes=3, num_cells=4, init_channels=4),
    "one_cell": S.Cells(["skip_connect", "max_pool_3x3"], num_nodes=2, num_cells=1, init_channels=3),
}
PER_SAMPLER = {"random": 16, "regularized_evolution": 16, "rl": 8, "gp": 6, "tpe": 6}
SETTINGS = {"regularized_evolution": {"population_size": 4, "sample_size": 2}, "gp": {"n_initial": 3},
            "tpe": {"n_initial": 3}}


def produced(space_proto, seed: int) -> list[dict]:
    """Architectures as each NAS sampler emits them over a short run with made-up rewards."""
    space = parse_space(S.Space(architecture=space_proto))
    objectives = [ObjectiveDef("val_accuracy", True)]
    out = []
    for name, n in PER_SAMPLER.items():
        sampler = SAMPLERS[name](space, objectives, SETTINGS.get(name, {}), seed)
        rng = np.random.default_rng(seed)
        history: list[Observation] = []
        for i in range(1, n + 1):
            params = sampler.suggest(1, history, [])[0]
            history.append(Observation(i, params, (float(rng.random()),)))
            out.append(params)
    return out


@pytest.mark.parametrize("kind", sorted(SPACES))
def test_every_produced_architecture_builds_and_runs_forward_and_backward(kind: str) -> None:
    torch.set_num_threads(1)  # tiny tensors: threads only contend with the other tests
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8)
    for params in produced(SPACES[kind], seed=len(kind)):
        net = network_for(params, 1, 10)
        out = net(x)
        assert out.shape == (3, 10), arch.describe(arch.decode(params))  # type: ignore[arg-type]
        assert torch.isfinite(out).all()
        out.sum().backward()
        # Any image size works too: every stride-2 step maps s pixels to ceil(s / 2).
        assert net(torch.rand(2, 1, 5, 5)).shape == (2, 10)


def test_extreme_architectures_build() -> None:
    pools = arch.Chain(tuple(arch.ChainLayer("max_pool", None, 7, 2) for _ in range(6)))
    assert build_network(pools, 1, 10)(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    dense = arch.MultiBranch("concat", 4, tuple(arch.BranchLayer("identity", None, tuple(
        ["stem", *(f"layer{j}" for j in range(i))])) for i in range(4)))
    net = build_network(dense, 1, 10)
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert net.head[2].in_features == 4 * 8  # the last layer stacks the stem and three layers
    with pytest.raises(ValueError, match="layer0 reads"):
        build_network(arch.MultiBranch("sum", 4, (arch.BranchLayer("identity", None, ("layer3",)),)), 1, 10)


def test_digits_nas_trains_and_resumes_from_its_checkpoint(tmp_path) -> None:
    torch.set_num_threads(1)
    params = {"arch.num_layers": 2, "arch.layer0.op": "conv_3x3", "arch.layer0.filters": 8,
              "arch.layer0.stride": 1, "arch.layer1.op": "max_pool_3x3", "arch.layer1.stride": 2, "lr": 0.02}
    straight, ctx = nestor.run_local(digits_nas.train, params, budget=2, checkpoint_dir=str(tmp_path / "a"), seed=4)
    assert [s for s, _ in ctx.reports] == [1, 2] and straight["val_accuracy"] > 0.3
    # One epoch, then the same trial again with two: it re-reports epoch 1 and trains only epoch 2.
    nestor.run_local(digits_nas.train, params, budget=1, checkpoint_dir=str(tmp_path / "b"), seed=4)
    resumed, ctx2 = nestor.run_local(digits_nas.train, params, budget=2, checkpoint_dir=str(tmp_path / "b"), seed=4)
    assert [s for s, _ in ctx2.reports] == [1, 2]
    timed = {"latency_ms"}  # measured, so never quite the same twice
    assert {k: v for k, v in resumed.items() if k not in timed} == pytest.approx(
        {k: v for k, v in straight.items() if k not in timed})


def test_digits_nas_says_when_there_is_no_architecture() -> None:
    with pytest.raises(ValueError, match="no architecture"):
        nestor.run_local(digits_nas.train, {"lr": 0.1}, budget=1)
