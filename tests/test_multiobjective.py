"""Several objectives and constraints in process: Pareto ranks, crowding, hypervolume, EHVI, the samplers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nestor.v1 import space_pb2 as sp
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import make_sampler
from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.multiobjective.ehvi import decompose, ehvi, ehvi_monte_carlo
from nestor_controller.samplers.multiobjective.hypervolume import contributions, hypervolume
from nestor_controller.samplers.multiobjective.pareto import (
    constrained_ranks,
    crowding_distance,
    non_dominated_ranks,
    select,
)
from nestor_controller.samplers.multiobjective.split import split_good_many
from nestor_controller.space import Space, parse_space

TWO = [ObjectiveDef("f1", False), ObjectiveDef("f2", False)]


def box(dim: int) -> Space:
    return parse_space(sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=0, max=1))
                                                  for i in range(dim)]))


def zdt1(a: dict) -> tuple[float, float]:
    x = np.asarray([a[f"x{i}"] for i in range(len(a))])
    g = 1 + 9 * x[1:].mean()
    return float(x[0]), float(g * (1 - np.sqrt(x[0] / g)))


def run(name: str, settings: dict, budget: int, seed: int = 0, dim: int = 4, batch: int = 1,
        constraint: bool = False) -> list[Observation]:
    sampler = make_sampler(name, box(dim), TWO, settings, seed)
    history: list[Observation] = []
    while len(history) < budget:
        for a in sampler.suggest(batch, history, []):
            v = zdt1(a)
            # A constraint that rules out the left half of the front: x0 >= 0.5.
            violations = (0.5 - a["x0"],) if constraint else ()
            history.append(Observation(len(history) + 1, a, v, violations=violations))
    return history


# --- hand-worked cases -----------------------------------------------------------------------


def test_non_dominated_sort_matches_hand_worked_fronts() -> None:
    # (1,5) (2,3) (4,1) are the front; (3,4) is dominated by (2,3) only; (5,5) by everything before it;
    # (2,3) again ties the front (a duplicate is not dominated).
    F = np.array([[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 3]], dtype=float)
    assert non_dominated_ranks(F).tolist() == [0, 0, 0, 1, 2, 0]


def test_crowding_distance_matches_hand_worked_values() -> None:
    # Sorted on f1: (0,10) (1,6) (3,3) (6,1) (10,0); ranges 10 and 10. Inner point i gets
    # (f1[i+1] - f1[i-1]) / 10 + (f2[i-1] - f2[i+1]) / 10.
    F = np.array([[3, 3], [0, 10], [10, 0], [1, 6], [6, 1]], dtype=float)
    d = crowding_distance(F)
    assert np.isinf(d[1]) and np.isinf(d[2])
    assert d[3] == pytest.approx((3 - 0) / 10 + (10 - 3) / 10)
    assert d[0] == pytest.approx((6 - 1) / 10 + (6 - 1) / 10)
    assert d[4] == pytest.approx((10 - 3) / 10 + (3 - 0) / 10)


def test_selection_keeps_fronts_then_the_least_crowded() -> None:
    # Front of five for four places: the extremes stay, then the two most isolated inner points: crowding
    # (1,9) 0.2 + 0.2, (2,8) 0.5 + 0.6, (6,3) 0.8 + 0.8; (1,9) goes, and the dominated (7,7) with it.
    F = np.array([[2, 8], [0, 10], [10, 0], [1, 9], [6, 3], [7, 7]], dtype=float)
    assert select(F, np.zeros(6), 4).tolist() == [0, 1, 2, 4]


def test_constraint_domination_puts_every_feasible_row_first() -> None:
    F = np.array([[0, 0], [5, 5], [9, 9], [1, 1]], dtype=float)
    V = np.array([2.0, 0.0, 0.0, 0.5])
    assert constrained_ranks(F, V).tolist() == [3, 0, 1, 2]


def test_hypervolume_matches_hand_worked_and_monte_carlo_values() -> None:
    # Staircase (1,3) (2,2) (3,1) up to (4,4): 3 + 2 + 1 = 6; the dominated (3,3) and the outside (5,0) add nothing.
    F = np.array([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]], dtype=float)
    assert hypervolume(F, np.array([4.0, 4.0])) == pytest.approx(6.0)
    assert contributions(F, np.array([4.0, 4.0])).tolist() == pytest.approx([1, 1, 1, 0, 0])
    rng = np.random.default_rng(0)
    for m in (3, 4):
        F = rng.random((15, m))
        S = rng.random((200_000, m)) * 1.2
        covered = np.zeros(len(S), dtype=bool)
        for p in F:
            covered |= (p <= S).all(axis=1)
        assert hypervolume(F, np.full(m, 1.2)) == pytest.approx(covered.mean() * 1.2**m, rel=0.02)


# --- NSGA-II ---------------------------------------------------------------------------------


def test_nsga2_beats_random_on_zdt1_and_repeats_itself() -> None:
    ref = np.array([1.1, 11.0])
    hv = {}
    for name in ("nsga2", "random"):
        h = run(name, {"population_size": 10} if name == "nsga2" else {}, 80)
        hv[name] = hypervolume(np.array([o.values for o in h]), ref)
    assert hv["nsga2"] > hv["random"]
    again = run("nsga2", {"population_size": 10}, 80)
    assert [o.params for o in again] == [o.params for o in run("nsga2", {"population_size": 10}, 80)]


def test_nsga2_state_is_json_and_a_restored_sampler_continues_identically() -> None:
    history = run("nsga2", {"population_size": 6}, 20, batch=3)
    a = make_sampler("nsga2", box(4), TWO, {"population_size": 6}, 0)
    a.suggest(20, [], [])  # past its design, like the one that produced the history
    b = make_sampler("nsga2", box(4), TWO, {"population_size": 6}, 99)
    b.load_state(json.loads(json.dumps(a.state())))
    assert a.suggest(4, history, []) == b.suggest(4, history, [])




# --- EHVI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 2, 3])
def test_ehvi_matches_a_monte_carlo_estimate_and_its_gradient_finite_differences(m: int) -> None:
    rng = np.random.default_rng(m)
    front, ref = rng.random((5, m)), np.full(m, 1.2)
    boxes = decompose(front, ref)
    mu, sigma = rng.random((3, m)) * 0.9, 0.05 + rng.random((3, m)) * 0.3
    value, dmu, dsigma = ehvi(mu, sigma, boxes, grad=True)
    for i in range(3):
        estimate = ehvi_monte_carlo(mu[i], sigma[i], front, ref, 6000, rng)
        assert value[i] == pytest.approx(estimate, rel=0.06, abs=5e-4)
    h = 1e-6
    for j in range(m):
        bump = np.eye(m)[j] * h
        assert dmu[:, j] == pytest.approx((ehvi(mu + bump, sigma, boxes)[0] - value) / h, rel=1e-3, abs=1e-7)
        assert dsigma[:, j] == pytest.approx((ehvi(mu, sigma + bump, boxes)[0] - value) / h, rel=1e-3, abs=1e-7)


def test_ehvi_of_a_point_dominated_for_sure_is_zero_and_of_one_beyond_the_front_is_its_gain() -> None:
    front, ref = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]), np.array([4.0, 4.0])
    boxes = decompose(front, ref)
    tiny = np.full((1, 2), 1e-9)
    assert ehvi(np.array([[3.5, 3.5]]), tiny, boxes)[0][0] == pytest.approx(0.0, abs=1e-9)
    gain = hypervolume(np.vstack([front, [[0.5, 0.5]]]), ref) - hypervolume(front, ref)
    assert ehvi(np.array([[0.5, 0.5]]), tiny, boxes)[0][0] == pytest.approx(gain)


# --- MOTPE's split and constraints in the model-based samplers ------------------------------------


def test_motpe_split_takes_feasible_fronts_first_then_the_widest_spread() -> None:
    F = np.array([[0, 10], [1, 9], [2, 8], [10, 0], [5, 5], [6, 6], [0, 0]], dtype=float)
    V = np.array([0, 0, 0, 0, 0, 0, 1.0])  # the best point is infeasible
    good, bad = split_good_many(F, V, gamma=0.5, max_good=3)
    # Front (0,10) (1,9) (2,8) (10,0) (5,5) for three places, reference (11,11): (5,5) adds 36, then (2,8)
    # adds 3 x 3 = 9, then (10,0) adds 1 x 5 = 5 (more than (0,10)'s 2 x 1).
    assert good.tolist() == [2, 3, 4] and 6 in bad
    good, _ = split_good_many(F, np.array([1.0, 0, 2.0, 3.0, 4.0, 5.0, 6.0]), gamma=0.5, max_good=3)
    assert good.tolist() == [0, 1, 2]  # one feasible row, then the least violated


@pytest.mark.parametrize("name", ["tpe", "gp"])
def test_model_based_samplers_find_a_better_front_than_random(name: str) -> None:
    budget = 40 if name == "tpe" else 22
    settings = {"n_initial": 8}
    ref = np.array([1.1, 11.0])
    ours = hypervolume(np.array([o.values for o in run(name, settings, budget)]), ref)
    assert ours > hypervolume(np.array([o.values for o in run("random", {}, budget)]), ref)


@pytest.mark.parametrize("name", ["tpe", "gp", "nsga2"])
def test_samplers_with_a_constraint_mostly_suggest_feasible_points(name: str) -> None:
    settings = {"population_size": 8} if name == "nsga2" else {"n_initial": 8}
    budget = 24 if name == "gp" else 60
    h = run(name, settings, budget, constraint=True)
    late = h[budget // 2:]
    assert sum(o.feasible for o in late) >= 0.7 * len(late)


def test_gp_with_several_objectives_restores_its_fits_from_json() -> None:
    history = run("gp", {"n_initial": 5}, 8)
    a = make_sampler("gp", box(4), TWO, {"n_initial": 5}, 0)
    a.suggest(8, [], [])
    a.suggest(1, history, [])  # fits one GP per objective
    b = make_sampler("gp", box(4), TWO, {"n_initial": 5}, 0)
    b.load_state(json.loads(json.dumps(a.state())))
    assert a.state()["thetas"] and a.suggest(2, history, []) == b.suggest(2, history, [])


def test_motpe_split_with_three_objectives_picks_from_the_front_and_repeats_itself() -> None:
    rng = np.random.default_rng(3)
    F = rng.random((120, 3))
    good, _ = split_good_many(F, np.zeros(120), gamma=0.1, max_good=10)
    assert len(good) == 10  # min(max_good, ceil(gamma * n))
    front = set(np.flatnonzero(non_dominated_ranks(F) == 0).tolist())
    assert set(good.tolist()) <= front or len(front) < len(good)
    assert split_good_many(F, np.zeros(120), gamma=0.1, max_good=10)[0].tolist() == good.tolist()


def test_motpe_good_density_takes_each_kernel_width_from_its_neighbours() -> None:
    from nestor_controller.samplers.encoding import Encoder
    from nestor_controller.samplers.tpe.kde import ParzenEstimator, local_bandwidths

    # The wider gap to a neighbour; the outermost centres look inwards; never under 1 / min(100, m + 2).
    h = local_bandwidths(np.array([0.5, 0.1, 0.9, 0.2]))
    assert np.allclose(h, [0.4, 1 / 6, 0.4, 0.3])
    assert np.allclose(local_bandwidths(np.array([0.5, 0.5, 0.5])), 0.2)
    assert np.allclose(local_bandwidths(np.array([0.3])), 0.7)
    enc = Encoder(box(2))
    X, act = enc.encode([{"x0": 0.1, "x1": 0.5}, {"x0": 0.2, "x1": 0.5}, {"x0": 0.9, "x1": 0.5}])
    local = ParzenEstimator(enc, X, act, local=True)
    shared = ParzenEstimator(enc, X, act)
    assert np.isscalar(shared.bandwidth[0]) and len(local.bandwidth[0]) == 4
    rng = np.random.default_rng(0)
    C, Ca = local.sample(rng, 64)
    assert np.isfinite(local.log_pdf(C, Ca)).all() and ((C >= 0) & (C <= 1)).all()
    # A density: its integral over the unit square is about 1.
    g = np.linspace(0.0025, 0.9975, 200)
    G, Ga = enc.encode([{"x0": a, "x1": b} for a in g for b in g])
    assert abs(np.exp(local.log_pdf(G, Ga)).mean() - 1.0) < 0.02
