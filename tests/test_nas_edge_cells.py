"""Edge-op cells (NAS-Bench-201's space): every edge of a fixed DAG carries one operation. The space as
decisions, checked at CreateStudy, decoded back, built as a network, drawn by samplers, trained by digits_nas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nestor import architecture as arch
from nestor.trainable import LocalContext
from nestor.v1 import space_pb2 as sp
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import make_sampler
from nestor_controller.space import parse_space
from nestor_executor.nas.build import network_for
from nestor_executor.nas.edges import EdgeCell
from nestor_executor.trainables import digits_nas

NB201 = sp.ArchitectureSpace(edge_cell=sp.EdgeCellSpace())


def test_the_default_space_is_nas_bench_201s_cell() -> None:
    decisions = arch.decisions(NB201)
    edges = [d for d in decisions if ".edge" in d.name]
    assert [d.name for d in edges] == ["arch.node1.edge0", "arch.node2.edge0", "arch.node2.edge1",
                                       "arch.node3.edge0", "arch.node3.edge1", "arch.node3.edge2"]
    assert all(d.choices == arch.DEFAULT_EDGE_OPS and d.role == "op" and not d.when for d in edges)
    assert len(arch.DEFAULT_EDGE_OPS) ** len(edges) == 15625  # NAS-Bench-201's 15,625 cells


def test_a_trials_parameters_decode_to_the_cell_and_its_nas_bench_201_string() -> None:
    params = {"arch.num_cells": 3, "arch.init_channels": 8, "arch.node1.edge0": "conv_3x3",
              "arch.node2.edge0": "none", "arch.node2.edge1": "skip_connect", "arch.node3.edge0": "avg_pool_3x3",
              "arch.node3.edge1": "none", "arch.node3.edge2": "conv_1x1", "lr": 0.1}
    cell = arch.decode(params)
    assert cell == arch.EdgeCells(3, 8, (("conv_3x3",), ("none", "skip_connect"),
                                         ("avg_pool_3x3", "none", "conv_1x1")))
    assert arch.describe(cell).endswith("|conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|conv_1x1~2|")
    net = network_for(params, 1, 10)
    out = net(torch.randn(5, 1, 8, 8))
    assert out.shape == (5, 10)
    # An edge marked none has no module (and no weights); every other edge has one.
    (first,) = [m for m in net.modules() if isinstance(m, EdgeCell)][:1]
    assert sorted(first.ops) == ["1_0", "2_1", "3_0", "3_2"]


def test_a_cell_of_only_absent_edges_still_runs() -> None:
    params = {"arch.num_cells": 1, "arch.init_channels": 4, "arch.node1.edge0": "none"}
    assert network_for(params, 1, 3)(torch.randn(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize(("space", "message"), [
    (sp.EdgeCellSpace(num_nodes=1), "spec.space.architecture.edge_cell.num_nodes: must be from 2"),
    (sp.EdgeCellSpace(operations=["conv_3x3", "zero"]), "spec.space.architecture.edge_cell.operations[1]"),
    (sp.EdgeCellSpace(operations=["none", "none"]), "operation 'none' appears twice"),
])
def test_bad_edge_cell_spaces_are_refused_naming_the_field(space: sp.EdgeCellSpace, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_space(sp.SearchSpace(architecture=sp.ArchitectureSpace(edge_cell=space)))


@pytest.mark.parametrize("algorithm", ["random", "regularized_evolution", "rl", "tpe", "gp"])
def test_every_architecture_sampler_draws_cells(algorithm: str) -> None:
    space = parse_space(sp.SearchSpace(architecture=NB201))
    sampler = make_sampler(algorithm, space, [ObjectiveDef("loss", False)], {}, seed=3)
    from nestor_controller.samplers import Observation

    rng = np.random.default_rng(0)
    history = []
    for t in range(1, 13):
        (params,) = sampler.suggest(1, history, [])
        space.check_assignment(params, f"suggestion {t}")
        assert isinstance(arch.decode(params), arch.EdgeCells)
        history.append(Observation(t, params, (float(rng.random()),)))


def test_digits_nas_trains_an_edge_cell_network() -> None:
    params = {"arch.num_cells": 3, "arch.init_channels": 8, "arch.node1.edge0": "conv_3x3",
              "arch.node2.edge0": "skip_connect", "arch.node2.edge1": "conv_1x1", "arch.node3.edge0": "none",
              "arch.node3.edge1": "avg_pool_3x3", "arch.node3.edge2": "conv_3x3"}
    ctx = LocalContext(budget=2, config={"epochs": 2})
    out = digits_nas.train(params, ctx)
    assert [step for step, _ in ctx.reports] == [1, 2]
    assert out["val_accuracy"] > 0.3 and out["n_params"] > 0


def test_the_sdk_and_study_files_express_it() -> None:
    from nestor.space import EdgeCells
    from nestor.spec import load_spec

    assert EdgeCells() == NB201.__class__(edge_cell=sp.EdgeCellSpace(
        num_nodes=4, operations=list(arch.DEFAULT_EDGE_OPS), num_cells=3, init_channels=16))
    spec = load_spec({"name": "nb201", "objective": {"metric": "val_accuracy", "goal": "maximize"},
                      "space": {"lr": {"type": "double", "min": 1e-3, "max": 1e-1}},
                      "architecture": {"edge_cell": {"num_nodes": 3, "operations": ["none", "conv_3x3"]}}})
    assert spec.space.architecture.edge_cell.num_nodes == 3
