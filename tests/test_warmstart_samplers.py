"""Warm starts inside the samplers: GP transfer (a stack of GPs on the priors) and TPE/BOHB observations.

In process (no server), on small boxes with a quadratic whose optimum the
prior studies share (or, misleadingly, invert). Quality is asserted with wide
margins on fixed seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import make_sampler
from nestor_controller.samplers.base import Observation, Sampler
from nestor_controller.samplers.gp.transfer import cap_rows, regress
from nestor_controller.samplers.priors import OBSERVATIONS, TOP_K, TRANSFER, PriorStudy, prior_weight
from nestor_controller.samplers.tpe.warm import with_priors
from nestor_controller.space import Space
from test_model_samplers import OBJ, box

D = 3
OPT = 0.8
Loss = Callable[[dict], float]


def quadratic(centre: float = OPT) -> Loss:
    return lambda a: sum((a[f"x{i}"] - centre) ** 2 for i in range(D))


def prior_study(f: Loss, n: int = 60, seed: int = 0, scale: float = 10.0, shift: float = 3.0,
                name: str = "prior") -> PriorStudy:
    """A finished study of `f` on another scale (random points), as warmstart.py would hand it over."""
    rng = np.random.default_rng(seed)
    obs = []
    for t in range(n):
        a = {f"x{i}": float(rng.random()) for i in range(D)}
        obs.append(Observation(t + 1, a, (scale * f(a) + shift,)))
    return PriorStudy(name, name, 0.1, tuple(obs))


def sampler(name: str, priors: list[PriorStudy] | None, mode: str, seed: int = 1, space: Space | None = None,
            settings: dict | None = None, objectives: list[ObjectiveDef] | None = None) -> Sampler:
    s = make_sampler(name, space or box(D), objectives or OBJ, settings or {}, seed)
    if priors is not None:
        s.set_priors(priors, mode, 10.0)
    return s


def drive(s: Sampler, f: Loss, budget: int, batch: int = 1, history: list[Observation] | None = None,
          budget_value: float = 0.0) -> list[Observation]:
    history = list(history or [])
    while len(history) < budget:
        for a in s.suggest(batch, history, []):
            history.append(Observation(len(history) + 1, a, (f(a),), budget=budget_value))
    return history


def dist(a: dict) -> float:
    return float(np.sqrt(sum((a[f"x{i}"] - OPT) ** 2 for i in range(D))))


WARM = [("gp", TRANSFER), ("tpe", OBSERVATIONS), ("bohb", OBSERVATIONS)]


# --- the first warm suggestions -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "mode"), WARM)
def test_first_warm_suggestions_land_near_the_priors_optimum(name: str, mode: str) -> None:
    prior = prior_study(quadratic())
    warm = sampler(name, [prior], mode).suggest(4, [], [])
    cold = sampler(name, None, mode).suggest(4, [], [])
    warm_d = sorted(dist(a) for a in warm)
    cold_d = sorted(dist(a) for a in cold)
    assert len({json.dumps(a, sort_keys=True) for a in warm}) == 4  # a batch spreads out
    assert warm_d[0] < 0.3 < cold_d[0], (warm_d, cold_d)
    # The rest of the batch explores (the GP's fantasies push it off the first point), nearer than cold.
    assert np.mean(warm_d) < np.mean(cold_d) - 0.1, (warm_d, cold_d)


def test_gp_transfer_first_suggestion_is_the_stacks_optimum_whatever_the_scales() -> None:
    # Two priors, the nearest first: the stack is fitted on their ranks, not their (very different) scales.
    priors = [prior_study(quadratic(), seed=1, scale=1000.0, shift=-50.0, name="a"),
              prior_study(quadratic(0.75), seed=2, scale=0.01, name="b")]
    first = sampler("gp", priors, TRANSFER).suggest(1, [], [])[0]
    assert dist(first) < 0.15, first


def test_gp_transfer_ignores_priors_with_several_objectives() -> None:
    objectives = [ObjectiveDef("y", maximize=False), ObjectiveDef("z", maximize=False)]
    prior = prior_study(quadratic())
    prior = PriorStudy("p", "p", None, tuple(Observation(o.trial_id, o.params, (o.values[0], 1.0))
                                              for o in prior.observations if o.values))

    def two(a: dict) -> tuple[float, float]:
        return quadratic()(a), a["x0"]

    def run(s: Sampler) -> list[dict]:
        h: list[Observation] = []
        for t in range(12):
            a = s.suggest(1, h, [])[0]
            h.append(Observation(t + 1, a, two(a)))
        return [o.params for o in h]

    assert run(sampler("gp", [prior], TRANSFER, objectives=objectives, settings={"n_initial": 6})) == \
        run(sampler("gp", None, TRANSFER, objectives=objectives, settings={"n_initial": 6}))


# --- the weight of the priors --------------------------------------------------------------------


def test_prior_weight_decays_with_own_results() -> None:
    w = [prior_weight(10.0, n) for n in (0, 10, 30, 90)]
    assert w[0] == 1.0 and w[1] == 0.5 and w == sorted(w, reverse=True) and w[-1] == pytest.approx(0.1)
    X, act = np.zeros((2, 3)), np.ones((2, 3), dtype=bool)
    _, _, weights = with_priors(X, act, (np.ones((3, 3)), np.ones((3, 3), dtype=bool)), w[2])
    assert weights is not None and weights.tolist() == [1.0, 1.0, *[w[2]] * 3]
    assert with_priors(X, act, (np.ones((3, 3)), np.ones((3, 3), dtype=bool)), 0.0)[2] is None


@pytest.mark.parametrize("name", ["tpe", "bohb"])
def test_own_results_take_over_from_the_priors(name: str) -> None:
    """The prior says 0.8, this task's optimum is at 0.2: as the study's results gather, the priors fade and
    the suggestions move to the study's own optimum."""
    f = quadratic(0.2)
    s = sampler(name, [prior_study(quadratic())], OBSERVATIONS)
    h = drive(s, f, 40, budget_value=1.0)
    early = np.median([f(o.params) for o in h[:5]])
    late = np.median([f(o.params) for o in h[-10:]])
    assert late < 0.1 < early, (early, late)


# --- a misleading prior ----------------------------------------------------------------------------


def test_regression_on_a_negated_stack_switches_it_off() -> None:
    m = np.linspace(-1.0, 1.0, 15)
    a, b = regress(-m, m)
    assert b == 0.0 and abs(a) < 1e-9
    a, b = regress(2.0 * m + 0.5, m)
    assert 1.5 < b < 2.0 and 0.3 < a < 0.5
    assert regress(np.zeros(0), np.zeros(0)) == (0.0, 1.0)


def test_gp_transfer_with_a_negated_prior_still_converges() -> None:
    f = quadratic()
    misleading = prior_study(quadratic(), scale=-10.0)  # its best points are the corners farthest from 0.8
    s = sampler("gp", [misleading], TRANSFER)
    early = drive(s, f, 6)
    assert s.transfer_off  # found out from its own few results, long before transfer_trials
    warm = drive(s, f, 22, history=early)
    cold = drive(sampler("gp", None, TRANSFER), f, 22)
    best_warm = min(f(o.params) for o in warm)
    best_cold = min(f(o.params) for o in cold)
    assert best_warm < max(0.01, 2 * best_cold), (best_warm, best_cold)


# --- determinism ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "mode"), WARM)
def test_a_restarted_warm_sampler_continues_exactly(name: str, mode: str) -> None:
    f = quadratic()
    priors = [prior_study(quadratic(), name="a"), prior_study(quadratic(0.7), seed=3, name="b")]
    s = sampler(name, priors, mode)
    h = drive(s, f, 6, batch=2, budget_value=1.0)
    running = [h[-1].params]
    twin = sampler(name, priors, mode)
    twin.load_state(json.loads(json.dumps(s.state())))
    assert twin.suggest(2, h[:-1], running) == s.suggest(2, h[:-1], running)


@pytest.mark.parametrize("name", ["gp", "tpe", "bohb"])
@pytest.mark.parametrize("mode", [TRANSFER, OBSERVATIONS, TOP_K])
def test_without_priors_the_sampler_is_the_cold_one(name: str, mode: str) -> None:
    """No priors (or the top_k mode, which the study's queue handles): the same suggestions as a sampler whose
    set_priors was never called."""
    f = quadratic()
    priors = [prior_study(f)] if mode == TOP_K else []
    settings = {"n_initial": 4} if name != "bohb" else {}
    warm = drive(sampler(name, priors, mode, settings=settings), f, 12, batch=2, budget_value=1.0)
    cold = drive(sampler(name, None, mode, settings=settings), f, 12, batch=2, budget_value=1.0)
    assert [o.params for o in warm] == [o.params for o in cold]


def test_priors_are_capped_to_their_best_and_an_even_spread() -> None:
    y = np.arange(1000, 0, -1, dtype=float)
    idx = cap_rows(y)
    assert len(idx) == 300 and set(range(940, 1000)) <= set(idx.tolist())
    assert cap_rows(y[:50]).tolist() == list(range(50))
