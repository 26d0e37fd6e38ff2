"""Study files and space builders: what the SDK checks itself, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from nestor import Categorical, Double, Int, Space, SpecError, load_spec, spec_to_dict
from nestor.demo import demo_spec
from nestor.v1 import space_pb2, study_pb2

REPO = Path(__file__).resolve().parents[1]

FULL = """
name: digits-random
trainable: digits_mlp            # omit for a client-driven (ask/tell) study
trainable_config: {epochs: 20}   # optional fixed args for the trainable
objective: {metric: val_accuracy, goal: maximize, target: 0.99}
algorithm: random
scheduler: {name: median, settings: {min_steps: 3}}
budget: {max_trials: 24, max_parallel: 2, max_failed: 3}
fidelity: {name: epoch, min: 1, max: 20}
seed: 7
trial_timeout_s: 120
labels: {team: vision}
space:
  lr: {type: double, min: 1e-4, max: 3.0e-2, scale: log}
  hidden: {type: int, min: 32, max: 256, step: 32, default: 64}
  optimizer: {type: categorical, choices: [adam, sgd]}
  batch: [16, 32, 64]
  momentum: {type: double, min: 0.0, max: 0.99, when: {optimizer: [sgd]}, default: 0.9}
"""


def test_full_yaml() -> None:
    spec = load_spec(FULL)
    assert spec.name == "digits-random" and spec.trainable == "digits_mlp"
    assert dict(spec.trainable_config.fields)["epochs"].number_value == 20
    (objective,) = spec.objectives
    assert (objective.metric, objective.goal) == ("val_accuracy", study_pb2.GOAL_MAXIMIZE)
    assert objective.target == 0.99
    assert spec.algorithm.name == "random" and not spec.algorithm.settings.fields
    assert spec.scheduler.name == "median" and spec.scheduler.settings["min_steps"] == 3
    assert (spec.budget.max_trials, spec.budget.max_parallel, spec.budget.max_failed) == (24, 2, 3)
    assert (spec.fidelity.name, spec.fidelity.min, spec.fidelity.max) == ("epoch", 1.0, 20.0)
    assert (spec.seed, spec.trial_timeout_s, dict(spec.labels)) == (7, 120.0, {"team": "vision"})
    lr, hidden, optimizer, batch, momentum = spec.space.parameters
    assert lr.name == "lr" and lr.double.min == 1e-4  # 1e-4 read as a number, not a string
    assert lr.double.scale == space_pb2.SCALE_LOG
    assert (hidden.int.min, hidden.int.max, hidden.int.step) == (32, 256, 32)
    assert hidden.default_value.int_value == 64
    assert [c.string_value for c in optimizer.categorical.choices] == ["adam", "sgd"]
    assert [c.int_value for c in batch.categorical.choices] == [16, 32, 64]
    assert momentum.conditions[0].parent == "optimizer"
    assert [v.string_value for v in momentum.conditions[0].values] == ["sgd"]
    assert momentum.default_value.double_value == 0.9


def test_round_trip_through_dict_file_and_text(tmp_path: Path) -> None:
    spec = load_spec(FULL)
    as_dict = spec_to_dict(spec)
    assert load_spec(as_dict) == spec
    path = tmp_path / "study.yaml"
    path.write_text(FULL)
    assert load_spec(path) == spec
    assert load_spec(str(path)) == spec
    assert load_spec(spec) is spec
    assert as_dict["objective"] == {"metric": "val_accuracy", "goal": "maximize", "target": 0.99}
    assert as_dict["space"]["lr"] == {"type": "double", "min": 1e-4, "max": 3e-2, "scale": "log"}
    assert as_dict["space"]["batch"] == {"type": "categorical", "choices": [16, 32, 64]}
    assert as_dict["scheduler"] == {"name": "median", "settings": {"min_steps": 3}}


def test_objectives_goals_and_named_algorithm() -> None:
    spec = load_spec({
        "objectives": [{"metric": "loss", "goal": "min"}, {"metric": "acc", "goal": "MAX"}],
        "algorithm": {"name": "grid", "settings": {"points_per_dimension": 5, "shuffle": True}},
        "space": {"c": {"choices": [True, False], "ordered": True}},
    })
    assert [o.goal for o in spec.objectives] == [study_pb2.GOAL_MINIMIZE, study_pb2.GOAL_MAXIMIZE]
    assert spec.algorithm.settings["shuffle"] is True
    assert spec.space.parameters[0].categorical.ordered
    assert load_spec(spec_to_dict(spec)) == spec
    assert spec_to_dict(spec)["objectives"][1] == {"metric": "acc", "goal": "maximize"}


def test_client_driven_spec_has_no_trainable() -> None:
    spec = load_spec("name: b\nobjective: {metric: y, goal: minimize}\n"
                     "space: {x: {type: double, min: 0, max: 1}}")
    assert spec.trainable == "" and "trainable" not in spec_to_dict(spec)


@pytest.mark.parametrize(("text", "path", "words"), [
    ("nme: x", "nme", "did you mean 'name'"),
    ("name: [x", "line 1, column", "invalid YAML"),
    ("a: 1\na: 2", "line 2, column 1", "duplicate key"),
    ("name: 3", "name", "expected a string"),
    ("seed: seven", "seed", "expected an integer"),
    ("trial_timeout_s: soon", "trial_timeout_s", "expected a number"),
    ("objective: {metric: y, goal: up}", "objective.goal", "unknown goal 'up'"),
    ("objective: {metric: y, direction: min}", "objective.direction", "unknown key"),
    ("objective: y", "objective", "expected a mapping"),
    ("objectives: {metric: y}", "objectives", "expected a list"),
    ("objectives: [{metric: y}, {metric: 2}]", "objectives[1].metric", "expected a string"),
    ("objective: {metric: y}\nobjectives: [{metric: z}]", "objectives", "not both"),
    ("algorithm: [random]", "algorithm", "expected a name"),
    ("algorithm: {name: grid, setting: {}}", "algorithm.setting", "unknown key"),
    ("scheduler: {name: median, settings: [1]}", "scheduler.settings", "expected a mapping"),
    ("budget: {max_trials: many}", "budget.max_trials", "expected an integer"),
    ("budget: {max_trials: 1.5}", "budget.max_trials", "expected an integer"),
    ("budget: {trials: 3}", "budget.trials", "unknown key"),
    ("fidelity: {name: epoch, min: one}", "fidelity.min", "expected a number"),
    ("labels: {team: [a]}", "labels.team", "expected a string"),
    ("trainable_config: [1]", "trainable_config", "expected a mapping"),
    ("space: [lr]", "space", "expected a mapping"),
    ("space: {lr: {type: double, min: abc, max: 1}}", "space.lr.min", "expected a number, got 'abc'"),
    ("space: {lr: {type: double, min: 0}}", "space.lr.max", "missing"),
    ("space: {lr: {min: 0, max: 1}}", "space.lr.type", "missing"),
    ("space: {lr: {type: real, min: 0, max: 1}}", "space.lr.type", "unknown parameter type 'real'"),
    ("space: {lr: {type: double, min: 0, max: 1, scale: exp}}", "space.lr.scale", "unknown scale 'exp'"),
    ("space: {lr: {type: double, min: 0, max: 1, log: true}}", "space.lr.log", "unknown key"),
    ("space: {n: {type: int, min: 0, max: 1.5}}", "space.n.max", "expected an integer"),
    ("space: {n: {type: int, min: 0, max: 9, choices: [1]}}", "space.n.choices", "int parameter"),
    ("space: {c: {type: categorical, choices: a}}", "space.c.choices", "expected a list"),
    ("space: {c: {type: categorical, choices: [[1]]}}", "space.c.choices[0]", "number, string or bool"),
    ("space: {c: {type: categorical, choices: [a], ordered: maybe}}", "space.c.ordered", "true or false"),
    ("space: {m: {type: double, min: 0, max: 1, when: [opt]}}", "space.m.when", "expected a mapping"),
    ("space: {m: {type: double, min: 0, max: 1, when: {opt: [[a]]}}}", "space.m.when.opt[0]", "number"),
    ("space: {m: {type: double, min: 0, max: 1, default: high}}", "space.m.default", "expected a number"),
    ("architecture: {chain: {max_layers: x}}", "architecture", "max_layers"),
])
def test_structural_errors_name_their_path(text: str, path: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert info.value.path.startswith(path), info.value
    assert words in str(info.value)
    assert str(info.value).startswith(path)
    assert isinstance(info.value, ValueError)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.yaml: no such file"):
        load_spec(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace:\n  lr: {type: double, min: abc, max: 1}\n")
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    assert str(info.value) == f"{bad}: space.lr.min: expected a number, got 'abc'"
    assert info.value.path == "space.lr.min"
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(SpecError, match="empty"):
        load_spec(empty)


def test_semantics_are_left_to_the_controller() -> None:
    # min > max, an empty space, an unknown algorithm: structurally fine, the controller answers.
    spec = load_spec({"algorithm": "nonesuch", "space": {"x": {"type": "double", "min": 2, "max": 1}}})
    assert spec.algorithm.name == "nonesuch" and spec.space.parameters[0].double.min == 2.0
    assert len(load_spec("name: empty").space.parameters) == 0


def test_builders() -> None:
    lr = Double("lr", 1e-4, 1e-2, log=True, default=1e-3)
    assert lr.double.scale == space_pb2.SCALE_LOG and lr.default_value.double_value == 1e-3
    assert Double("d", 0, 1).double.scale == space_pb2.SCALE_LINEAR
    assert Double("d", 0, 1, default=1).default_value.WhichOneof("kind") == "double_value"
    n = Int("n", 1, 64, log=True, step=1, default=8)
    assert (n.int.min, n.int.max, n.int.scale, n.default_value.int_value) == (1, 64, space_pb2.SCALE_LOG, 8)
    assert not n.HasField("default_value") or n.default_value.int_value == 8
    assert not Int("m", 0, 3).HasField("default_value")
    c = Categorical("opt", ["adam", "sgd"], default="sgd")
    assert [v.string_value for v in c.categorical.choices] == ["adam", "sgd"]
    assert c.default_value.string_value == "sgd" and not c.categorical.ordered
    b = Categorical("batch", [16, 32], ordered=True)
    assert b.categorical.ordered and b.categorical.choices[1].int_value == 32
    m = Double("momentum", 0, 1, when={"opt": "sgd", "depth": [2, 3]})
    assert [(k.parent, [v.WhichOneof("kind") for v in k.values]) for k in m.conditions] == [
        ("opt", ["string_value"]), ("depth", ["int_value", "int_value"])]
    space = Space(lr, [n, c], m)
    assert [p.name for p in space.parameters] == ["lr", "n", "opt", "momentum"]


@pytest.mark.parametrize("make", [
    lambda: Double("x", "a", 1),
    lambda: Double("x", 0, True),
    lambda: Int("x", 0, 1.5),
    lambda: Int("", 0, 1),
    lambda: Categorical("x", "abc"),
    lambda: Categorical("x", [[1]]),
    lambda: Double("x", 0, 1, when=["a"]),
    lambda: Space("lr"),
])
def test_builders_check_types(make: object) -> None:
    with pytest.raises(TypeError):
        make()  # type: ignore[operator]


def test_examples_load() -> None:
    assert load_spec(REPO / "examples" / "digits_random.yaml") == load_spec(demo_spec())
    branin = load_spec(REPO / "examples" / "branin_ask_tell.yaml")
    assert branin.trainable == "" and [p.name for p in branin.space.parameters] == ["x0", "x1"]
