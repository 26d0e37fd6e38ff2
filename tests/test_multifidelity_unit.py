"""Multi-fidelity schedulers and BOHB, tested directly on a made-up study (no processes)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers import Observation, make_sampler
from nestor_controller.schedulers import ACTIVE, DONE, PAUSED, SCHEDULERS, FidelityDef
from nestor_controller.schedulers.curves import forecast
from nestor_controller.schedulers.ladder import bracket_size, ladder
from nestor_controller.space import parse_space
from nestor_controller.validate import parse_spec

LOSS = ObjectiveDef("loss", maximize=False, target=None)
EPOCHS = FidelityDef("epoch", 1, 9)


@dataclass
class View:
    """The part of a study a scheduler reads, kept by hand."""

    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    budgets: dict[int, float] = field(default_factory=dict)
    phases: dict[int, str] = field(default_factory=dict)
    limit: int | None = None
    finished: list[list[tuple[int, float]]] = field(default_factory=list)

    def curve(self, t: int) -> list[tuple[int, float]]:
        return self.curves.get(t, [])

    def finished_curves(self) -> list[list[tuple[int, float]]]:
        return self.finished

    def budget_of(self, t: int) -> float:
        return self.budgets[t]

    def phase(self, t: int) -> str:
        return self.phases[t]

    def active_trials(self) -> list[int]:
        return [t for t, p in self.phases.items() if p == ACTIVE]

    def remaining_trials(self) -> int | None:
        return None if self.limit is None else self.limit - len(self.phases)

    def more_trials(self) -> bool:
        return self.limit is None or len(self.phases) < self.limit


def scheduler(name: str, fidelity: FidelityDef = EPOCHS, **settings: object):
    return SCHEDULERS[name](LOSS, fidelity, settings, 1)


def new_trial(sch, view: View, t: int) -> float:
    view.budgets[t] = sch.budget_for_new_trial(t, view)
    view.phases[t] = ACTIVE
    return view.budgets[t]


def run_to_budget(sch, view: View, t: int, loss: float) -> str:
    """The trial reports up to its budget with final value `loss`, and its run ends there (it pauses)."""
    start = len(view.curves.get(t, []))
    view.curves.setdefault(t, []).extend((k, loss) for k in range(start + 1, int(view.budgets[t]) + 1))
    verdict = sch.decide(t, view)
    assert verdict.stop and verdict.rung
    view.phases[t] = PAUSED if view.budgets[t] < sch.fidelity.max else DONE
    return sch.run_ended(t, view)


def apply(view: View, plan) -> None:
    for t, _ in plan.drop:
        view.phases[t] = DONE
    for p in plan.promote:
        view.budgets[p.trial_id] = p.budget
        view.phases[p.trial_id] = ACTIVE


def test_ladders_and_bracket_sizes() -> None:
    assert ladder(FidelityDef("epoch", 1, 27), 3) == [1, 3, 9, 27]
    assert ladder(FidelityDef("epoch", 1, 20), 3) == [2, 7, 20]  # from the top down, rounded to whole epochs
    assert ladder(FidelityDef("fraction", 0.1, 1.0), 2) == pytest.approx([0.125, 0.25, 0.5, 1.0])
    assert [bracket_size(4, s, 3) for s in (3, 2, 1, 0)] == [27, 12, 6, 4]  # Hyperband's 81-epoch example / 3


def test_hyperband_fills_brackets_in_order_and_promotes_the_best_third() -> None:
    sch, view = scheduler("hyperband"), View()
    # Bracket s=2: 9 trials at 1 epoch; s=1: 5 at 3; s=0: 3 at 9.
    assert [new_trial(sch, view, t) for t in range(1, 18)] == [1] * 9 + [3] * 5 + [9] * 3
    losses = {t: (t * 7) % 9 / 10 for t in range(1, 10)}  # trial 9 best, then 4, 8, 3, ...
    for t in range(1, 9):
        run_to_budget(sch, view, t, losses[t])
        assert sch.plan(view, 8) == sch.plan(view, 0).__class__()  # the rung waits for trial 9
    text = run_to_budget(sch, view, 9, losses[9])
    assert "rung 0 (epoch 1)" in text and "1st of 9" in text
    plan = sch.plan(view, 2)
    assert [(p.trial_id, p.budget) for p in plan.promote] == [(9, 3), (4, 3)]  # as many as the free slots
    assert sorted(t for t, _ in plan.drop) == [1, 2, 3, 5, 6, 7]
    assert "promoted to rung 1 (epoch 3): 1st of 9 at rung 0" in plan.promote[0].reason
    apply(view, sch.plan(view, 3))
    assert sorted(t for t, p in view.phases.items() if p == ACTIVE and view.budgets[t] == 3)[:3] == [4, 8, 9]
    for t, loss in ((9, 0.05), (4, 0.2), (8, 0.01)):
        run_to_budget(sch, view, t, loss)
    plan = sch.plan(view, 5)
    assert [(p.trial_id, p.budget) for p in plan.promote] == [(8, 9)]
    assert sorted(t for t, _ in plan.drop) == [4, 9]


def test_asha_promotes_the_top_third_of_what_has_arrived() -> None:
    sch, view = scheduler("asha"), View(limit=20)
    for t in (1, 2):
        assert new_trial(sch, view, t) == 1
    run_to_budget(sch, view, 1, 0.5)
    run_to_budget(sch, view, 2, 0.4)
    assert not sch.plan(view, 4).promote  # 2 arrived: floor(2 / 3) = 0 go on
    new_trial(sch, view, 3)
    run_to_budget(sch, view, 3, 0.9)
    plan = sch.plan(view, 4)
    assert [(p.trial_id, p.budget) for p in plan.promote] == [(2, 3)] and not plan.drop
    apply(view, plan)
    for t in (4, 5, 6):
        new_trial(sch, view, t)
        run_to_budget(sch, view, t, 0.1 * t)
    # 6 arrived: the top 2 (trial 2 already went on, trial 4 with 0.4 ties it and is younger).
    assert [p.trial_id for p in sch.plan(view, 4).promote] == [4]


def test_asha_stops_the_rest_once_nothing_can_reach_a_rung() -> None:
    sch, view = scheduler("asha"), View(limit=2)
    for t in (1, 2):
        new_trial(sch, view, t)
        run_to_budget(sch, view, t, 1.0 / t)
    plan = sch.plan(view, 1)  # the rung is final: its best goes on even though 2 < eta arrived
    assert [p.trial_id for p in plan.promote] == [2] and [t for t, _ in plan.drop] == [1]
    assert "no other trial can reach the rung" in plan.drop[0][1]


def test_successive_halving_repeats_its_most_exploratory_bracket() -> None:
    sch, view = scheduler("successive_halving", n_configs=4), View()
    assert [new_trial(sch, view, t) for t in range(1, 10)] == [1] * 9
    assert [len(b["trials"]) for b in sch.brackets] == [4, 4, 1]


def test_scheduler_state_round_trips() -> None:
    sch, view = scheduler("hyperband"), View()
    for t in range(1, 5):
        new_trial(sch, view, t)
        run_to_budget(sch, view, t, 0.1 * t)
    again = scheduler("hyperband")
    again.load_state(sch.state())
    assert again.state() == sch.state() and again.plan(view, 3) == sch.plan(view, 3)


def test_learning_curve_stops_a_clearly_bad_curve_and_keeps_a_good_one() -> None:
    sch = scheduler("learning_curve", fidelity=FidelityDef("epoch", 1, 30))
    good = [(k, 0.1 + 0.8 * k ** -0.7) for k in range(1, 31)]
    view = View(finished=[good], budgets={1: 30, 2: 30})
    view.curves[1] = [(k, 0.6 + 0.4 * math.exp(-k / 2) + 0.003 * math.sin(k)) for k in range(1, 7)]  # flat at 0.6
    view.curves[2] = [(k, 0.05 + 0.9 * k ** -0.9) for k in range(1, 7)]  # heading below the best
    bad = sch.decide(1, view)
    assert bad.stop and not bad.rung and "learning curve: P(" in bad.reason
    assert not sch.decide(2, view).stop
    view.curves[3] = view.curves[1][:3]  # too few reports to fit: no decision yet
    view.budgets[3] = 30
    assert not sch.decide(3, view).stop


def test_forecast_is_calibrated_on_a_noisy_power_law() -> None:
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(40):
        steps = np.arange(1.0, 11.0)
        truth = 0.2 + 0.5 * steps ** -0.8
        f = forecast(steps, truth + 0.01 * rng.standard_normal(10), 40.0)
        assert f is not None
        final = 0.2 + 0.5 * 40 ** -0.8
        hits += f.prob_below(final + 0.05) > 0.5 and f.prob_below(final - 0.05) < 0.5
    assert hits >= 34


def space() -> object:
    return parse_space(sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1)),
                                                  sp.Parameter(name="y", double=sp.DoubleDomain(min=0, max=1))]))


def test_bohb_models_the_largest_budget_with_enough_runs() -> None:
    bohb = make_sampler("bohb", space(), [LOSS], {"random_fraction": 0.0, "min_points": 3}, 7)
    rng = np.random.default_rng(0)
    history = []
    for i in range(30):  # at 1 epoch the good region is x near 0.8; few runs reached 9 epochs
        x, y = rng.random(2)
        history.append(Observation(i, {"x": x, "y": y}, ((x - 0.8) ** 2 + 0.01 * y,), 1.0))
    for i in range(4):
        history.append(Observation(100 + i, {"x": 0.1 * i, "y": 0.5}, (0.0,), 9.0))
    assert {o.budget for o in bohb.model_budget(history)} == {1.0}
    points = bohb.suggest(10, history, [])
    assert np.mean([abs(p["x"] - 0.8) for p in points]) < 0.15
    history.append(Observation(200, {"x": 0.9, "y": 0.5}, (0.0,), 9.0))
    assert {o.budget for o in bohb.model_budget(history)} == {9.0}


def test_settings_are_checked_with_their_path() -> None:
    def spec(scheduler: str, fidelity: tuple[float, float] | None = (1, 9), **settings: object) -> s.StudySpec:
        out = s.StudySpec(space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(max=1))]),
                          objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
                          scheduler=s.SchedulerSpec(name=scheduler))
        if fidelity:
            out.fidelity.CopyFrom(s.Fidelity(name="epoch", min=fidelity[0], max=fidelity[1]))
        out.scheduler.settings.update(settings)
        return out

    for bad, message in [(spec("asha", eta=1), "spec.scheduler.settings.eta: the reduction factor must be greater"),
                         (spec("hyperband", promotion="later"), "spec.scheduler.settings.promotion: must be one of"),
                         (spec("asha", fidelity=(1, 2)), "needs max >= eta * min"),
                         (spec("successive_halving", fidelity=None), "spec.fidelity: scheduler 'successive_halving'"),
                         (spec("learning_curve", threshold=1.5), "spec.scheduler.settings.threshold"),
                         (spec("learning_curve", min_steps=2), "spec.scheduler.settings.min_steps"),
                         (spec("asha", eta="three"), "spec.scheduler.settings.eta: expected float")]:
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_spec(bad)
    bohb = spec("")
    bohb.algorithm.name = "bohb"
    assert parse_spec(bohb).scheduler == "hyperband"  # BOHB's default scheduler, given a fidelity
