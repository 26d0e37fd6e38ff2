"""Samplers keep what they derive from the history between suggestions (issue 15: cost flat in history).

No timings here (they flake): the work done is counted instead (rows encoded, rebuilds), and a sampler that
kept its caches across calls must suggest exactly what a fresh one given the same history and state does.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from nestor.v1 import space_pb2 as sp
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import make_sampler
from nestor_controller.samplers.base import Observation, Sampler
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.gp.sampler import observed_subset
from nestor_controller.samplers.history import EncodedHistory
from nestor_controller.samplers.model_based import smallest
from nestor_controller.samplers.tpe import sampler as tpe_module
from nestor_controller.samplers.tpe.sampler import bad_subset, split_capped, split_good
from nestor_controller.space import Space, parse_space

OBJ = [ObjectiveDef("y", maximize=False)]


def space() -> Space:
    return parse_space(sp.SearchSpace(parameters=[
        sp.Parameter(name="a", double=sp.DoubleDomain(min=0.0, max=1.0)),
        sp.Parameter(name="b", double=sp.DoubleDomain(min=1e-3, max=1.0, scale=sp.SCALE_LOG)),
        sp.Parameter(name="k", int=sp.IntDomain(min=1, max=8)),
        sp.Parameter(name="c", categorical=sp.CategoricalDomain(choices=[
            sp.Value(string_value="x"), sp.Value(string_value="y"), sp.Value(string_value="z")])),
    ]))


def history(n: int, seed: int = 0, start: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        params = {"a": float(rng.random()), "b": float(10 ** rng.uniform(-3, 0)), "k": int(rng.integers(1, 9)),
                  "c": str(rng.choice(["x", "y", "z"]))}
        # Every seventh trial failed; a few losses tie on purpose.
        values = None if i % 7 == 6 else (round(float((params["a"] - 0.3) ** 2 + params["k"] / 8), 2),)
        out.append(Observation(i, params, values))
    return out


def fresh_twin(s: Sampler, name: str, settings: dict[str, Any]) -> Sampler:
    """A new sampler continuing from s's state, as a restarted controller builds it."""
    twin = make_sampler(name, s.space, OBJ, settings, seed=s.seed)
    twin.load_state(json.loads(json.dumps(s.state())))
    return twin


# --- the encoded history ------------------------------------------------------------------


def test_encoded_history_encodes_only_appended_rows_and_matches_a_full_encoding() -> None:
    sp_ = space()
    enc = Encoder(sp_)
    h = EncodedHistory(enc, OBJ)
    full = history(60)
    for n in (0, 20, 21, 45, 45, 60):
        h.update(full[:n])
    assert h.rows_encoded == 60 and h.cursor.rebuilds == 0
    valid = [o for o in full if o.values is not None]
    X, act = enc.encode([o.params for o in valid])
    assert np.array_equal(h.X, X) and np.array_equal(h.act, act)
    assert np.array_equal(h.X_all, enc.encode([o.params for o in full])[0])
    assert h.y.tolist() == [OBJ[0].loss(o.values[0]) for o in valid]  # type: ignore[index]
    assert h.trial_ids.tolist() == [o.trial_id for o in valid]


def test_a_history_that_does_not_extend_the_seen_one_is_encoded_again() -> None:
    enc = Encoder(space())
    h = EncodedHistory(enc, OBJ)
    full = history(30)
    h.update(full)
    # The view that keeps each trial's latest run: trial 3 ran again, its earlier run leaves, the new one is last.
    rerun = Observation(3, full[3].params, (0.0,))
    view = [o for o in full if o.trial_id != 3] + [rerun]
    h.update(view)
    assert h.cursor.rebuilds == 1 and h.rows_encoded == 60
    assert h.trial_ids.tolist() == [o.trial_id for o in view if o.values is not None]
    # An equal copy of the history (new objects, same content) is an extension: nothing encoded again.
    h.update([Observation(o.trial_id, dict(o.params), o.values) for o in view])
    assert h.cursor.rebuilds == 1 and h.rows_encoded == 60
    h.update(history(10, seed=5))  # another history altogether
    assert h.cursor.rebuilds == 2 and h.trial_ids.tolist() == [o.trial_id for o in history(10, 5) if o.values]


# --- cached samplers suggest what fresh ones do ------------------------------------------------

CASES = [
    ("tpe", {}),
    ("tpe", {"max_bad": 12}),
    ("ga", {"population_size": 6}),
    ("ga", {"population_size": 6, "replacement": "oldest"}),
    ("regularized_evolution", {"population_size": 6}),
    ("gp", {"candidates": 64, "restarts": 2}),
    ("gp", {"candidates": 64, "restarts": 2, "max_gp_observations": 16}),
]


@pytest.mark.parametrize(("name", "settings"), CASES, ids=[f"{n}-{'-'.join(s) or 'defaults'}" for n, s in CASES])
def test_a_sampler_with_its_caches_suggests_what_a_fresh_one_does(name: str, settings: dict[str, Any]) -> None:
    full = history(44)
    s = make_sampler(name, space(), OBJ, settings, seed=4)
    sizes = (12, 13, 20, 33, 44) if name != "gp" else (12, 30, 44)
    for n in sizes:
        twin = fresh_twin(s, name, settings)
        running = [full[n - 1].params] if n % 2 else []
        assert s.suggest(2, full[:n], running) == twin.suggest(2, full[:n], running), n
    # Rewritten history (the last result changed): caches rebuilt, still the fresh sampler's answer.
    changed = [*full[:-1], Observation(full[-1].trial_id, full[-1].params, (-5.0,))]
    twin = fresh_twin(s, name, settings)
    assert s.suggest(1, changed, []) == twin.suggest(1, changed, [])


def test_tpe_encodes_each_observation_once() -> None:
    full = history(40)
    s = make_sampler("tpe", space(), OBJ, {}, seed=1)
    for n in range(10, 41, 3):
        s.suggest(1, full[:n], [])
    assert s._history.rows_encoded == 40 and s._history.cursor.rebuilds == 0  # type: ignore[attr-defined]


def test_ga_population_matches_one_computed_from_the_whole_history() -> None:
    full = history(50)
    s = make_sampler("ga", space(), OBJ, {"population_size": 5}, seed=2)
    for n in (7, 19, 50):
        members, member_losses = s.population(full[:n])  # type: ignore[attr-defined]
        done = [(o.params, o.values[0]) for o in full[:n] if o.values is not None]
        best = sorted(done, key=lambda pl: pl[1])[:5]  # ties: the earlier (the losses tie on purpose)
        assert members == [p for p, _ in best] and member_losses == [v for _, v in best]


# --- TPE's bad density above max_bad -----------------------------------------------------------


def test_smallest_is_a_stable_argsort_prefix() -> None:
    y = np.round(np.random.default_rng(0).random(500), 1)  # many ties
    for k in (1, 5, 37, 500):
        assert smallest(y, k).tolist() == np.argsort(y, kind="stable")[:k].tolist()


def test_split_capped_is_split_good_up_to_the_cap_and_the_documented_subset_above() -> None:
    y = np.round(np.random.default_rng(1).random(300), 2)
    ref = split_good(y, 0.1, 25)
    for cap in (275, 500):  # 300 - 25 good = 275 bad: up to the cap nothing changes
        good, bad = split_capped(y, 0.1, 25, cap)
        assert good.tolist() == ref[0].tolist() and bad.tolist() == ref[1].tolist()
    assert len(split_capped(y, 0.1, 25, 274)[1]) == 274
    good, bad = split_capped(y, 0.1, 25, 11)
    ref_good, ref_bad = split_good(y, 0.1, 25)
    assert good.tolist() == ref_good.tolist()
    chrono = np.sort(ref_bad)
    older = chrono[:-6]  # the most recent 6 (half of 11, rounded up), then 5 spread over the older ones
    expected = [*older[np.round(np.linspace(0, len(older) - 1, 5)).astype(int)], *chrono[-6:]]
    assert bad.tolist() == expected
    assert bad_subset(chrono, 1).tolist() == [chrono[-1]]


def test_tpe_fits_g_on_exactly_the_capped_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    full = history(80)
    fitted: list[np.ndarray] = []
    real = tpe_module.ParzenEstimator

    def recording(enc: Encoder, X: np.ndarray, act: np.ndarray, **kw: Any) -> Any:
        fitted.append(np.array(X))
        return real(enc, X, act, **kw)

    monkeypatch.setattr(tpe_module, "ParzenEstimator", recording)
    s = make_sampler("tpe", space(), OBJ, {"max_bad": 9, "constant_liar": False}, seed=3)
    s.suggest(1, full, [])
    h = s._history  # type: ignore[attr-defined]
    _, bad = split_capped(h.y, 0.1, 25, 9)
    assert len(bad) == 9 and len(fitted) == 2  # l, then g
    assert np.array_equal(fitted[1], h.X[bad])


# --- the GP above max_gp_observations ------------------------------------------------------------


def test_observed_subset_rule() -> None:
    y = np.random.default_rng(2).random(100)
    idx = observed_subset(y, 40, seed=7)
    assert len(idx) == 40 and np.all(np.diff(idx) > 0)
    assert set(smallest(y, 10).tolist()) <= set(idx.tolist())  # the best quarter
    assert set(range(90, 100)) <= set(idx.tolist())  # the most recent quarter (none of them among the best here)
    assert observed_subset(y, 40, seed=7).tolist() == idx.tolist()
    assert observed_subset(y[:30], 40, seed=7).tolist() == list(range(30))


def test_gp_above_the_cap_conditions_on_the_subset_and_says_so() -> None:
    full = history(60)
    settings = {"candidates": 64, "restarts": 2, "max_gp_observations": 16}
    s = make_sampler("gp", space(), OBJ, settings, seed=5)
    s.suggest(1, full[:14], [])
    assert s.decision_note == ""  # type: ignore[attr-defined]
    s.suggest(1, full, [])
    n_valid = sum(o.values is not None for o in full)  # 52; the subset is chosen again every 16 // 20 -> 1 result
    assert s._model.n == 16  # type: ignore[attr-defined]
    note = s.decision_note  # type: ignore[attr-defined]
    assert f"conditioned on 16 of {n_valid} results (max_gp_observations=16)" in note
    below = make_sampler("gp", space(), OBJ, {**settings, "max_gp_observations": 2000}, seed=5)
    below.suggest(1, full, [])
    assert below.decision_note == "" and below._model.n == n_valid  # type: ignore[attr-defined]


def test_a_trial_suggested_by_a_gp_past_its_cap_says_so_in_its_decision(stub) -> None:
    # Through a real controller: 12 results added from elsewhere, a cap of 8, and the next trial's decision.
    from nestor.v1 import controller_pb2 as c
    from nestor.v1 import study_pb2 as s

    spec = s.StudySpec(name="capped", seed=5, algorithm=s.AlgorithmSpec(name="gp"),
                       space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
                       objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)])
    spec.algorithm.settings.update({"max_gp_observations": 8, "n_initial": 2})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    added = c.AddTrialsRequest(study_id=sid)
    for k in range(12):
        added.trials.add(params={"x": sp.Value(double_value=k / 12)},
                         final_measurement=s.Measurement(step=1, metrics={"loss": (k / 12 - 0.3) ** 2}))
    stub.AddTrials(added)
    trial = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials[0]
    assert "conditioned on 8 of 12 results (max_gp_observations=8)" in trial.decision
    under = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
    assert [t.decision for t in under if t.origin == "added"] == [""] * 12
