"""Warm starts over real gRPC: priors chosen by id, label and task meta-features, kept with the study through a
kill -9, a prior deleted later, and the modes' effect on the first suggestions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import nestor
import pytest
from cluster import Server, start_controller

SPACE = {"x": {"type": "double", "min": 0.0, "max": 1.0}, "y": {"type": "double", "min": 0.0, "max": 1.0},
         "opt": ["adam", "sgd"]}



@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One controller for the module: each test makes studies of its own and reads none of the others'."""
    server = start_controller(tmp_path_factory.mktemp("controller"))
    yield server
    server.stop()

def loss(p: dict, cx: float = 0.8, cy: float = 0.3) -> float:
    return (p["x"] - cx) ** 2 + (p.get("y", cy) - cy) ** 2 + (0.2 if p.get("opt") == "sgd" else 0.0)


def prior(client: nestor.Client, name: str, features: dict[str, float] | None = None, *, space: dict | None = None,
          labels: dict[str, str] | None = None, n: int = 30, seed: int = 0, sign: float = 1.0) -> nestor.Study:
    """A finished study with `n` random results of `loss` (times `sign`)."""
    spec: dict = {"name": name, "objective": {"metric": "loss", "goal": "minimize"}, "space": space or SPACE,
                  "labels": labels or {}, "budget": {"max_trials": 1}}
    if features:
        spec["task"] = {"features": features}
    study = client.create_study(spec)
    rng = random.Random(seed)
    results = []
    for _ in range(n):
        p = {"x": rng.random(), "y": rng.random(), "lr": rng.random(), "opt": rng.choice(["adam", "sgd"])}
        p = {k: v for k, v in p.items() if k in (space or SPACE)}
        results.append({"params": p, "values": {"loss": sign * loss(p)}})
    study.add_trials(results)
    study.stop("a finished prior")
    return study


def warm(client: nestor.Client, warm_start: dict, *, algorithm: str = "random", features: dict | None = None,
         max_trials: int = 10) -> nestor.Study:
    spec: dict = {"name": "warm", "objective": {"metric": "loss", "goal": "minimize"}, "space": SPACE,
                  "algorithm": algorithm, "seed": 11, "budget": {"max_trials": max_trials}, "warm_start": warm_start}
    if features:
        spec["task"] = {"features": features}
    return client.create_study(spec)


def test_similar_picks_the_nearest_finished_studies_whose_space_fits(controller: Server) -> None:
    client = nestor.Client(controller.address)
    far = prior(client, "far", {"n_samples": 100_000, "n_features": 500})
    near = prior(client, "near", {"n_samples": 1_000, "n_features": 20}, seed=1)
    nearer = prior(client, "nearer", {"n_samples": 1_200, "n_features": 22}, seed=2)
    # The nearest of all, but it shares one of three parameters: no prior.
    odd = prior(client, "other-space", {"n_samples": 1_100, "n_features": 21},
          space={"x": SPACE["x"], "lr": {"type": "double", "min": 0.0, "max": 1.0}})
    running = client.create_study({"name": "running", "objective": {"metric": "loss", "goal": "min"}, "space": SPACE,
                                   "task": {"features": {"n_samples": 1_150, "n_features": 21}}})
    study = warm(client, {"similar": 2, "mode": "top_k", "top_k": 4}, features={"n_samples": 1_150, "n_features": 21})
    summary = study.info().warm_start
    assert [p.name for p in summary.priors] == ["nearer", "near"]  # nearest first; not the running one
    assert summary.priors[0].distance < summary.priors[1].distance
    assert all(p.observations == 30 for p in summary.priors) and summary.mode == "top_k"
    assert summary.enqueued == 4 and study.info().counts.queued == 4
    # top_k: the priors' best configurations first, in turns (nearer's best, near's best, ...).
    trials = [t for _ in range(4) for t in study.suggest(1)]
    assert [t.origin for t in trials] == ["warm_start"] * 4
    best = {s.id: sorted(s.trials(), key=lambda t: t.final_metrics["loss"]) for s in (nearer, near)}
    assert [t.params for t in trials[:2]] == [best[nearer.id][0].params, best[near.id][0].params]
    assert study.suggest(1)[0].origin == ""
    # Named and labelled priors; a named one must exist and fit.
    by_id = warm(client, {"studies": [far.id], "labels": {"zzz": "none"}})
    assert [p.study_id for p in by_id.info().warm_start.priors] == [far.id]
    assert not by_id.info().warm_start.priors[0].HasField("distance")
    with pytest.raises(nestor.NotFound, match=r"spec.warm_start.studies\[0\]: study 'nope' not found"):
        warm(client, {"studies": ["nope"]})
    with pytest.raises(nestor.InvalidArgument, match="shares 1 of this study's 3 parameters"):
        warm(client, {"studies": [odd.id]})
    with pytest.raises(nestor.InvalidArgument, match=r"needs spec\.task\.features"):
        warm(client, {"similar": 2})
    with pytest.raises(nestor.InvalidArgument, match="algorithm 'random' takes top_k or auto, not 'transfer'"):
        warm(client, {"similar": 1, "mode": "transfer"}, features={"n_samples": 1.0})
    assert running.info().state == nestor.v1.study_pb2.STUDY_RUNNING


def test_labels_select_priors_and_a_partial_space_is_filled_in(controller: Server) -> None:
    client = nestor.Client(controller.address)
    # Two of the three parameters: "opt" takes its first choice in the projection.
    a = prior(client, "a", space={"x": SPACE["x"], "y": SPACE["y"]}, labels={"family": "quad"})
    prior(client, "b", labels={"family": "other"})
    study = warm(client, {"labels": {"family": "quad"}, "top_k": 1})
    assert [p.study_id for p in study.info().warm_start.priors] == [a.id]
    (t,) = study.suggest(1)
    best = min(a.trials(), key=lambda t: t.final_metrics["loss"])
    assert t.params == {**best.params, "opt": "adam"}


def test_the_choice_survives_kill_9_and_the_priors_deletion(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    try:
        client = nestor.Client(ctl.address)
        p = prior(client, "p", {"n": 1.0}, n=40)
        study = warm(client, {"similar": 1}, algorithm="tpe", features={"n": 1.0}, max_trials=6)
        before = study.info().warm_start
        assert before.mode == "observations" and before.observations == 40 and before.weight == 1.0
        first = study.suggest(2)
        for t in first:
            t.complete({"loss": loss(t.params)})
        # A top_k study's queue, half used: the rest survives the kill, in order.
        queued = warm(client, {"similar": 1, "mode": "top_k", "top_k": 4}, features={"n": 1.0})
        expected = [t.params for t in queued.suggest(4)]
        queued = warm(client, {"similar": 1, "mode": "top_k", "top_k": 4}, features={"n": 1.0})
        assert [t.params for t in queued.suggest(2)] == expected[:2]
        port = ctl.port
        ctl.kill()
        ctl = start_controller(tmp_path, port=port)
        client = nestor.Client(ctl.address)
        client.study(p.id).delete()
        study = client.study(study.id)
        after = study.info().warm_start
        assert after.priors == before.priors and after.observations == 40
        assert after.weight == pytest.approx(10 / 12)  # the decay: 10 / (10 + 2 own results)
        assert client.study(queued.id).info().counts.queued == 2
        assert [t.params for t in client.study(queued.id).suggest(2)] == expected[2:]
        # It goes on, its prior gone from the store but kept with it.
        while trials := study.suggest(1):
            trials[0].complete({"loss": loss(trials[0].params)})
        assert study.info().counts.completed == 6
    finally:
        ctl.stop()


@pytest.mark.parametrize(("algorithm", "mode"), [("tpe", "observations"), ("gp", "transfer")])
def test_modelled_priors_send_the_first_suggestions_to_their_good_region(controller: Server, algorithm: str,
                                                                         mode: str) -> None:
    client = nestor.Client(controller.address)
    prior(client, "p", {"n": 1.0}, n=60)
    study = warm(client, {"similar": 1, "mode": mode}, algorithm=algorithm, features={"n": 1.0}, max_trials=10)
    cold = client.create_study({"name": "cold", "objective": {"metric": "loss", "goal": "min"}, "space": SPACE,
                                "algorithm": algorithm, "seed": 11, "budget": {"max_trials": 10}})
    firsts = {}
    for name, s in (("warm", study), ("cold", cold)):
        trials = s.suggest(3)
        firsts[name] = sorted(loss(t.params) for t in trials)
    assert firsts["warm"][0] < 0.05, firsts  # near (0.8, 0.3, adam) at once
    assert firsts["warm"][0] < firsts["cold"][0]
