"""The study lifecycle over real gRPC: enqueue, add results from elsewhere, extend, user attributes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nestor
import pytest
from cluster import Server, controller_stub, start_controller, start_executor, wait_for_executors
from nestor.spec import spec_to_dict
from nestor.v1 import study_pb2


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One controller for the module: each test makes studies of its own and reads none of the others'."""
    server = start_controller(tmp_path_factory.mktemp("controller"))
    yield server
    server.stop()

def loss(p: dict) -> float:
    return (p["x"] - 0.7) ** 2 + (p["y"] - 0.2) ** 2 + (0.3 if p["opt"] == "sgd" else 0.0)


def spec(algorithm: str = "random", max_trials: int = 8, **extra: object) -> dict:
    return {"name": "lifecycle", "objective": {"metric": "loss", "goal": "minimize"}, "algorithm": algorithm,
            "seed": 3, "budget": {"max_trials": max_trials},
            "space": {"x": {"type": "double", "min": 0.0, "max": 1.0}, "y": {"type": "double", "min": 0.0, "max": 1.0},
                      "opt": ["adam", "sgd"]}, **extra}


def run(study: nestor.Study, count: int = 1000) -> list[nestor.Trial]:
    done = []
    while len(done) < count and (trials := study.suggest(1)):
        for t in trials:
            t.complete({"loss": loss(t.params)})
            done.append(t)
    return done


def test_enqueued_sets_run_first_in_order_and_are_checked(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study(spec())
    first = [{"x": 0.1, "y": 0.1, "opt": "adam"}, {"x": 0.9, "y": 0.5, "opt": "sgd"}]
    assert study.enqueue(first, user_attrs={"source": "notebook"}) == 2
    assert study.enqueue(first[0], skip_duplicates=True) == 0  # already queued
    assert study.info().counts.queued == 2
    trials = run(study, 3)
    assert [t.params for t in trials[:2]] == first
    assert [t.origin for t in trials] == ["enqueued", "enqueued", ""]
    assert trials[0].user_attrs == {"source": "notebook"}
    assert study.info().counts.queued == 0
    assert study.enqueue(first[0], skip_duplicates=True) == 0  # already tried
    with pytest.raises(nestor.InvalidArgument, match=r"trials\[0\]\.params: 2\.0 is outside the domain of 'x'"):
        study.enqueue({"x": 2.0, "y": 0.1, "opt": "adam"})
    with pytest.raises(nestor.InvalidArgument, match="parameter 'opt' is active but has no value"):
        study.enqueue({"x": 0.5, "y": 0.1})
    with pytest.raises(nestor.InvalidArgument, match="unknown parameter 'z'"):
        study.enqueue({"x": 0.5, "y": 0.1, "opt": "adam", "z": 1})
    with pytest.raises(nestor.NotFound):
        client.study("nope").enqueue(first[0])
    study.stop()
    with pytest.raises(nestor.FailedPrecondition, match="STOPPED"):
        study.enqueue(first[0])


def test_added_results_are_trials_the_sampler_learns_from_outside_the_budget(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study({**spec(max_trials=6), "algorithm": {"name": "tpe", "settings": {"n_initial": 5}}})
    # Twenty results from elsewhere, the good ones near (0.7, 0.2, adam).
    rng = random.Random(0)
    results = []
    for _ in range(20):
        p = {"x": rng.random(), "y": rng.random(), "opt": rng.choice(["adam", "sgd"])}
        results.append({"params": p, "values": {"loss": loss(p)}, "user_attrs": {"from": "paper"}})
    results.append({"params": {"x": 0.5, "y": 0.5, "opt": "adam"}, "error": "diverged"})
    added = study.add_trials(results)
    assert [t.state_name for t in added] == ["COMPLETED"] * 20 + ["FAILED"]
    assert all(t.origin == "added" for t in added) and added[0].user_attrs == {"from": "paper"}
    info = study.info()
    assert info.state == study_pb2.STUDY_RUNNING  # neither the budget (6) nor max_failed is touched
    assert info.counts.added == 21 and info.counts.completed == 20 and info.counts.failed == 1
    # With 20 results the initial design (n_initial 5) is done: TPE models them from its first suggestion.
    trials = run(study)
    assert len(trials) == 6 and study.info().state == study_pb2.STUDY_COMPLETED
    assert min(loss(t.params) for t in trials) < sorted(r["values"]["loss"] for r in results[:20])[4]
    with pytest.raises(nestor.InvalidArgument, match=r"trials\[0\]: no result"):
        study.add_trials([{"params": {"x": 0.5, "y": 0.5, "opt": "adam"}}])
    with pytest.raises(nestor.InvalidArgument, match="lacks objective metric 'loss'"):
        study.add_trials([{"params": {"x": 0.5, "y": 0.5, "opt": "adam"}, "values": {"acc": 1.0}}])
    with pytest.raises(nestor.InvalidArgument, match="steps must increase"):
        study.add_trials([{"params": {"x": 0.5, "y": 0.5, "opt": "adam"}, "values": {"loss": 1.0},
                           "steps": [(2, {"loss": 1.0}), (1, {"loss": 1.0})]}])


def test_extend_runs_an_ended_study_on_and_checks_the_new_total(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study(spec(max_trials=3))
    assert len(run(study)) == 3
    assert study.info().state == study_pb2.STUDY_COMPLETED
    with pytest.raises(nestor.InvalidArgument, match="must be above the current 3"):
        study.extend(3)
    info = study.extend(5)
    assert info.state == study_pb2.STUDY_RUNNING and info.spec.budget.max_trials == 5
    assert len(run(study)) == 2
    assert study.info().state == study_pb2.STUDY_COMPLETED and study.info().counts.completed == 5
    events = [e.message for e in study.watch() if e.type == nestor.v1.controller_pb2.STUDY_EVENT_STUDY_EXTENDED]
    assert events == ["max_trials 3 -> 5, running again"]
    unbounded = client.create_study(spec(max_trials=0))
    with pytest.raises(nestor.FailedPrecondition, match="no trial budget"):
        unbounded.extend(10)


def test_user_attrs_merge_and_are_bounded(controller: Server) -> None:
    client = nestor.Client(controller.address)
    study = client.create_study(spec())
    (t,) = study.suggest(1)
    t.set_user_attr("note", "first")
    t.set_user_attrs(seed=3, tags=["a", "b"])
    assert study.trial(t.id).user_attrs == {"note": "first", "seed": 3, "tags": ["a", "b"]}
    t.set_user_attrs(note=None)
    assert study.trial(t.id).user_attrs == {"seed": 3, "tags": ["a", "b"]}
    t.set_user_attr("blob", "x" * 40_000)
    with pytest.raises(nestor.InvalidArgument, match="bytes as JSON exceed the limit of 65536"):
        t.set_user_attr("another", "y" * 40_000)
    assert "another" not in study.trial(t.id).user_attrs


def test_studies_are_listed_by_label(controller: Server) -> None:
    client = nestor.Client(controller.address)
    a = client.create_study({**spec(), "labels": {"team": "vision", "task": "digits"}})
    client.create_study({**spec(), "labels": {"team": "nlp"}})
    found = client.list_studies(include_finished=True, labels={"team": "vision"})
    assert [s.id for s in found] == [a.id]


def cli(controller: Server, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NESTOR_CONTROLLER", "NESTOR_TOKEN")}
    return subprocess.run([sys.executable, "-m", "nestor", "--controller", controller.address, *args], input=stdin,
                          capture_output=True, text=True, timeout=30, env=env)


def test_the_cli_enqueues_adds_extends_and_shows_the_warm_start(controller: Server, tmp_path: Path) -> None:
    client = nestor.Client(controller.address)
    prior = client.create_study({**spec(max_trials=2), "name": "prior", "labels": {"kind": "quad"}})
    results = tmp_path / "results.yaml"
    results.write_text("- {params: {x: 0.7, y: 0.2, opt: adam}, values: {loss: 0.0}}\n"
                       "- {params: {x: 0.1, y: 0.9, opt: sgd}, values: {loss: 1.5}, user_attrs: {source: lab}}\n")
    out = cli(controller, "study", "add", prior.id, "-f", str(results))
    assert out.returncode == 0 and "2 results added" in out.stdout, out
    out = cli(controller, "study", "list", "--all", "--label", "kind=quad", "--json")
    assert [s["id"] for s in json.loads(out.stdout)] == [prior.id]
    warm = client.create_study({**spec(max_trials=2), "warm_start": {"labels": {"kind": "quad"}, "top_k": 1}})
    out = cli(controller, "study", "enqueue", warm.id, "-p", "x=0.5", "-p", "y=0.5", "-p", "opt=sgd")
    assert out.returncode == 0 and "1 parameter sets enqueued" in out.stdout and "2 queued" in out.stdout, out
    out = cli(controller, "study", "enqueue", warm.id, "-f", "-", "--skip-duplicates",
              stdin='[{"x": 0.5, "y": 0.5, "opt": "sgd"}]')
    assert "0 parameter sets enqueued (1 duplicates skipped)" in out.stdout, out
    out = cli(controller, "study", "enqueue", warm.id, "-p", "x=5", "-p", "y=0.5", "-p", "opt=sgd")
    assert out.returncode == 1 and "outside the domain of 'x'" in out.stderr, out
    got = cli(controller, "study", "get", warm.id)
    assert "top_k: their best 1 configurations run first; priors: prior" in " ".join(got.stdout.split()), got.stdout
    record = json.loads(cli(controller, "study", "get", warm.id, "--json").stdout)
    assert record["warm_start"]["priors"][0]["study_id"] == prior.id and record["counts"]["queued"] == 2
    trials = run(warm)
    assert [t.params for t in trials] == [{"x": 0.7, "y": 0.2, "opt": "adam"}, {"x": 0.5, "y": 0.5, "opt": "sgd"}]
    out = cli(controller, "study", "extend", warm.id, "--max-trials", "4")
    assert out.returncode == 0 and "max_trials 4, RUNNING" in out.stdout, out
    assert len(run(warm)) == 2


@pytest.mark.parametrize("algorithm", ["tpe", "gp", "ga", "cmaes", "bohb"])
def test_every_model_learns_from_added_results(controller: Server, algorithm: str) -> None:
    """Thirty results from elsewhere: the best of the next four suggestions is far better than a cold start's
    (every sampler but random reads them; CMA-ES starts its first generation's mean at the best of them)."""
    client = nestor.Client(controller.address)
    rng = random.Random(1)
    results = []
    for _ in range(30):
        p = {"x": rng.random(), "y": rng.random(), "opt": rng.choice(["adam", "sgd"])}
        results.append({"params": p, "values": {"loss": loss(p)}})
    best = {}
    for kind in ("cold", "warm"):
        study = client.create_study({**spec(algorithm, max_trials=20), "name": kind})
        if kind == "warm":
            study.add_trials(results)
        trials = study.suggest(4)
        best[kind] = min(loss(t.params) for t in trials)
    assert best["warm"] < 0.25 * best["cold"], best


def test_a_managed_study_runs_its_queue_first_and_on_after_an_extension(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    executor = start_executor(tmp_path, ctl.address, slots=1)
    try:
        wait_for_executors(controller_stub(ctl.address), 1)
        client = nestor.Client(ctl.address)
        study = client.create_study({
            "name": "managed-lifecycle", "trainable": "synthetic", "seed": 4, "algorithm": "random",
            "trainable_config": {"function": "branin", "dim": 2}, "objective": {"metric": "value", "goal": "min"},
            "budget": {"max_trials": 2, "max_parallel": 1},
            "space": {"x0": {"type": "double", "min": -5, "max": 10}, "x1": {"type": "double", "min": 0, "max": 15}},
            "enqueue": [{"x0": 3.14159, "x1": 2.275}]})  # a minimum of branin: the first trial, in the spec
        assert study.wait(120).state == study_pb2.STUDY_COMPLETED
        first = study.trial(1)
        assert first.origin == "enqueued" and first.final_metrics["value"] == pytest.approx(0.397887, abs=1e-4)
        with pytest.raises(nestor.InvalidArgument, match=r"spec\.enqueue\[0\]\.params: 99\.0 is outside"):
            client.create_study({**spec_to_dict(study.spec), "enqueue": [{"x0": 99.0, "x1": 1.0}]})
        study.extend(4)
        info = study.wait(120)
        assert info.state == study_pb2.STUDY_COMPLETED and info.counts.completed == 4, info
    finally:
        executor.stop()
        ctl.stop()
