"""Samplers and space handling, in process (no server needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nestor.v1 import space_pb2 as sp
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import SAMPLERS, make_sampler
from nestor_controller.samplers.grid import GridSampler
from nestor_controller.space import parse_space

OBJ = [ObjectiveDef("y", maximize=False)]


def space_proto() -> sp.SearchSpace:
    return sp.SearchSpace(parameters=[
        sp.Parameter(name="lr", double=sp.DoubleDomain(min=1e-4, max=1e-1, scale=sp.SCALE_LOG)),
        sp.Parameter(name="width", int=sp.IntDomain(min=16, max=256, scale=sp.SCALE_LOG)),
        sp.Parameter(name="depth", int=sp.IntDomain(min=1, max=4)),
        sp.Parameter(name="opt", categorical=sp.CategoricalDomain(choices=[
            sp.Value(string_value="sgd"), sp.Value(string_value="adam")])),
        sp.Parameter(name="momentum", double=sp.DoubleDomain(min=0.0, max=0.99),
                     conditions=[sp.Condition(parent="opt", values=[sp.Value(string_value="sgd")])]),
        sp.Parameter(name="drop", double=sp.DoubleDomain(min=0.0, max=0.5, step=0.1)),
    ])


def test_random_samples_stay_in_domain_and_respect_conditions() -> None:
    space = parse_space(space_proto())
    sampler = make_sampler("random", space, OBJ, {}, seed=3)
    draws = sampler.suggest(500, [], [])
    for a in draws:
        space.check_assignment(a, "draw")
        assert ("momentum" in a) == (a["opt"] == "sgd")
        assert isinstance(a["width"], int) and isinstance(a["lr"], float)
        assert abs(a["drop"] * 10 - round(a["drop"] * 10)) < 1e-9
    lrs = np.log10([a["lr"] for a in draws])
    # Log-uniform: about a third of draws per decade.
    assert 0.2 < np.mean(lrs < -3) < 0.45
    widths = {a["width"] for a in draws}
    assert min(widths) <= 18 and max(widths) >= 220


def test_random_state_round_trips_through_json() -> None:
    space = parse_space(space_proto())
    a = make_sampler("random", space, OBJ, {}, seed=11)
    a.suggest(7, [], [])
    b = make_sampler("random", space, OBJ, {}, seed=999)
    b.load_state(json.loads(json.dumps(a.state())))
    assert a.suggest(5, [], []) == b.suggest(5, [], [])


def test_defaults_are_tried_first() -> None:
    proto = sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1),
                                                    default_value=sp.Value(double_value=0.25))])
    sampler = make_sampler("random", parse_space(proto), OBJ, {}, seed=1)
    assert sampler.suggest(1, [], []) == [{"x": 0.25}]
    assert sampler.suggest(1, [], []) != [{"x": 0.25}]


def test_grid_covers_the_product_including_conditional_branches() -> None:
    space = parse_space(space_proto())
    grid = GridSampler(space, OBJ, {"points_per_dimension": 2}, seed=0)
    # lr 2 x width 2 x depth 2 x drop 2 x (adam: 1 + sgd: 2 momenta)
    assert grid.size == 2 * 2 * 2 * 2 * 3
    seen = grid.suggest(1000, [], [])
    assert len(seen) == grid.size and grid.exhausted()
    assert len({json.dumps(a, sort_keys=True) for a in seen}) == grid.size
    for a in seen:
        space.check_assignment(a, "grid point")


def test_grid_that_is_too_large_is_refused() -> None:
    proto = sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=0, max=1))
                                       for i in range(10)])
    with pytest.raises(SpecError, match="more than 1000000 points"):
        GridSampler.check(parse_space(proto), OBJ, {"points_per_dimension": 5}, 0)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_is_deterministic_for_a_seed(name: str) -> None:
    proto = space_proto()
    if name == "oneshot":  # it needs an edge-op cell space for its supernet
        proto.architecture.edge_cell.init_channels = 4
    space = parse_space(proto)
    runs = [make_sampler(name, space, OBJ, {}, seed=5).suggest(6, [], []) for _ in range(2)]
    assert runs[0] == runs[1]
