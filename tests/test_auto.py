"""`auto`, the algorithm of a study that names none: what it picks for what kind of study, when it switches,
and that the switch shows in the trials' decisions, over a real controller."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cluster import controller_stub, start_controller
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.auto import plan
from nestor_controller.space import parse_space

pytestmark = pytest.mark.timeout(180)


def double(name: str) -> sp.Parameter:
    return sp.Parameter(name=name, double=sp.DoubleDomain(min=-2, max=2))


def choice(name: str, parent: str = "", values: tuple[str, ...] = ()) -> sp.Parameter:
    p = sp.Parameter(name=name, categorical=sp.CategoricalDomain(choices=[
        sp.Value(string_value=v) for v in ("a", "b", "c")]))
    if parent:
        p.conditions.add(parent=parent, values=[sp.Value(string_value=v) for v in values])
    return p


ONE = [ObjectiveDef("loss", False)]


def picks(params: list[sp.Parameter], max_trials: int, *, objectives: list[ObjectiveDef] = ONE,
          constrained: bool = False) -> list[tuple[int, str]]:
    space = parse_space(sp.SearchSpace(parameters=params))
    return [(n, name) for n, name, _ in plan(space, objectives, constrained, max_trials, 200)]


def test_what_auto_runs_for_each_kind_of_study() -> None:
    numeric = [double(f"x{i}") for i in range(5)]
    assert picks(numeric, 60) == [(0, "gp")]
    assert picks(numeric, 1000) == [(0, "gp"), (200, "cmaes")]
    assert picks(numeric, 0) == [(0, "gp"), (200, "cmaes")]  # no budget counts as a long run
    assert picks([*numeric, choice("c")], 1000) == [(0, "gp"), (200, "tpe")]
    # Mostly categorical, or conditional: a GP while observations are few, TPE on long runs.
    assert picks([double("x"), choice("c"), choice("d")], 60) == [(0, "gp")]
    assert picks([double("x"), choice("c"), choice("d")], 1000) == [(0, "gp"), (200, "tpe")]
    assert picks([*numeric, choice("c"), choice("d", "c", ("a",))], 60) == [(0, "gp")]
    assert picks([*numeric, choice("c"), choice("d", "c", ("a",))], 0) == [(0, "gp"), (200, "tpe")]
    assert picks(numeric, 60, objectives=[*ONE, ObjectiveDef("size", False)]) == [(0, "tpe")]
    assert picks(numeric, 1000, constrained=True) == [(0, "gp")]


def ask_tell(stub: Any, sid: str, n: int) -> None:
    for _ in range(n):
        (t,) = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials
        x = {k: v.double_value for k, v in t.params.items()}
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id, final_measurement=s.Measurement(
            step=1, metrics={"loss": sum((v - 0.3) ** 2 for v in x.values())})))


def spec(algorithm: str = "", **settings: object) -> s.StudySpec:
    out = s.StudySpec(name="auto", seed=3, space=sp.SearchSpace(parameters=[double("x0"), double("x1")]),
                      objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
                      budget=s.Budget(max_trials=14), algorithm=s.AlgorithmSpec(name=algorithm))
    out.algorithm.settings.update(settings)
    return out


def test_a_study_that_names_no_algorithm_runs_auto_and_its_trials_say_what_chose_them(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    try:
        stub = controller_stub(ctl.address)
        study = stub.CreateStudy(c.CreateStudyRequest(spec=spec()))
        assert study.spec.algorithm.name == "auto"
        ask_tell(stub, study.id, 4)
        switching = stub.CreateStudy(c.CreateStudyRequest(spec=spec("auto", switch_at=6))).id
        ask_tell(stub, switching, 10)
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=switching)).trials
        assert all(t.decision.startswith("auto: gp, for a numeric space (2 parameters, 2 numeric)")
                   for t in trials[:6]), [t.decision for t in trials[:6]]
        assert all(t.decision.startswith("auto: cmaes, for 6 observations of a continuous space and a budget "
                                         "of 14 trials") for t in trials[6:]), [t.decision for t in trials[6:]]
        # Restarted, it goes on with the algorithm it had switched to, and its state.
        ctl.stop()
        ctl = start_controller(tmp_path, port=ctl.port)
        stub = controller_stub(ctl.address)
        ask_tell(stub, switching, 2)
        assert all(t.decision.startswith("auto: cmaes") for t in
                   stub.ListTrials(c.ListTrialsRequest(study_id=switching)).trials[10:])
    finally:
        ctl.stop()


def test_a_stored_study_that_named_no_algorithm_goes_on_with_random_search(tmp_path: Path) -> None:
    """Studies stored before auto existed ran random search when they named none: they still do."""
    ctl = start_controller(tmp_path)
    stub = controller_stub(ctl.address)
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec("random"))).id
    ask_tell(stub, sid, 2)
    ctl.stop()
    with sqlite3.connect(tmp_path / "nestor.db") as conn:
        (stored,) = conn.execute("select spec from studies where id = ?", (sid,)).fetchone()
        old = json.loads(stored)
        del old["algorithm"]
        conn.execute("update studies set spec = ? where id = ?", (json.dumps(old), sid))
    ctl = start_controller(tmp_path)
    try:
        stub = controller_stub(ctl.address)
        assert stub.GetStudy(c.GetStudyRequest(study_id=sid)).spec.algorithm.name == ""
        ask_tell(stub, sid, 2)
        assert stub.GetStudy(c.GetStudyRequest(study_id=sid)).counts.completed == 4
    finally:
        ctl.stop()
