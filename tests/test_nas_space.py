"""Architecture spaces: SDK builders, study files, the controller's checks and the arch.* encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nestor import architecture as arch
from nestor import space as S
from nestor.errors import SpecError as FileError
from nestor.spec import dump_spec, load_spec
from nestor_controller.errors import SpecError
from nestor_controller.samplers.sampling import draw_assignment
from nestor_controller.space import parse_space
from nestor_controller.validate import parse_spec

YAML = """
name: nas
trainable: digits_nas
objective: {metric: val_accuracy, goal: maximize}
algorithm: {name: regularized_evolution, settings: {population_size: 4, sample_size: 2}}
budget: {max_trials: 8}
space:
  lr: {type: double, min: 1.0e-3, max: 1.0e-1, scale: log}
architecture:
  chain: {min_layers: 1, max_layers: 3, operations: [conv, sep_conv_5x5, max_pool, identity], filters: [8, 16],
          kernel_sizes: [3, 5], strides: [1, 2]}
"""


def test_study_file_builders_and_round_trip_agree() -> None:
    spec = load_spec(YAML)
    built = S.Chain(["conv", "sep_conv_5x5", "max_pool", "identity"], max_layers=3, filters=[8, 16],
                    kernel_sizes=[3, 5], strides=[1, 2])
    assert spec.space.architecture == built
    assert load_spec(dump_spec(spec)) == spec
    parsed = parse_spec(spec)  # the controller accepts it, hyperparameter and architecture together
    assert parsed.space.by_name["lr"].kind == "double"
    assert "arch.layer2.op" in parsed.space.by_name


@pytest.mark.parametrize(("text", "path", "words"), [
    ("architecture: {chain: {max_layers: x}}", "architecture.chain.max_layers", "expected an integer"),
    ("architecture: {chains: {}}", "architecture.chains", "unknown architecture kind"),
    ("architecture: {chain: {layers: 3}}", "architecture.chain.layers", "unknown key"),
    ("architecture: {cell: {operations: conv}}", "architecture.cell.operations", "expected a list"),
    ("architecture: {multi_branch: {filters: [8, a]}}", "architecture.multi_branch.filters[1]", "integer"),
    ("architecture: {cell: {num_nodes: 2}, chain: {max_layers: 2}}", "architecture", "exactly one"),
])
def test_study_file_errors_name_their_path(text: str, path: str, words: str) -> None:
    with pytest.raises(FileError) as info:
        load_spec(text)
    assert info.value.path == path and words in str(info.value), info.value


@pytest.mark.parametrize(("architecture", "words"), [
    (S.Chain(["conv", "conv_4x4"], max_layers=2), "chain.operations[1]: unknown operation 'conv_4x4'"),
    (S.Chain([], max_layers=2), "chain.operations: no operations"),
    (S.Chain(["conv", "conv"], max_layers=2), "chain.operations[1]: operation 'conv' appears twice"),
    (S.Chain(["conv"], min_layers=3, max_layers=2), "chain.max_layers: must be >= min_layers (3)"),
    (S.Chain(["conv"], max_layers=2, strides=[1, 3]), "chain.strides[1]: 3 is not one of 1, 2"),
    (S.Chain(["conv"], max_layers=2, kernel_sizes=[2]), "chain.kernel_sizes[0]: 2 is not one of"),
    (S.Chain(["conv"], max_layers=2, filters=[0]), "chain.filters[0]: must be from 1"),
    (S.MultiBranch(["conv"], num_layers=0), "multi_branch.num_layers: must be from 1"),
    (S.MultiBranch(["conv"], num_layers=2, merge="max"), "multi_branch.merge: must be one of sum, concat"),
    (S.Cells(["conv"], num_nodes=40), "cell.num_nodes: must be from 1 to 16"),
])
def test_controller_rejects_bad_architecture_spaces_with_the_path(architecture, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_space(S.Space(architecture=architecture))
    assert str(info.value).startswith("spec.space.architecture.") and words in str(info.value), info.value


def test_arch_names_are_reserved() -> None:
    with pytest.raises(SpecError, match="reserved for architecture decisions"):
        parse_space(S.Space(S.Double("arch.lr", 0, 1)))


def test_chain_layers_beyond_the_minimum_are_conditional() -> None:
    space = parse_space(S.Space(architecture=S.Chain(["conv", "max_pool_3x3", "identity"], min_layers=2,
                                                     max_layers=4, filters=[8, 16], kernel_sizes=[3, 5])))
    by = space.by_name
    assert by["arch.num_layers"].choices == (2, 3, 4)
    assert not by["arch.layer1.op"].conditions
    (cond,) = by["arch.layer3.op"].conditions
    assert cond.parent == "arch.num_layers" and cond.values == frozenset({4})
    # Filters belong to convolutions, a kernel size to operations named without one.
    assert {c.parent: c.values for c in by["arch.layer0.filters"].conditions} == {"arch.layer0.op": {"conv"}}
    assert {c.parent: c.values for c in by["arch.layer0.kernel_size"].conditions} == {"arch.layer0.op": {"conv"}}
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = draw_assignment(space, rng)
        a = arch.decode(params)
        assert isinstance(a, arch.Chain) and len(a.layers) == params["arch.num_layers"]
        for i, layer in enumerate(a.layers):
            assert (layer.filters is None) == (layer.op != "conv")
            expected = {"conv": params.get(f"arch.layer{i}.kernel_size"), "max_pool_3x3": 3, "identity": None}
            assert layer.kernel_size == expected[layer.op]


def test_multi_branch_inputs_come_from_earlier_layers() -> None:
    space = parse_space(S.Space(architecture=S.MultiBranch(["conv_3x3", "identity"], num_layers=3, max_inputs=3,
                                                           merge="concat")))
    by = space.by_name
    assert by["arch.layer0.input0"].choices == ("stem",)
    assert "arch.layer0.input1" not in by
    assert by["arch.layer2.input0"].choices == ("stem", "layer0", "layer1")
    assert by["arch.layer2.input2"].choices == ("none", "stem", "layer0", "layer1")
    assert by["arch.merge"].choices == ("concat",)
    params = draw_assignment(space, np.random.default_rng(1))
    decoded = arch.decode(params)
    assert isinstance(decoded, arch.MultiBranch) and len(decoded.layers) == 3
    for i, layer in enumerate(decoded.layers):
        assert layer.inputs and len(set(layer.inputs)) == len(layer.inputs)
        assert all(s == "stem" or int(s.removeprefix("layer")) < i for s in layer.inputs)


def test_cell_nodes_choose_two_inputs_and_two_operations() -> None:
    space = parse_space(S.Space(architecture=S.Cells(["sep_conv_3x3", "skip_connect"], num_nodes=3,
                                                     num_cells=5, init_channels=8)))
    by = space.by_name
    assert by["arch.reduce.node2.input1"].choices == ("prev_prev", "prev", "node0", "node1")
    assert by["arch.normal.node0.op0"].choices == ("sep_conv_3x3", "skip_connect")
    assert len([p for p in space.params if p.name.startswith("arch.normal.")]) == 3 * 4
    decoded = arch.decode(draw_assignment(space, np.random.default_rng(2)))
    assert isinstance(decoded, arch.Cells)
    assert (decoded.num_cells, decoded.init_channels, len(decoded.normal), len(decoded.reduce)) == (5, 8, 3, 3)
    assert arch.reduction_cells(5) == (1, 3) and arch.reduction_cells(2) == (1,)


def test_decode_names_what_is_missing() -> None:
    assert arch.decode({"lr": 0.1}) is None
    with pytest.raises(ValueError, match=r"arch\.layer0\.op"):
        arch.decode({"arch.num_layers": 1})
    with pytest.raises(ValueError, match="no known kind"):
        arch.decode({"arch.something": 1})


def test_roles_tell_operations_inputs_and_hyperparameters_apart() -> None:
    assert arch.role_of("arch.layer3.op") == "op" and arch.role_of("arch.reduce.node1.op0") == "op"
    assert arch.role_of("arch.layer2.input1") == "input" and arch.role_of("arch.normal.node0.input1") == "input"
    assert arch.role_of("arch.layer0.filters") == "hyperparameter" and arch.role_of("lr") == "hyperparameter"
    assert arch.parse_op("dil_conv_5x5") == ("dil_conv", 5) and arch.parse_op("skip_connect") == ("identity", None)


def test_the_example_study_file_is_valid() -> None:
    parsed = parse_spec(load_spec(Path(__file__).resolve().parents[1] / "examples" / "digits_nas.yaml"))
    assert parsed.algorithm == "rl" and "arch.reduce.node2.op1" in parsed.space.by_name
