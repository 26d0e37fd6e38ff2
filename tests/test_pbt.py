"""Population-based training (schedulers pbt and pb2): the scheduler's decisions, and whole studies over real
processes on the PBT paper's toy problem, whose best schedule is known (switch h), through restarts and faults.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cluster import Server, controller_stub, start_controller, start_executor, wait_for_executors
from nestor import lineage
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor.values import params_from_proto
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.schedulers import ACTIVE, PAUSED, FidelityDef, scheduler_class
from nestor_controller.schedulers.pb2 import ucb_choice
from nestor_controller.space import parse_space
from nestor_controller.validate import parse_spec

pytestmark = pytest.mark.timeout(240)

STEPS = 40
INTERVAL = 4
#: The paper's initial population: each member moves one coordinate of theta only, and stays at Q = 0.39.
PAPER = ({"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0})
LR = 0.1  # pbt_toy's learning rate here: the optimum region well within 40 steps


# --- the scheduler on its own, over a made-up population ------------------------------------------------------


class Population:
    """A CurveView of members paused or running at budgets, with curves of a value per step."""

    def __init__(self, space: Any, values: Mapping[int, float], budget: float, *, checkpointed: Sequence[int] = (),
                 active: Sequence[int] = (), params: Mapping[int, dict[str, Any]] | None = None) -> None:
        self.values = dict(values)
        self.budgets = dict.fromkeys(values, budget)
        self.phases = {m: ACTIVE if m in active else PAUSED for m in values}
        self.saved = set(checkpointed)
        start = {"lr": 0.1, "opt": "b", "fixed": 5}
        self.lineages = {m: [{"step": 0, "params": (params or {}).get(m, start), "donor": 0}] for m in values}
        self.more = False

    def curve(self, trial_id: int) -> list[tuple[int, float]]:
        return [(step, self.values[trial_id]) for step in range(1, int(self.budgets[trial_id]) + 1)]

    def finished_curves(self) -> list[Any]:
        return []

    def budget_of(self, trial_id: int) -> float:
        return self.budgets[trial_id]

    def phase(self, trial_id: int) -> str:
        return self.phases[trial_id]

    def active_trials(self) -> list[int]:
        return [m for m, p in self.phases.items() if p == ACTIVE]

    def more_trials(self) -> bool:
        return self.more

    def remaining_trials(self) -> int | None:
        return 0

    def members(self) -> list[int]:
        return sorted(self.values)

    def lineage(self, trial_id: int) -> list[dict[str, Any]]:
        return self.lineages[trial_id]

    def checkpointed(self, trial_id: int, step: int) -> bool:
        return trial_id in self.saved


def toy_space() -> Any:
    return parse_space(sp.SearchSpace(parameters=[
        sp.Parameter(name="lr", double=sp.DoubleDomain(min=1e-3, max=1.0, scale=sp.SCALE_LOG)),
        sp.Parameter(name="opt", categorical=sp.CategoricalDomain(choices=[
            sp.Value(string_value=v) for v in "abc"])),
        sp.Parameter(name="fixed", int=sp.IntDomain(min=1, max=9))]))


def scheduler(name: str = "pbt", **settings: Any) -> Any:
    cls = scheduler_class(name)
    fidelity = FidelityDef("step", 1, 20)
    settings = {"perturbation_interval": 4, "mutable": ["lr", "opt"], **settings}
    cls.check([ObjectiveDef("loss", False)], fidelity, settings)
    sched = cls(ObjectiveDef("loss", False), fidelity, settings, seed=11)
    sched.bind_space(toy_space())
    return sched


def test_a_generation_waits_for_every_member_then_the_bottom_copies_a_checkpointed_top() -> None:
    sched = scheduler(quantile_fraction=0.25)
    values = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4, 5: 0.5, 6: 0.6, 7: 0.7, 8: 0.8}
    view = Population(toy_space(), values, 4, checkpointed=[1, 2, 3], active=[5])
    assert sched.plan(view, 8).promote == ()  # member 5 still trains to step 4
    view.phases[5] = PAUSED
    view.more = True
    assert sched.plan(view, 8).promote == ()  # members are still to be created
    view.more = False
    plan = sched.plan(view, 8)
    by_trial = {p.trial_id: p for p in plan.promote}
    assert sorted(by_trial) == list(values) and {p.budget for p in plan.promote} == {8}
    # The bottom two (quantile 0.25 of 8) copy one of the top two; the rest go on from their own weights.
    assert {m for m, p in by_trial.items() if p.donor} == {7, 8}
    assert {p.donor for p in plan.promote if p.donor} <= {1, 2}
    for m in (7, 8):
        p = by_trial[m]
        assert p.step == 4 and "exploit: continues from trial" in p.reason
        assert 1e-3 <= p.params["lr"] <= 1.0 and p.params["opt"] in "abc" and p.params["fixed"] == 5
    assert all(by_trial[m].params == view.lineages[m][0]["params"] for m in range(1, 7))


def test_donors_always_have_a_checkpoint() -> None:
    sched = scheduler(quantile_fraction=0.5)
    values = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}
    # The best member never checkpointed: only the second may be copied.
    plan = sched.plan(Population(toy_space(), values, 4, checkpointed=[2, 3, 4]), 4)
    assert {p.donor for p in plan.promote if p.donor} == {2}
    # No member of the top half checkpointed: nobody copies, and the decision says why.
    plan = sched.plan(Population(toy_space(), values, 4, checkpointed=[3, 4]), 4)
    assert not any(p.donor for p in plan.promote)
    assert "no member of the top 2 checkpointed at step 4" in {p.trial_id: p for p in plan.promote}[4].reason


def test_decisions_do_not_depend_on_how_many_slots_are_free() -> None:
    """plan() is a function of the population: handing out promotions one slot at a time gives the same ones."""
    settings = {"quantile_fraction": 0.5, "resample_probability": 0.5}
    values = {m: 0.1 * m for m in range(1, 7)}
    at_once = {p.trial_id: p for p in scheduler(**settings).plan(
        Population(toy_space(), values, 4, checkpointed=values), 6).promote}
    view = Population(toy_space(), values, 4, checkpointed=values)
    one_by_one = {}
    while True:
        # A new scheduler each time, as after a restart: nothing remembered from the previous call.
        promote = scheduler(**settings).plan(view, 1).promote
        if not promote:
            break
        (p,) = promote
        one_by_one[p.trial_id] = p
        view.phases[p.trial_id], view.budgets[p.trial_id] = ACTIVE, p.budget  # promoted: it trains on
        view.lineages[p.trial_id] = [*view.lineages[p.trial_id], {"step": 4, "params": p.params, "donor": p.donor}]
    assert one_by_one == at_once


def test_explore_perturbs_within_the_space_and_only_what_is_mutable() -> None:
    sched = scheduler(resample_probability=0.0, perturbation_factors=[0.5, 2.0])
    rng = np.random.default_rng(1)
    start = {"lr": 0.8, "opt": "a", "fixed": 3}
    seen_lr, seen_opt = set(), set()
    for _ in range(40):
        out, how = sched.explore(start, rng, None, [], 4, [])
        assert out["fixed"] == 3 and out["lr"] in (0.4, 1.0)  # 0.8 * 2 is clipped to the bound
        seen_lr.add(out["lr"])
        seen_opt.add(out["opt"])
        assert "lr 0.8 -> " in how
    assert seen_lr == {0.4, 1.0} and seen_opt == {"a", "b"}  # a neighbour, or the end it is at


def test_explore_redraws_a_zero_that_no_factor_moves() -> None:
    sched = scheduler(resample_probability=0.0, mutable=["w"])
    space = parse_space(sp.SearchSpace(parameters=[sp.Parameter(name="w", double=sp.DoubleDomain(min=0, max=1))]))
    sched.bind_space(space)
    rng = np.random.default_rng(2)
    moved = [sched.explore({"w": 0.0}, rng, None, [], 4, [])[0]["w"] for _ in range(10)]
    assert all(0.0 < w <= 1.0 for w in moved) and len(set(moved)) == 10


def test_pb2_bandit_prefers_what_improved_recently() -> None:
    """Improvements grew with x before generation 5 and shrink with it since: UCB at generation 6 picks low x."""
    rng = np.random.default_rng(0)
    x = rng.random((40, 1))
    t = np.repeat(np.arange(1.0, 9.0), 5)
    y = np.where(t < 5, x[:, 0], 1.0 - x[:, 0]) + 0.01 * rng.standard_normal(40)
    best, mean, _ = ucb_choice(x, t, y, 9.0, np.zeros((0, 1)), np.array([0.5]), rng)
    assert best[0] < 0.3 and mean > 0


@pytest.mark.parametrize(("settings", "max_trials", "message"), [
    ({"population_size": 4}, 5, "spec.budget.max_trials: a pbt study's trials are its population: 5 differs"),
    ({}, 0, "spec.scheduler.settings.population_size: a pbt study needs a population"),
    ({"population_size": 2, "mutable": ["nope"]}, 0, "spec.scheduler.settings.mutable: 'nope' is no parameter"),
    ({"population_size": 2, "perturbation_factors": []}, 0, "spec.scheduler.settings.perturbation_factors"),
    ({"population_size": 2, "quantile_fraction": 0.7}, 0, "spec.scheduler.settings.quantile_fraction: must be <="),
    ({"population_size": 2, "schedule": [{"step": 50, "params": {"h0": 1, "h1": 0}}]}, 0,
     "spec.scheduler.settings.schedule[0].step"),
    ({"population_size": 2, "schedule": [{"step": 5, "params": {"h0": 3}}]}, 0,
     "spec.scheduler.settings.schedule[0].params"),
])
def test_bad_settings_are_refused_naming_the_field(settings: dict[str, Any], max_trials: int, message: str) -> None:
    spec = toy_spec("pbt", **settings)
    spec.budget.max_trials = max_trials
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert message in str(err.value)


def test_population_size_becomes_the_budget() -> None:
    spec = toy_spec("pb2", population_size=6)
    parse_spec(spec)
    assert spec.budget.max_trials == 6


def test_a_resumed_digits_run_trains_with_its_new_optimizer_settings(tmp_path: Path) -> None:
    import torch
    from nestor.trainable import LocalContext
    from nestor_executor.trainables import digits_mlp
    from nestor_executor.trainables.epochs import resume, save

    ctx = LocalContext(checkpoint_dir=str(tmp_path))
    s0 = digits_mlp.settings({"lr": 0.1, "optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.0})
    model = digits_mlp.build_model(s0)
    save(ctx, model, digits_mlp.build_optimizer(s0, model), 3, [])
    s1 = digits_mlp.settings({"lr": 0.01, "optimizer": "sgd", "momentum": 0.5, "weight_decay": 1e-4})
    model = digits_mlp.build_model(s1)
    opt = digits_mlp.build_optimizer(s1, model)
    done, _ = resume(model, opt, LocalContext(checkpoint_dir=str(tmp_path)), "digits_mlp",
                     {"lr": 0.01, "momentum": 0.5, "weight_decay": 1e-4})
    assert done == 3
    assert [(g["lr"], g["momentum"], g["weight_decay"]) for g in opt.param_groups] == [(0.01, 0.5, 1e-4)]
    assert isinstance(opt, torch.optim.SGD)


# --- whole studies over real processes --------------------------------------------------------------------------


def toy_spec(scheduler_name: str, trainable: str = "pbt_toy", **settings: Any) -> s.StudySpec:
    spec = s.StudySpec(
        name=f"toy-{scheduler_name}", seed=5, trainable=trainable,
        space=sp.SearchSpace(parameters=[sp.Parameter(name="h0", double=sp.DoubleDomain(min=0, max=1)),
                                         sp.Parameter(name="h1", double=sp.DoubleDomain(min=0, max=1))]),
        objectives=[s.Objective(metric="q", goal=s.GOAL_MAXIMIZE)],
        scheduler=s.SchedulerSpec(name=scheduler_name), fidelity=s.Fidelity(name="step", min=1, max=STEPS),
        budget=s.Budget(max_parallel=2))
    spec.trainable_config.update({"lr": LR})
    spec.scheduler.settings.update({"perturbation_interval": INTERVAL, **settings})
    for h in PAPER:
        p = spec.enqueue.add()
        for k, v in h.items():
            p.params[k].double_value = v
    return spec


def run_to_end(stub: Any, spec: s.StudySpec, timeout: float = 150.0) -> tuple[str, list[s.Trial]]:
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    return sid, wait_end(stub, sid, timeout)


def wait_end(stub: Any, sid: str, timeout: float = 150.0) -> list[s.Trial]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = stub.GetStudy(c.GetStudyRequest(study_id=sid), timeout=5)
        except Exception:  # a controller being restarted
            time.sleep(0.2)
            continue
        if study.state != s.STUDY_RUNNING:
            assert study.state == s.STUDY_COMPLETED, study.reason
            return list(stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials)
        time.sleep(0.2)
    raise AssertionError(f"study {sid} did not end within {timeout} s")


def final_q(t: s.Trial) -> float:
    return t.final_measurement.metrics["q"]


def thetas(t: s.Trial) -> dict[int, tuple[float, float]]:
    return {int(m.step): (m.metrics["theta0"], m.metrics["theta1"]) for m in t.measurements}


def changes(steps: Sequence[lineage.Interval]) -> list[tuple[int, dict[str, Any]]]:
    """(step, params) where the parameters change, whoever's weights the interval started from."""
    out: list[tuple[int, dict[str, Any]]] = []
    for i in steps:
        if not out or out[-1][1] != i.params:
            out.append((i.step, i.params))
    return out


def summary(trials: Sequence[s.Trial]) -> list[tuple[Any, ...]]:
    """What must be the same however the study was interrupted: each member's intervals and results."""
    return [(t.id, s.TrialState.Name(t.state), final_q(t),
             [(e.step, sorted(params_from_proto(e.params).items()), e.donor_trial_id) for e in t.lineage])
            for t in trials]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[Server]]]:
    tmp = tmp_path_factory.mktemp("pbt")
    ctl = start_controller(tmp)
    executors = [start_executor(tmp, ctl.address, name=f"executor{i}",
                                trainables=["never_checkpoints=pbt_trainables:never_checkpoints"]) for i in range(2)]
    wait_for_executors(controller_stub(ctl.address), 2)
    yield ctl, executors
    for x in executors:
        x.stop()
    ctl.stop()


@pytest.fixture(scope="module")
def toy_study(cluster: tuple[Server, list[Server]]) -> tuple[str, list[s.Trial]]:
    return run_to_end(controller_stub(cluster[0].address), toy_spec("pbt", population_size=2))


def test_pbt_finds_the_schedule_that_no_constant_setting_reaches(cluster: tuple[Server, list[Server]],
                                                                 toy_study: tuple[str, list[s.Trial]]) -> None:
    stub = controller_stub(cluster[0].address)
    constant = toy_spec("none")
    constant.scheduler.Clear()
    constant.budget.max_trials = 2
    _, fixed = run_to_end(stub, constant)
    assert [round(final_q(t), 6) for t in fixed] == [round(1.2 - 0.81 - 0.9**2 * (1 - 2 * LR) ** (2 * STEPS), 6)] * 2
    _, members = toy_study
    assert max(final_q(t) for t in members) >= 1.1


def test_lineage_records_every_copy_and_the_copy_is_the_donors_weights(toy_study: tuple[str, list[s.Trial]]) -> None:
    _, members = toy_study
    by_id = {t.id: t for t in members}
    copies = 0
    for t in members:
        assert [e.step for e in t.lineage] == list(range(0, STEPS, INTERVAL))
        assert t.lineage[0].reason == "the initial population" and t.lineage[0].checkpoint == f"trial-{t.id}"
        assert params_from_proto(t.params) == params_from_proto(t.lineage[-1].params)
        theta = thetas(t)
        for e in t.lineage[1:]:
            assert e.checkpoint == f"trial-{t.id}-step-{e.step}"
            if not e.donor_trial_id:
                continue
            copies += 1
            assert "exploit: continues from trial" in e.reason
            donor = thetas(by_id[e.donor_trial_id])
            h = params_from_proto(e.params)
            # The first step after the copy moved the donor's theta at the copy's step, with the new h.
            expected = (donor[e.step][0] * (1 - 2 * LR * h["h0"]), donor[e.step][1] * (1 - 2 * LR * h["h1"]))
            assert theta[e.step + 1] == pytest.approx(expected, rel=1e-12)
    assert copies >= 1


def test_replaying_the_best_schedule_reproduces_the_best_result(cluster: tuple[Server, list[Server]],
                                                                toy_study: tuple[str, list[s.Trial]]) -> None:
    sid, members = toy_study
    trials = {t.id: t for t in members}
    best = max(members, key=final_q)
    steps = lineage.merged(lineage.schedule(trials, best.id))
    assert steps[0].step == 0 and steps[0].params in [dict(p) for p in PAPER]
    stub = controller_stub(cluster[0].address)
    spec = lineage.replay_spec(stub.GetStudy(c.GetStudyRequest(study_id=sid)).spec, steps)
    _, (replayed,) = run_to_end(stub, spec)
    assert final_q(replayed) == pytest.approx(final_q(best), rel=1e-12)
    assert changes(lineage.intervals(replayed)) == changes(steps)
    assert all(e.donor_trial_id == 0 for e in replayed.lineage)


def test_a_member_that_never_checkpoints_is_never_copied(cluster: tuple[Server, list[Server]]) -> None:
    _, members = run_to_end(controller_stub(cluster[0].address),
                            toy_spec("pbt", trainable="never_checkpoints", population_size=2))
    assert all(e.donor_trial_id == 0 for t in members for e in t.lineage)
    assert any("no member of the top 1 checkpointed" in e.reason for t in members for e in t.lineage)


def test_cli_shows_each_members_lineage_and_the_best_schedule(cluster: tuple[Server, list[Server]],
                                                              toy_study: tuple[str, list[s.Trial]]) -> None:
    sid, members = toy_study
    base = [sys.executable, "-m", "nestor", "study", "lineage", sid, "--controller", cluster[0].address]
    shown = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "weights of" in shown.stdout and "trial 1" in shown.stdout and "schedule behind trial" in shown.stdout
    out = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=60)
    data = json.loads(out.stdout)
    best = max(members, key=final_q)
    assert data["trial"] == best.id and data["schedule"][0]["step"] == 0
    assert {int(k) for k in data["members"]} == {t.id for t in members}
    table = subprocess.run([sys.executable, "-m", "nestor", "study", "trials", sid, "--controller",
                            cluster[0].address], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "COLUMNS": "300"})
    assert "last of trial" in table.stdout


@pytest.mark.parametrize("algorithm", ["pbt", "pb2"])
def test_killed_controller_continues_the_same_population(tmp_path: Path, algorithm: str) -> None:
    """The first kill lands where both members have reported the end of an interval (their checkpoints there
    saved) but not yet ended their runs; the others land wherever the study is."""
    hold_at = 2 * INTERVAL
    results = []
    for kills in (0, 3):
        tmp = tmp_path / f"kills{kills}"
        tmp.mkdir()
        ctl = start_controller(tmp)
        ex = start_executor(tmp, ctl.address, slots=2, trainables=["holds=pbt_trainables:holds_after_a_report"])
        try:
            stub = controller_stub(ctl.address)
            wait_for_executors(stub, 1)
            spec = toy_spec(algorithm, trainable="holds", population_size=2)
            if kills:
                spec.trainable_config.update({"hold_at": hold_at, "hold_dir": str(tmp)})
            sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
            for k in range(kills):
                if k == 0:
                    wait_for_reports(stub, sid, hold_at, members=2)
                else:
                    time.sleep(0.2 + 0.5 * k)
                ctl.kill()
                ctl = start_controller(tmp, port=ctl.port)
                stub = controller_stub(ctl.address)
                (tmp / "release").touch()
            results.append(summary(wait_end(stub, sid)))
        finally:
            ex.stop()
            ctl.stop()
    assert results[1] == results[0]
    assert any(e[2] for t in results[0] for e in t[3])  # some member copied another


def wait_for_reports(stub: Any, sid: str, step: int, members: int, timeout: float = 60.0) -> None:
    """Until `members` trials have a stored measurement at `step`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
        if sum(any(m.step == step for m in t.measurements) for t in trials) >= members:
            return
        time.sleep(0.05)
    raise AssertionError(f"{members} trials did not report step {step} within {timeout} s")


def test_executor_lost_right_after_a_copy_loses_nothing(tmp_path: Path) -> None:
    trainable = "kills=pbt_trainables:kills_its_executor_after_a_copy"
    results, lost = [], []
    for run in ("calm", "lost"):
        tmp = tmp_path / run
        marker = tmp / "killed"
        tmp.mkdir()
        if run == "calm":
            marker.write_text("nothing is killed in this run\n")
        ctl = start_controller(tmp)
        executors = [start_executor(tmp, ctl.address, name=f"executor{i}", trainables=[trainable]) for i in range(2)]
        try:
            stub = controller_stub(ctl.address)
            wait_for_executors(stub, 2)
            spec = toy_spec("pbt", trainable="kills", population_size=2)
            spec.trainable_config.update({"marker": str(marker), "kill_at": 8})
            _, trials = run_to_end(stub, spec)
            results.append(summary(trials))
            lost.append(sum(not x.alive() for x in executors))
        finally:
            for x in executors:
                x.stop()
            ctl.stop()
    assert lost == [0, 1]
    assert results[1] == results[0]
    assert all(state == "TRIAL_COMPLETED" for _, state, _, _ in results[1])


def test_stored_lineage_is_json(toy_study: tuple[str, list[s.Trial]], cluster: tuple[Server, list[Server]]) -> None:
    """Durable state is JSON: the trials table's lineage column reads back as the lineage the API shows."""
    import sqlite3

    sid, members = toy_study
    db = Path(cluster[0].cmd[cluster[0].cmd.index("--store") + 1].removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("select id, lineage from trials where study_id = ?", (sid,)).fetchall())
    for t in members:
        stored = json.loads(rows[t.id])
        assert [(e["step"], e["donor"], e["folder"]) for e in stored] == \
            [(e.step, e.donor_trial_id, e.checkpoint) for e in t.lineage]
        assert all(math.isfinite(e["params"]["h0"]) for e in stored)


def test_a_population_cannot_be_extended(cluster: tuple[Server, list[Server]],
                                         toy_study: tuple[str, list[s.Trial]]) -> None:
    import grpc

    with pytest.raises(grpc.RpcError) as err:
        controller_stub(cluster[0].address).ExtendStudy(c.ExtendStudyRequest(study_id=toy_study[0], max_trials=5))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "population-based (pbt): its trials are its population of 2" in err.value.details()


def test_an_interval_folder_is_seeded_once_from_the_one_it_continues(tmp_path: Path) -> None:
    from nestor.checkpoints import CheckpointDir, CheckpointError, StaleAttempt

    donor = CheckpointDir(str(tmp_path / "trial-1-step-4"), attempt=3)
    donor.save({"theta": [0.1, 0.2]}, 8)
    mine = CheckpointDir(str(tmp_path / "trial-2-step-8"), attempt=1)
    assert mine.seed_from(donor.path)
    assert mine.load().state == {"theta": [0.1, 0.2]} and mine.load().step == 8
    assert os.stat(mine.checkpoint_path).st_ino == os.stat(donor.checkpoint_path).st_ino  # a link, not a copy
    mine.save({"theta": [0.0, 0.0]}, 9)  # trains on: the donor's file is untouched
    assert donor.load().state == {"theta": [0.1, 0.2]}
    # A later attempt (the executor was lost) resumes from what the folder holds, without copying again.
    retry = CheckpointDir(mine.path, attempt=2)
    assert not retry.seed_from(donor.path) and retry.load().step == 9
    # A stale attempt seeds nothing; a source that holds nothing is an error that says why.
    with pytest.raises(StaleAttempt):
        CheckpointDir(mine.path, attempt=1).seed_from(donor.path)
    with pytest.raises(CheckpointError, match="must share theirs"):
        CheckpointDir(str(tmp_path / "trial-3-step-8"), attempt=1).seed_from(str(tmp_path / "elsewhere"))


@pytest.mark.parametrize("prune", [True, False])
def test_spent_interval_folders_are_removed_unless_asked_to_keep_them(tmp_path: Path, prune: bool) -> None:
    artifacts = tmp_path / "shared"
    ctl = start_controller(tmp_path, "--artifact-dir", str(artifacts))
    ex = start_executor(tmp_path, ctl.address, "--artifact-dir", str(artifacts), slots=2)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1)
        sid, members = run_to_end(stub, toy_spec("pbt", population_size=2, prune_checkpoints=prune))
        left = sorted(p.name for p in (artifacts / sid).iterdir())
        every = sorted(e.checkpoint for t in members for e in t.lineage)
        if prune:
            # What a copy or a retry of the last generation could still start from, and the final weights.
            assert left == sorted(e.checkpoint for t in members for e in t.lineage[-2:])
        else:
            assert left == every
        for t in members:  # the best and every member's final weights are still there
            assert (artifacts / sid / t.lineage[-1].checkpoint / "checkpoint.nestor").exists()
    finally:
        ex.stop()
        ctl.stop()


def test_a_member_failing_after_it_was_sent_on_changes_nothing_for_those_still_waiting() -> None:
    values = {m: 0.1 * m for m in range(1, 7)}
    settings = {"quantile_fraction": 0.5, "resample_probability": 0.5}
    at_once = {p.trial_id: p for p in scheduler(**settings).plan(
        Population(toy_space(), values, 4, checkpointed=values), 6).promote}
    view = Population(toy_space(), values, 4, checkpointed=values)
    (first,) = scheduler(**settings).plan(view, 1).promote
    view.phases[first.trial_id], view.budgets[first.trial_id] = "failed", first.budget  # sent on, then failed
    rest = {p.trial_id: p for p in scheduler(**settings).plan(view, 6).promote}
    assert rest == {m: p for m, p in at_once.items() if m != first.trial_id}


def test_an_ask_tell_population_learns_whose_weights_to_load(cluster: tuple[Server, list[Server]]) -> None:
    """A client-driven pbt study: the client keeps the weights; each member it gets back names its donor."""
    import nestor

    spec = toy_spec("pbt", population_size=2)
    spec.ClearField("trainable")
    weights: dict[tuple[int, int], tuple[float, float]] = {}  # (trial, step) -> theta, the client's "checkpoints"
    with nestor.Client(cluster[0].address) as client:
        study = client.create_study(spec)
        while trials := study.suggest(2):
            for trial in trials:
                last = trial.lineage[-1]
                start = int(last.step)
                theta = weights[(last.donor or trial.id, start)] if start else (0.9, 0.9)
                h0, h1 = trial.params["h0"], trial.params["h1"]
                for step in range(start + 1, int(trial.proto.budget) + 1):
                    theta = (theta[0] * (1 - 2 * LR * h0), theta[1] * (1 - 2 * LR * h1))
                    weights[(trial.id, step)] = theta
                    trial.report(step, {"q": 1.2 - theta[0] ** 2 - theta[1] ** 2})
                trial.complete()
        members = study.trials()
    assert all(t.state == s.TRIAL_COMPLETED for t in (m.proto for m in members))
    assert any(i.donor for m in members for i in m.lineage)
    assert max(m.proto.final_measurement.metrics["q"] for m in members) >= 1.1
