"""NAS samplers in process: the LSTM's gradient, REINFORCE, aging evolution, mutation, state round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nestor import architecture as arch
from nestor import space as S
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import SAMPLERS, Observation
from nestor_controller.samplers.evolution_arch import RegularizedEvolution
from nestor_controller.samplers.lstm import LSTMPolicy
from nestor_controller.samplers.mutation import mutate
from nestor_controller.samplers.rl_policy import RLPolicySampler
from nestor_controller.space import parse_space

MAXIMIZE = [ObjectiveDef("val_accuracy", True)]
CELLS = S.Space(S.Double("lr", 1e-3, 1e-1, log=True),
                architecture=S.Cells(["sep_conv_3x3", "max_pool_3x3", "skip_connect"], num_nodes=2))
CHAIN = S.Space(architecture=S.Chain(["conv", "sep_conv_5x5", "max_pool", "identity"], max_layers=4,
                                     filters=[8, 16], kernel_sizes=[3, 5], strides=[1, 2]))


def test_lstm_gradient_matches_finite_differences() -> None:
    policy = LSTMPolicy([("a", 3), ("b", 2), ("c", 4)], hidden=5, temperature=1.3, clip=2.0)
    policy.init(np.random.default_rng(0), scale=0.5)
    sequence = [("a", 2), ("b", 0), ("c", 1), ("a", 0)]
    advantage, beta = 0.7, 0.05

    def loss(theta: np.ndarray) -> float:
        saved, policy.theta = policy.theta, theta
        try:
            steps = policy.replay(sequence)
            logp = sum(np.log(s.p[a]) for s, (_, a) in zip(steps, sequence, strict=True))
            entropy = sum(-(s.p @ np.log(s.p)) for s in steps)
            return float(-advantage * logp - beta * entropy)
        finally:
            policy.theta = saved

    grad = policy.gradient(sequence, advantage, beta)
    eps = 1e-6
    rng = np.random.default_rng(1)
    for i in rng.choice(policy.layout.size, size=60, replace=False):
        e = np.zeros_like(policy.theta)
        e[i] = eps
        numeric = (loss(policy.theta + e) - loss(policy.theta - e)) / (2 * eps)
        assert grad[i] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_reinforce_step_makes_a_rewarded_architecture_more_likely() -> None:
    space = parse_space(CELLS)
    sampler = RLPolicySampler(space, MAXIMIZE, {}, seed=3)
    first, rewarded = sampler.suggest(2, [], [])
    # A baseline from an average trial, then the rewarded architecture does better than it.
    history = [Observation(1, first, (0.5,))]
    sampler.suggest(1, history, [])
    before = sampler.probability(rewarded)
    sampler.suggest(1, [*history, Observation(2, rewarded, (0.9,))], [])
    after = sampler.probability(rewarded)
    assert after > before * 1.5, (before, after)
    # And a punished one becomes less likely.
    worse = sampler.suggest(1, [], [])[0]
    p0 = sampler.probability(worse)
    sampler.suggest(1, [*history, Observation(2, rewarded, (0.9,)), Observation(3, worse, (0.1,))], [])
    assert sampler.probability(worse) < p0


def test_rl_policy_learns_the_best_operation() -> None:
    """Rewarding one operation everywhere: after some trials the policy mostly emits it."""
    space = parse_space(S.Space(architecture=S.Chain(["conv", "max_pool", "avg_pool", "identity"],
                                                     min_layers=3, max_layers=3)))
    sampler = RLPolicySampler(space, MAXIMIZE, {"learning_rate": 0.1}, seed=5)
    history: list[Observation] = []
    for i in range(1, 61):
        params = sampler.suggest(1, history, [])[0]
        convs = sum(params[f"arch.layer{k}.op"] == "conv" for k in range(3))
        history.append(Observation(i, params, (convs / 3,)))
    late = [obs.values[0] for obs in history[-15:]]  # type: ignore[index]
    assert np.mean(late) > 0.7  # random emission would give 0.25


def test_rl_state_round_trips_through_json_exactly() -> None:
    space = parse_space(CELLS)
    a = RLPolicySampler(space, MAXIMIZE, {}, seed=7)
    history = []
    for i in range(1, 6):
        params = a.suggest(1, history, [])[0]
        history.append(Observation(i, params, (0.1 * i,)))
    a.suggest(1, history, [])
    b = RLPolicySampler(space, MAXIMIZE, {}, seed=7)
    b.load_state(json.loads(json.dumps(a.state())))
    assert b.state() == a.state()
    assert np.array_equal(a.policy.theta, b.policy.theta)
    assert a.suggest(3, history, []) == b.suggest(3, history, [])


def test_rl_settings_are_checked() -> None:
    space = parse_space(CELLS)
    for settings, words in [({"temperature": 0}, "temperature"), ({"baseline_decay": 1.0}, "baseline_decay"),
                            ({"hidden_size": 0}, "hidden_size"), ({"tanh": 1}, "unknown setting")]:
        with pytest.raises(SpecError, match=words):
            RLPolicySampler.check(space, MAXIMIZE, settings, 10)
    with pytest.raises(SpecError, match="single objective"):
        RLPolicySampler.check(space, [*MAXIMIZE, ObjectiveDef("latency", False)], {}, 10)


def test_evolution_keeps_its_population_size_and_ages_out_the_oldest() -> None:
    space = parse_space(CHAIN)
    evo = RegularizedEvolution(space, MAXIMIZE, {"population_size": 5, "sample_size": 2}, seed=1)
    history: list[Observation] = []
    for i in range(1, 21):
        params = evo.suggest(1, history, [])[0]
        space.check_assignment(params, "child")
        # A failed trial now and then never joins the population.
        history.append(Observation(i, params, None if i % 7 == 0 else (float(i % 5),)))
        members = evo.population(history)
        scored = [obs.trial_id for obs in history if obs.values is not None]
        assert len(members) == min(5, len(scored))
        assert [m.trial_id for m in members] == scored[-5:]  # the oldest went first
    # Once the population is full, each child is a living member with one decision changed (and the
    # decisions that change switched on or off).
    for _ in range(10):
        child = evo.suggest(1, history, [])[0]
        assert any(one_change(m.params, child) for m in evo.population(history))


def one_change(parent: dict, child: dict) -> bool:
    differ = {k for k in set(parent) | set(child) if parent.get(k) != child.get(k)}
    layers = {k.rsplit(".", 1)[0] for k in differ if k != "arch.num_layers"}
    return bool(differ) and len(layers) <= (3 if "arch.num_layers" in differ else 1)


def test_mutation_changes_one_decision_of_each_kind() -> None:
    space = parse_space(S.Space(S.Double("lr", 1e-3, 1e-1, log=True),
                                architecture=S.MultiBranch(["conv_3x3", "max_pool_3x3", "identity"],
                                                           num_layers=4, max_inputs=2, filters=[8, 16])))
    rng = np.random.default_rng(0)
    from nestor_controller.samplers.sampling import draw_assignment

    kinds = set()
    for _ in range(200):
        parent = draw_assignment(space, rng)
        child, changed = mutate(space, parent, rng)
        kinds.add(arch.role_of(changed))
        assert child[changed] != parent[changed]
        # Only the changed decision and what its change switched on or off differ.
        differ = {k for k in set(parent) | set(child) if parent.get(k) != child.get(k)}
        assert changed in differ
        assert all(k == changed or k.startswith(changed.rsplit(".", 1)[0]) for k in differ)
        space.check_assignment(child, "child")
    assert kinds == {"op", "input", "hyperparameter"}


def test_evolution_does_not_repeat_a_tried_or_running_configuration() -> None:
    space = parse_space(S.Space(*(S.Categorical(f"c{i}", ["a", "b", "c"]) for i in range(3))))
    evo = RegularizedEvolution(space, [ObjectiveDef("y", False)], {"population_size": 4, "sample_size": 2}, seed=3)
    history: list[Observation] = []
    keys = set()
    for i in range(1, 19):
        params = evo.suggest(1, history, [])[0]
        keys.add(tuple(sorted(params.items())))
        history.append(Observation(i, params, (float(sum(v == "a" for v in params.values())),)))
    assert len(keys) == 18  # of 27; random children of 4 parents would repeat
    running = evo.suggest(3, history, [])
    more = evo.suggest(3, history, running)
    batch = {tuple(sorted(p.items())) for p in running + more}
    assert len(batch) == 6 and not batch & keys


def test_evolution_screens_children_by_where_the_good_trials_are() -> None:
    # c0 decides the loss; c1..c3 are noise. Every parent with c0 == "v2" has children that change c0 (a
    # quarter of them); screening among 8 children keeps c0 where the good results are, a single child does not.
    space = parse_space(S.Space(*(S.Categorical(f"c{i}", [f"v{k}" for k in range(4)]) for i in range(4))))
    rng = np.random.default_rng(0)
    from nestor_controller.samplers.sampling import draw_assignment

    history = []
    for i in range(1, 41):
        params = draw_assignment(space, rng)
        history.append(Observation(i, params, (float(params["c0"] != "v2") + 0.01 * rng.random(),)))
    kept = {}
    for screen in (1, 8):
        evo = RegularizedEvolution(space, [ObjectiveDef("y", False)],
                                   {"population_size": 10, "sample_size": 10, "screen": screen}, seed=1)
        evo.suggested = 10  # past the random phase
        children = [evo.suggest(1, history, [])[0] for _ in range(60)]
        kept[screen] = sum(c["c0"] == "v2" for c in children)
    assert kept[8] == 60 and kept[1] < 55, kept


def test_evolution_mutates_ordered_and_numeric_values_to_nearby_ones() -> None:
    from nestor_controller.samplers.mutation import NUMERIC_STEP, mutate_value

    def nearby_value(p, value, rng):  # as regularized evolution's mutation changes one value
        return mutate_value(p, value, rng, NUMERIC_STEP)

    space = parse_space(S.Space(S.Categorical("width", [8, 16, 32, 64, 128, 256, 512, 1024], ordered=True),
                                S.Double("lr", 1e-5, 1e-1, log=True), S.Int("layers", 1, 100)))
    width, lr, layers = space.params
    rng = np.random.default_rng(0)
    steps = [abs(width.choices.index(nearby_value(width, 64, rng)) - 3) for _ in range(400)]
    assert min(steps) >= 1 and 0.35 < steps.count(1) / len(steps) < 0.6  # one place about half the time
    ends = {nearby_value(width, 8, rng) for _ in range(50)}
    assert 8 not in ends and 16 in ends  # at an end it goes the one way there is room
    lrs = np.log10([nearby_value(lr, 1e-3, rng) for _ in range(400)])
    # A normal step of NUMERIC_STEP of the range (its median size is 0.67 of that): four decades for lr.
    assert np.all((lrs >= -5) & (lrs <= -1)) and 0.5 < np.median(np.abs(lrs + 3)) / (4 * NUMERIC_STEP) < 0.85
    counts = [nearby_value(layers, 50, rng) for _ in range(400)]
    assert 50 not in counts and 0.5 < np.median(np.abs(np.subtract(counts, 50))) / (100 * NUMERIC_STEP) < 0.85


def test_evolution_checks_its_settings() -> None:
    space = parse_space(CHAIN)
    with pytest.raises(SpecError, match="sample_size"):
        RegularizedEvolution.check(space, MAXIMIZE, {"population_size": 3, "sample_size": 4}, 10)
    with pytest.raises(SpecError, match="population_size"):
        RegularizedEvolution.check(space, MAXIMIZE, {"population_size": 10}, 10)


#: Every registered sampler that says it searches architectures (GP and TPE through the shared encoding).
#: oneshot is left out: it searches edge-op cells only, through a supernet (tests/test_oneshot_study.py).
ARCH_SAMPLERS = {name: cls for name, cls in SAMPLERS.items() if cls.searches_architectures and name != "oneshot"}
ARCH_SETTINGS = {"regularized_evolution": {"population_size": 4}, "gp": {"n_initial": 4}, "tpe": {"n_initial": 4}}


def test_the_nas_samplers_are_registered() -> None:
    assert {"random", "regularized_evolution", "rl", "gp", "tpe"} <= set(ARCH_SAMPLERS)
    assert all(cls.searches_architectures for cls in ARCH_SAMPLERS.values())


@pytest.mark.parametrize("name", sorted(ARCH_SAMPLERS))
def test_samplers_that_search_architectures_produce_valid_assignments(name: str) -> None:
    space = parse_space(CELLS)
    sampler = ARCH_SAMPLERS[name](space, MAXIMIZE, ARCH_SETTINGS.get(name, {}), 2)
    history: list[Observation] = []
    for i in range(1, 13):
        params = sampler.suggest(1, history, [])[0]
        space.check_assignment(params, name)
        assert isinstance(arch.decode(params), arch.Cells)
        history.append(Observation(i, params, (float(np.sin(i)),)))


def test_grid_does_not_search_architectures() -> None:
    with pytest.raises(SpecError, match="does not search architectures"):
        SAMPLERS["grid"].check(parse_space(CHAIN), MAXIMIZE, {}, 10)
