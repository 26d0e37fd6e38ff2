"""Model- and population-based samplers: encoding, numerics, search quality, parallel spread, settings.

In process (no server) except the settings test, which asks a real controller
over gRPC. Quality is asserted with wide margins on fixed seeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import grpc
import numpy as np
import pytest
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import SAMPLERS, make_sampler
from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.evolution.cmaes import Strategy
from nestor_controller.samplers.gp.acquisition import log_h
from nestor_controller.samplers.gp.fit import Prior, neg_log_posterior
from nestor_controller.samplers.gp.kernel import Geometry
from nestor_controller.samplers.gp.model import GPModel
from nestor_controller.samplers.model_based import standardize, warp_with_log_jacobian
from nestor_controller.space import Space, parse_space

OBJ = [ObjectiveDef("y", maximize=False)]
MODEL_BASED = ["gp", "tpe", "ga", "cmaes"]


def double(name: str, lo: float, hi: float, log: bool = False) -> sp.Parameter:
    return sp.Parameter(name=name, double=sp.DoubleDomain(min=lo, max=hi, scale=sp.SCALE_LOG if log else 0))


def box(dim: int, lo: float = 0.0, hi: float = 1.0) -> Space:
    return parse_space(sp.SearchSpace(parameters=[double(f"x{i}", lo, hi) for i in range(dim)]))


def mixed_space() -> Space:
    """Log double, log int, stepped double, categorical with a conditional child, ordered categorical."""
    return parse_space(sp.SearchSpace(parameters=[
        double("lr", 1e-4, 1e-1, log=True),
        sp.Parameter(name="width", int=sp.IntDomain(min=1, max=64, scale=sp.SCALE_LOG)),
        sp.Parameter(name="depth", int=sp.IntDomain(min=1, max=4)),
        sp.Parameter(name="drop", double=sp.DoubleDomain(min=0.0, max=0.5, step=0.1)),
        sp.Parameter(name="opt", categorical=sp.CategoricalDomain(choices=[
            sp.Value(string_value="sgd"), sp.Value(string_value="adam"), sp.Value(string_value="rms")])),
        sp.Parameter(name="momentum", double=sp.DoubleDomain(min=0.0, max=0.99),
                     conditions=[sp.Condition(parent="opt", values=[sp.Value(string_value="sgd")])]),
        sp.Parameter(name="size", categorical=sp.CategoricalDomain(ordered=True, choices=[
            sp.Value(int_value=8), sp.Value(int_value=16), sp.Value(int_value=32)])),
    ]))


def mixed_loss(a: dict) -> float:
    """Best at lr=1e-2, width=16, depth=2, drop=0.2, opt=sgd with momentum 0.9, size=32."""
    y = (math.log10(a["lr"]) + 2) ** 2 + (math.log2(a["width"]) - 4) ** 2 / 4 + (a["depth"] - 2) ** 2 / 2
    y += (a["drop"] - 0.2) ** 2 * 4 + {"sgd": 0.0, "adam": 0.5, "rms": 1.0}[a["opt"]]
    y += (a["momentum"] - 0.9) ** 2 * 4 if a["opt"] == "sgd" else 0.0
    return y + {8: 0.6, 16: 0.3, 32: 0.0}[a["size"]]


def run(name: str, space: Space, f: Callable[[dict], float], budget: int, seed: int,
        settings: dict | None = None) -> list[Observation]:
    sampler = make_sampler(name, space, OBJ, settings or {}, seed)
    history: list[Observation] = []
    for t in range(budget):
        a = sampler.suggest(1, history, [])[0]
        history.append(Observation(t + 1, a, (f(a),)))
    return history


def branin(a: dict) -> float:
    x, y = a["x0"], a["x1"]
    bowl = (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
    return bowl + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


def sphere(a: dict) -> float:
    return sum((v - 0.3) ** 2 for v in a.values())


BRANIN = parse_space(sp.SearchSpace(parameters=[double("x0", -5, 10), double("x1", 0, 15)]))


# --- encoding -----------------------------------------------------------------------


def test_encoding_rounds_integers_and_categoricals_and_flags_inactive_parameters() -> None:
    space = mixed_space()
    enc = Encoder(space)
    draws = make_sampler("random", space, OBJ, {}, seed=1).suggest(300, [], [])
    X, act = enc.encode(draws)
    for back, a in zip(enc.decode(X, act), draws, strict=True):  # a round trip: exact but for float rounding
        assert back.keys() == a.keys()
        assert all(back[k] == a[k] if not isinstance(a[k], float) else math.isclose(back[k], a[k], rel_tol=1e-12)
                   for k in a)
    assert ((X >= 0) & (X <= 1)).all()
    mom = enc.numeric_col[enc.index["momentum"]]
    assert (X[~act[:, enc.index["momentum"]], mom] == 0).all()  # inactive: zero, and flagged
    # Any point of the cube decodes to a valid assignment: integers are integers, steps are kept.
    Xr, ar = enc.from_cube(np.random.default_rng(0).random((500, enc.n_params)))
    for a in enc.decode(Xr, ar):
        space.check_assignment(a, "decoded")
        assert isinstance(a["width"], int) and isinstance(a["depth"], int)
        assert abs(a["drop"] * 10 - round(a["drop"] * 10)) < 1e-9
    # Integers get cells of equal width: each depth value about a quarter of the cube.
    depths = [a["depth"] for a in enc.decode(Xr, ar)]
    assert all(90 < depths.count(d) < 160 for d in (1, 2, 3, 4))
    # Snapping is idempotent and lands on the encoding of a real value.
    assert np.array_equal(enc.snap(Xr), Xr)


def test_quasirandom_is_even_resumable_and_distinct() -> None:
    space = box(2)
    a = make_sampler("quasirandom", space, OBJ, {}, seed=3)
    first = a.suggest(16, [], [])
    b = make_sampler("quasirandom", space, OBJ, {}, seed=3)
    b.suggest(10, [], [])
    c_ = make_sampler("quasirandom", space, OBJ, {}, seed=99)
    c_.load_state(json.loads(json.dumps(b.state())))
    assert c_.suggest(6, [], []) == first[10:]
    pts = np.array([[p["x0"], p["x1"]] for p in first])
    # 16 Sobol points: one in each cell of a 4 x 4 grid.
    cells = {(int(x * 4), int(y * 4)) for x, y in pts}
    assert len(cells) == 16


# --- GP numerics --------------------------------------------------------------------------


def test_log_ei_is_finite_and_sloped_far_below_the_incumbent() -> None:
    z = np.array([2.0, 0.0, -0.9, -1.1, -10.0, -100.0, -5e3, -1e6])
    value, slope = log_h(z)
    assert np.isfinite(value).all() and np.isfinite(slope).all()
    assert (np.diff(value) < 0).all() and (slope > 0).all()
    eps = 1e-6
    numeric = (log_h(z + eps)[0] - log_h(z - eps)[0]) / (2 * eps)
    assert np.allclose(numeric, slope, rtol=1e-4)
    from scipy import special

    direct = np.log(z[:3] * special.ndtr(z[:3]) + np.exp(-z[:3] ** 2 / 2) / math.sqrt(2 * math.pi))
    assert np.allclose(value[:3], direct)


def test_gp_gradients_match_finite_differences() -> None:
    space = mixed_space()
    enc = Encoder(space)
    geo = Geometry(enc)
    rng = np.random.default_rng(0)
    X, act = enc.from_cube(rng.random((25, enc.n_params)))
    A = enc.col_active(act)
    y = rng.standard_normal(25)
    theta = np.append(np.log(rng.uniform(0.2, 1.5, enc.n_params)), [0.1, math.log(1e-3)])
    prior = Prior.for_dimension(enc.n_params)
    S = geo.param_sq_dists(X, A)
    _, grad = neg_log_posterior(theta, S, y, prior)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = 1e-6
        fd = (neg_log_posterior(theta + e, S, y, prior)[0] - neg_log_posterior(theta - e, S, y, prior)[0]) / 2e-6
        assert abs(fd - grad[j]) < 1e-4 * max(1.0, abs(fd))
    model = GPModel(geo, theta, X, A)
    model.set_targets(y)
    Z, za = enc.from_cube(rng.random((4, enc.n_params)))
    Za = enc.col_active(za)
    cols = enc.numeric_cols
    _, _, dmu, dvar = model.predict(Z, Za, cols)
    for k, col in enumerate(cols):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[:, col] += 1e-6
        Zm[:, col] -= 1e-6
        (mp, vp), (mm, vm) = model.predict(Zp, Za), model.predict(Zm, Za)
        active = Za[:, col] > 0
        assert np.allclose(((mp - mm) / 2e-6)[active], dmu[active, k], atol=1e-5)
        assert np.allclose(((vp - vm) / 2e-6)[active], dvar[active, k], atol=1e-5)


def test_warp_log_slopes_are_the_derivative_of_the_warp_at_its_fitted_power() -> None:
    from scipy import stats

    y = np.exp(3 * np.random.default_rng(4).random(25))
    t, log_slope = warp_with_log_jacobian(y)
    z = standardize(y)
    lam = stats.yeojohnson(z)[1]
    raw = stats.yeojohnson(z, lmbda=lam)

    def warped_at(i: int, v: float) -> float:
        zi = z.copy()
        zi[i] = v
        return float((stats.yeojohnson(zi, lmbda=lam)[i] - raw.mean()) / raw.std())

    for i in (0, 7, 19):
        h = 1e-6
        slope = (warped_at(i, z[i] + h) - warped_at(i, z[i] - h)) / (2 * h)
        assert math.isclose(math.log(slope), log_slope[i], rel_tol=1e-5, abs_tol=1e-6)
    assert np.allclose(t, (raw - raw.mean()) / raw.std())


def test_gp_warps_its_outputs_only_where_the_evidence_favours_it() -> None:
    """A loss that explodes at one edge is modelled warped; a smooth wave is not (warping it only distorts)."""
    rng = np.random.default_rng(0)
    points = [{"x0": float(u), "x1": float(v)} for u, v in rng.random((30, 2))]
    chosen = {}
    for name, f in (("explodes", lambda a: math.exp(8 * a["x0"]) + a["x1"]),
                    ("wave", lambda a: math.sin(6 * a["x0"]) + a["x1"])):
        sampler = make_sampler("gp", box(2), OBJ, {}, 1)
        sampler.suggest(1, [Observation(i + 1, a, (f(a),)) for i, a in enumerate(points)], [])
        chosen[name] = sampler.warped
    assert chosen == {"explodes": True, "wave": False}
    off = make_sampler("gp", box(2), OBJ, {"warp_outputs": False}, 1)
    off.suggest(1, [Observation(i + 1, a, (math.exp(8 * a["x0"]),)) for i, a in enumerate(points)], [])
    assert off.warped is False


def test_gp_factor_grown_row_by_row_equals_a_fresh_one() -> None:
    enc = Encoder(box(3))
    geo = Geometry(enc)
    X, act = enc.from_cube(np.random.default_rng(1).random((40, 3)))
    A = enc.col_active(act)
    theta = np.log([0.3, 0.5, 0.7, 1.0, 1e-4])
    grown = GPModel(geo, theta, X[:10], A[:10])
    for r in range(10, 40):
        grown.append(X[r], A[r])
    fresh = GPModel(geo, theta, X, A)
    y = np.sin(X.sum(1))
    grown.set_targets(y)
    fresh.set_targets(y)
    Z = np.random.default_rng(2).random((50, 3))
    for a, b in zip(grown.predict(Z, np.ones_like(Z)), fresh.predict(Z, np.ones_like(Z)), strict=True):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("d", [1, 2, 10])
@pytest.mark.parametrize("lam", [2, 3, 4, 12])
def test_active_cmaes_keeps_its_covariance_positive_definite_and_moves_towards_the_optimum(d: int, lam: int) -> None:
    """The worse half's negative weights shrink the covariance along bad steps, never through zero: also for
    the smallest populations, where the rank-mu update (through which they act) has no weight."""
    es = Strategy(d, lam, 0.3, np.full(d, 0.8))
    rng = np.random.default_rng(d * 100 + lam)
    start = float(np.sum((es.mean - 0.2) ** 2))
    for _ in range(30):
        xs = np.asarray([es.sample(rng) for _ in range(lam)])
        es.update(xs, np.sum((xs - 0.2) ** 2, axis=1))
        assert np.linalg.eigvalsh(es.C).min() > 0
    assert float(np.sum((es.mean - 0.2) ** 2)) < start
    assert es.weights[: lam // 2].sum() == pytest.approx(1.0)
    assert (es.weights[lam // 2:] <= 0).all()


def test_cmaes_fits_its_first_distribution_to_the_best_given_results_and_keeps_candidates_inside() -> None:
    """Thirty results given before the first candidate (a warm start's or added ones): the first generation
    is centred on the best tenth of them and only as wide as they spread (WS-CMA-ES), not the default step
    around the best one; a mean at a corner still gives candidates inside the bounds."""
    space = parse_space(sp.SearchSpace(parameters=[
        sp.Parameter(name=n, double=sp.DoubleDomain(min=0.0, max=1.0)) for n in ("a", "b")]))
    rng = np.random.default_rng(5)
    given = [{"a": float(x), "b": float(y)} for x, y in rng.random((30, 2))]
    def f(p: dict) -> float:
        return (p["a"] - 0.8) ** 2 + (p["b"] - 0.3) ** 2
    history = [Observation(i + 1, p, (f(p),)) for i, p in enumerate(given)]
    cma = make_sampler("cmaes", space, OBJ, {}, seed=1)
    cold = make_sampler("cmaes", space, OBJ, {}, seed=1)
    warm_draws, cold_draws = cma.suggest(20, history, []), cold.suggest(20, [], [])
    top = sorted(given, key=f)[:3]
    assert cma.es.mean == pytest.approx([np.mean([p["a"] for p in top]), np.mean([p["b"] for p in top])])
    assert cma.es.sigma < cold.es.sigma == pytest.approx(1 / 6)
    assert np.median([f(p) for p in warm_draws]) < 0.5 * np.median([f(p) for p in cold_draws])
    corner = Strategy(2, 6, 0.5, np.zeros(2))
    xs = np.asarray([corner.sample(rng) for _ in range(200)])
    assert ((xs >= 0) & (xs <= 1)).all() and (xs > 0).all()  # drawn again, not clipped onto the bound


def test_cmaes_restarts_with_a_larger_population_when_a_generation_scores_flat() -> None:
    """On integers a converged CMA-ES draws one point again and again while its step size shrinks far too
    slowly to reach the collapse test: a generation whose best 70% tie ends the run and restarts it (IPOP);
    a generation that tells its points apart does not."""
    space = parse_space(sp.SearchSpace(parameters=[
        sp.Parameter(name=n, int=sp.IntDomain(min=0, max=20)) for n in ("a", "b")]))

    def one_generation(cma, loss: Callable[[dict], float]) -> None:
        draws = cma.suggest(cma.es.lam, [], [])
        history = [Observation(i + 1, p, (loss(p),)) for i, p in enumerate(draws)]
        cma.suggest(1, history, [])

    varied = make_sampler("cmaes", space, OBJ, {}, seed=3)
    lam = varied.es.lam
    one_generation(varied, lambda p: (p["a"] - 4) ** 2 + (p["b"] - 15) ** 2 + 0.01 * p["a"])
    assert varied.es.lam == lam and varied.es.gen == 1
    flat = make_sampler("cmaes", space, OBJ, {}, seed=3)
    one_generation(flat, lambda p: 1.0)
    assert flat.es.lam == 2 * lam and flat.es.gen == 0
    kept = make_sampler("cmaes", space, OBJ, {"restarts": False}, seed=3)
    one_generation(kept, lambda p: 1.0)
    assert kept.es.lam == lam and kept.es.gen == 1


# --- state and determinism ---------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_BASED)
def test_a_sampler_rebuilt_from_its_state_at_every_step_repeats_the_run(name: str) -> None:
    """What a controller restart does before each suggestion; the GP crosses several refit-free steps."""
    space = mixed_space()
    settings = {"n_initial": 4} if name in ("gp", "tpe") else {"population_size": 4}
    budget = 45 if name == "gp" else 30
    straight = run(name, space, mixed_loss, budget, seed=7, settings=settings)
    history: list[Observation] = []
    state = make_sampler(name, space, OBJ, settings, seed=7).state()
    for t in range(budget):
        sampler = make_sampler(name, space, OBJ, settings, seed=7)
        sampler.load_state(json.loads(json.dumps(state)))
        a = sampler.suggest(1, history, [])[0]
        state = sampler.state()
        history.append(Observation(t + 1, a, (mixed_loss(a),)))
    assert [o.params for o in history] == [o.params for o in straight]


@pytest.mark.parametrize("name", [*MODEL_BASED, "quasirandom"])
def test_suggestions_are_valid_on_a_mixed_conditional_space(name: str) -> None:
    space = mixed_space()
    settings = {"population_size": 6} if name in ("ga", "cmaes") else {}
    history = run(name, space, mixed_loss, 30, seed=2, settings=settings)
    for o in history:
        space.check_assignment(o.params, name)
        assert isinstance(o.params["width"], int) and isinstance(o.params["size"], int)
    assert len({json.dumps(o.params, sort_keys=True) for o in history}) == len(history)


# --- search quality --------------------------------------------------------------------------------


def best_of(history: list[Observation]) -> float:
    return min(o.values[0] for o in history if o.values)


@pytest.mark.parametrize(("name", "budget"), [("gp", 25), ("tpe", 60), ("ga", 100), ("cmaes", 100)])
def test_each_sampler_finds_the_optimum_region_far_more_often_than_random(name: str, budget: int) -> None:
    """A shifted sphere in 4 dimensions: "found" means within 0.1 of the optimum (about 1e-5 of the volume)."""
    space = box(4)
    settings = {"population_size": 10} if name == "ga" else {}
    hits = {alg: sum(best_of(run(alg, space, sphere, budget, seed, settings if alg == name else None)) < 0.01
                     for seed in range(5))
            for alg in (name, "random")}
    assert hits[name] >= 4 and hits["random"] <= 1, hits


def test_gp_beats_random_and_tpe_on_branin_and_mixed_space() -> None:
    regrets = {alg: np.mean([best_of(run(alg, BRANIN, branin, 30, seed)) - 0.397887 for seed in range(3)])
               for alg in ("gp", "random")}
    assert regrets["gp"] < 0.05 < regrets["random"] / 5, regrets
    mixed = {alg: np.mean([best_of(run(alg, mixed_space(), mixed_loss, 40, seed)) for seed in range(3)])
             for alg in ("gp", "tpe", "random")}
    assert mixed["gp"] < mixed["random"] / 3 and mixed["tpe"] < mixed["random"], mixed


def test_gp_beats_random_on_hartmann6() -> None:
    from math import exp

    alpha = [1.0, 1.2, 3.0, 3.2]
    A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
    P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
         [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]

    def hartmann6(a: dict) -> float:
        x = [a[f"x{i}"] for i in range(6)]
        return -sum(alpha[i] * exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))

    regret = {alg: np.mean([best_of(run(alg, box(6), hartmann6, 40, seed)) + 3.32237 for seed in range(3)])
              for alg in ("gp", "random")}
    assert regret["gp"] < regret["random"] / 2, regret


# --- parallel suggestions ------------------------------------------------------------------------------


def min_pairwise(points: list[dict], space: Space) -> float:
    enc = Encoder(space)
    X, _ = enc.encode(points)
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(X), 1)].min())


@pytest.mark.parametrize(("name", "spread"), [("gp", 0.05), ("tpe", 0.005)])
def test_eight_free_executors_get_eight_distinct_spread_points(name: str, spread: float) -> None:
    space = box(3)
    history = run(name, space, sphere, 15, seed=4)
    sampler = make_sampler(name, space, OBJ, {}, seed=4)
    sampler.load_state(make_sampler(name, space, OBJ, {}, seed=4).state())
    sampler.suggested = 15
    # Four trials already running, then eight at once: none may repeat another, running ones included.
    running = sampler.suggest(4, history, [])
    batch = sampler.suggest(8, history, running)
    assert min_pairwise(running + batch, space) > spread
    # A sampler that ignores pending trials proposes (nearly) the same point again and again.
    blind = [make_sampler(name, space, OBJ, {}, seed=4) for _ in range(8)]
    for b in blind:
        b.suggested = 15
    ignoring = [b.suggest(1, history, [])[0] for b in blind]
    assert min_pairwise(running + batch, space) > 10 * min_pairwise(ignoring, space) + spread
    assert len({json.dumps(p, sort_keys=True) for p in running + batch}) == 12


def test_gp_never_repeats_in_a_small_discrete_space() -> None:
    space = parse_space(sp.SearchSpace(parameters=[
        sp.Parameter(name="a", int=sp.IntDomain(min=0, max=2)),
        sp.Parameter(name="b", categorical=sp.CategoricalDomain(choices=[sp.Value(string_value="u"),
                                                                        sp.Value(string_value="v")]))]))
    history = run("gp", space, lambda a: a["a"] + (a["b"] == "v"), 3, seed=0, settings={"n_initial": 2})
    sampler = make_sampler("gp", space, OBJ, {"n_initial": 2}, seed=0)
    sampler.suggested = 3
    batch = sampler.suggest(3, history, [])
    keys = {json.dumps(p, sort_keys=True) for p in [*batch, *(o.params for o in history)]}
    assert len(keys) == 6  # the whole space, each point once


def test_discrete_local_search_reaches_the_acquisitions_best_grid_point_from_a_far_start() -> None:
    """An acquisition that peaks at a grid point the continuous relaxation misses (a narrow spike next to a
    broad hill) is climbed coordinate by coordinate to the spike, the continuous column refined on the way."""
    space = parse_space(sp.SearchSpace(parameters=[
        sp.Parameter(name="n", int=sp.IntDomain(min=0, max=40)),
        sp.Parameter(name="k", int=sp.IntDomain(min=0, max=5)),
        sp.Parameter(name="c", categorical=sp.CategoricalDomain(choices=[sp.Value(string_value=v) for v in "uvw"])),
        double("x", 0.0, 1.0)]))
    enc = Encoder(space)
    target = {"n": 29, "k": 4, "c": "w", "x": 0.3}

    def acq(Z: np.ndarray, colact: np.ndarray, cols: np.ndarray | None) -> tuple[np.ndarray, ...]:
        a = enc.decode(Z)
        n = np.array([p["n"] for p in a], dtype=float)
        k = np.array([p["k"] for p in a], dtype=float)
        cw = np.array([p["c"] == "w" for p in a], dtype=float)
        xc = enc.numeric_col[3]
        v = -np.abs(n - 29) / 40 - (k - 4) ** 2 - (1 - cw) - (Z[:, xc] - 0.3) ** 2
        if cols is None:
            return (v,)
        g = np.zeros((len(Z), len(cols)))
        g[:, list(cols).index(xc)] = -2 * (Z[:, xc] - 0.3)
        return v, g

    from nestor_controller.samplers.gp.optimize import local_search

    X, act = enc.encode([{"n": 0, "k": 0, "c": "u", "x": 0.9}])
    found = local_search(enc, acq, X, act, acq(X, enc.col_active(act), None)[0], maxiter=40)
    best = enc.decode(found.X[:1])[0]
    assert {k: best[k] for k in "nkc"} == {k: target[k] for k in "nkc"}
    assert abs(best["x"] - 0.3) < 1e-3
    assert len(np.unique(found.X, axis=0)) > 10  # the moves tried are candidates too


def test_acquisition_refinement_moves_only_continuous_columns() -> None:
    """Refined by L-BFGS-B, an integer stays on its grid value however steep the acquisition's slope along
    it (it moves by coordinate moves alone); the double climbs to its optimum."""
    from nestor_controller.samplers.gp.optimize import refine

    space = parse_space(sp.SearchSpace(parameters=[sp.Parameter(name="n", int=sp.IntDomain(min=0, max=40)),
                                                   double("x", 0.0, 1.0)]))
    enc = Encoder(space)
    xn, xx = enc.numeric_col[0], enc.numeric_col[1]

    def acq(Z: np.ndarray, colact: np.ndarray, cols: np.ndarray | None) -> tuple[np.ndarray, ...]:
        v = -(Z[:, xn] - 0.9) ** 2 - (Z[:, xx] - 0.3) ** 2
        if cols is None:
            return (v,)
        g = np.zeros((len(Z), len(cols)))
        for k, col in enumerate(cols):
            g[:, k] = -2 * (Z[:, col] - (0.9 if col == xn else 0.3))
        return v, g

    X, act = enc.encode([{"n": 3, "x": 0.8}, {"n": 20, "x": 0.1}])
    out = refine(enc, acq, X, act, maxiter=40)
    assert np.array_equal(out[:, xn], X[:, xn])
    assert np.allclose(out[:, xx], 0.3, atol=1e-4)


# --- settings over gRPC ----------------------------------------------------------------------------------


def study(algorithm: str, settings: dict, *params: sp.Parameter, max_trials: int = 20,
          objectives: int = 1) -> s.StudySpec:
    out = s.StudySpec(name="t", space=sp.SearchSpace(parameters=params or [double("x", 0, 1)]),
                      objectives=[s.Objective(metric=f"y{i}", goal=s.GOAL_MINIMIZE) for i in range(objectives)],
                      algorithm=s.AlgorithmSpec(name=algorithm), budget=s.Budget(max_trials=max_trials))
    out.algorithm.settings.update(settings)
    return out


CATEGORICAL_ONLY = sp.Parameter(name="k", categorical=sp.CategoricalDomain(choices=[sp.Value(string_value="a")]))
BAD_SETTINGS = [
    (study("ga", {"population_size": 50}, max_trials=20),
     ["spec.algorithm.settings.population_size", "population of 50 is larger than the budget of max_trials=20"]),
    (study("cmaes", {}, CATEGORICAL_ONLY), ["spec.space", "'cmaes' needs at least one double or int"]),
    (study("cmaes", {"population_size": 30}, max_trials=10), ["spec.algorithm.settings.population_size"]),
    (study("cmaes", {"sigma0": 2.0}), ["spec.algorithm.settings.sigma0", "got 2.0"]),
    (study("gp", {"parallel": "guess"}), ["spec.algorithm.settings.parallel", "believer, liar", "'guess'"]),
    (study("gp", {"n_initial": 20}, max_trials=20), ["spec.algorithm.settings.n_initial", "max_trials=20"]),
    (study("gp", {"restarts": 0}), ["spec.algorithm.settings.restarts", "must be >= 1"]),
    (study("gp", {"candidates": "many"}), ["spec.algorithm.settings.candidates", "expected int"]),
    (study("gp", {"kernel": "rbf"}), ["spec.algorithm.settings", "unknown setting 'kernel'", "n_initial"]),
    (study("ga", {}, objectives=2), ["spec.objectives"]),  # gp, tpe and nsga2 take several
    (study("tpe", {"gamma": 1.5}), ["spec.algorithm.settings.gamma", "between 0 and 1"]),
    (study("ga", {"mutation_rate": 2}), ["spec.algorithm.settings.mutation_rate", "<= 1"]),
    (study("ga", {"replacement": "best"}), ["spec.algorithm.settings.replacement", "worst, oldest"]),
    (study("ga", {"population_size": 4, "tournament_size": 9}), ["spec.algorithm.settings.tournament_size"]),
    (study("quasirandom", {"scramble": "yes"}), ["spec.algorithm.settings.scramble", "expected bool"]),
]


def test_bad_algorithm_settings_are_invalid_argument_naming_the_setting(stub) -> None:
    for spec, fragments in BAD_SETTINGS:
        with pytest.raises(grpc.RpcError) as e:
            stub.CreateStudy(c.CreateStudyRequest(spec=spec))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        for f in fragments:
            assert f in e.value.details(), (f, e.value.details())
    assert not stub.ListStudies(c.ListStudiesRequest(include_finished=True)).studies
    for name in ("gp", "tpe", "ga", "cmaes", "quasirandom"):  # their defaults are accepted
        stub.CreateStudy(c.CreateStudyRequest(spec=study(name, {}, max_trials=40)))


def test_every_new_sampler_is_registered() -> None:
    assert {"quasirandom", "gp", "tpe", "ga", "cmaes"} <= set(SAMPLERS)
