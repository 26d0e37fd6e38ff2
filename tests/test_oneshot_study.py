"""One-shot NAS as one study (algorithm `oneshot`), over real processes: a supernet trained once, architectures
proposed by an inner sampler and scored with its weights, the best and a spread of the rest trained alone, and
the Kendall tau of the two rankings shown by the study."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from google.protobuf import json_format
from nestor import architecture
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor.values import params_from_proto
from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.oneshot import OneShotSampler
from nestor_controller.space import parse_space
from scipy.stats import kendalltau

EVALUATIONS, TOP_K, RANK_CHECK = 10, 2, 2


EDGE_CELLS = sp.ArchitectureSpace(edge_cell=sp.EdgeCellSpace(init_channels=4, num_nodes=3))
#: A chain whose depth, widths and strides are decisions: the supernet slices its weights (nas/sliced.py).
CHAIN = sp.ArchitectureSpace(chain=sp.ChainSpace(min_layers=1, max_layers=3, filters=[4, 8], strides=[1, 2],
                                                 operations=["conv_3x3", "sep_conv_3x3", "max_pool_3x3", "identity"]))


def one_shot_spec(sampler: str = "regularized_evolution", evaluations: int = EVALUATIONS, rounds: int = 1,
                  architecture: sp.ArchitectureSpace = EDGE_CELLS) -> s.StudySpec:
    spec = s.StudySpec(
        name="oneshot", trainable="oneshot_supernet", seed=3,
        objectives=[s.Objective(metric="val_accuracy", goal=s.GOAL_MAXIMIZE)],
        space=sp.SearchSpace(
            parameters=[sp.Parameter(name="lr", double=sp.DoubleDomain(min=0.02, max=0.1, scale=sp.SCALE_LOG),
                                    default_value=sp.Value(double_value=0.05))],
            architecture=architecture),
        algorithm=s.AlgorithmSpec(name="oneshot"),
        budget=s.Budget(max_trials=rounds + evaluations + TOP_K + RANK_CHECK, max_parallel=2))
    spec.algorithm.settings.update({"evaluations": evaluations, "top_k": TOP_K, "rank_check": RANK_CHECK,
                                    "sampler": sampler, "sampler_settings": {"population_size": 4, "sample_size": 2}
                                    if sampler == "regularized_evolution" else {},
                                    "rounds": rounds, "supernet_epochs": 2, "policy_paths": 6})
    spec.trainable_config.update({"epochs": 1, "optimizer": "sgd"})
    return spec


def mode(t: s.Trial) -> str:
    return t.params["oneshot_mode"].string_value


def arch_of(t: s.Trial) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in params_from_proto(t.params).items() if k.startswith("arch.")))


def check_finished_study(stub: object, sid: str, rounds: int = 1, score_metric: str = "val_accuracy"
                         ) -> tuple[s.Study, list[s.Trial]]:
    study = stub.GetStudy(c.GetStudyRequest(study_id=sid))  # type: ignore[attr-defined]
    trials = sorted(stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials, key=lambda t: t.id)  # type: ignore[attr-defined]
    assert study.state == s.STUDY_COMPLETED, study.reason
    supernets = [t for t in trials if mode(t) == "train"]
    evaluations = [t for t in trials if mode(t) == "evaluate"]
    alone = [t for t in trials if mode(t) == "standalone"]
    assert [t.state for t in supernets] == [s.TRIAL_COMPLETED] * rounds
    supernet = supernets[-1]
    assert len(evaluations) == EVALUATIONS and all(t.state == s.TRIAL_COMPLETED for t in evaluations)
    for r, t in enumerate(supernets[1:], start=1):  # a later round continues the previous one's weights
        assert t.params["supernet_trial"].int_value == supernets[r - 1].id
        assert t.params["until_epoch"].int_value == 2 * (r + 1) // rounds
        assert len(json.loads(t.params["paths"].string_value)) == 6
        assert t.decision.startswith(f"oneshot: round {r + 1} of {rounds}")
    for r, t in enumerate(supernets):  # each round scores its share of the architectures, then the next begins
        mine = [e for e in evaluations if e.params["supernet_trial"].int_value == t.id]
        assert len(mine) == EVALUATIONS // rounds and min(e.id for e in mine) > t.id
        if r + 1 < rounds:
            assert max(e.id for e in mine) < supernets[r + 1].id
    assert all(t.params["supernet_trial"].int_value == supernet.id for t in alone)
    # Every trial inherits the supernet's ordinary parameters (the space's default learning rate).
    assert all(t.params["lr"].double_value == 0.05 for t in trials)
    assert all(t.decision.startswith("oneshot: proposed by") for t in evaluations)
    # Phase 3 began only after the last score: the ranking it trains from is the whole one.
    assert min(t.id for t in alone) > max(t.id for t in evaluations)
    evaluations = [e for e in evaluations if e.params["supernet_trial"].int_value == supernet.id]

    score = {t.id: t.final_measurement.metrics[score_metric] for t in evaluations}
    first: dict[tuple, s.Trial] = {}
    for t in evaluations:
        first.setdefault(arch_of(t), t)
    better = -1 if score_metric == "val_accuracy" else 1  # the loss is minimised
    ranking = sorted(first.values(), key=lambda t: (better * score[t.id], t.id))
    chosen = [t.params["evaluate_trial"].int_value for t in alone]
    assert chosen[:TOP_K] == [t.id for t in ranking[:TOP_K]]  # the supernet's best, in order
    assert chosen[TOP_K:] == [ranking[TOP_K].id, ranking[-1].id][:RANK_CHECK]  # the ends of the rest
    assert all(arch_of(t) == arch_of(next(e for e in evaluations if e.id == chosen[k]))
               for k, t in enumerate(alone))

    # The study's best is a network trained alone, never a supernet score.
    best = stub.GetBestTrials(c.GetBestTrialsRequest(study_id=sid)).trials  # type: ignore[attr-defined]
    assert [mode(t) for t in best] == ["standalone"]

    o = study.one_shot
    assert (o.phase, o.supernet_trial, o.evaluated, o.evaluations) == ("done", supernet.id, EVALUATIONS, EVALUATIONS)
    assert (o.rounds, o.round) == (rounds, rounds)
    assert (o.standalone, o.standalone_planned, o.distinct) == (len(alone), TOP_K + RANK_CHECK, len(ranking))
    pairs = {p.evaluate_trial: p for p in o.pairs}
    assert set(pairs) == set(chosen)
    for t in alone:
        p = pairs[t.params["evaluate_trial"].int_value]
        assert p.standalone_trial == t.id
        assert p.standalone_value == t.final_measurement.metrics["val_accuracy"]
        assert p.supernet_score == score[p.evaluate_trial]
        assert p.reason == ("top_k" if chosen.index(p.evaluate_trial) < TOP_K else "rank_check")
    tau = kendalltau([-better * p.supernet_score for p in o.pairs], [p.standalone_value for p in o.pairs]).statistic
    if tau == tau:  # NaN when either side is constant, and then the study shows none
        assert o.kendall_tau == pytest.approx(tau)
    return study, trials


def test_one_study_trains_a_supernet_scores_architectures_with_it_and_trains_the_best_alone(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    ex = start_executor(tmp_path, ctl.address, slots=2)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1)
        spec = one_shot_spec()
        # Ranked by the supernet's validation loss, finer than its accuracy.
        spec.algorithm.settings.update({"score_metric": "val_loss", "score_goal": "minimize"})
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
        list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=240))
        _, trials = check_finished_study(stub, sid, score_metric="val_loss")
        supernet = trials[0]
        assert supernet.params["edge_cell"].string_value.startswith('{"init_channels": 4')
        # Each evaluation ran in a folder of its own, seeded from the supernet's checkpoint, which none wrote.
        assert len({t.checkpoint for t in trials}) == len(trials)
        shown = subprocess.run([sys.executable, "-m", "nestor", "--controller", ctl.address, "study", "get", sid],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        text = " ".join(shown.stdout.split())
        assert f"phase done · supernet of trial {supernet.id} · {EVALUATIONS}/{EVALUATIONS} architectures" in text
        assert "Kendall tau" in text or "trained alone" in text
    finally:
        ex.stop()
        ctl.stop()


def test_rounds_alternate_supernet_and_evaluations_and_survive_a_killed_controller(tmp_path: Path) -> None:
    """ENAS-style rounds with the rl policy, and SIGKILL during the first round's evaluations: the restarted
    controller keeps the supernet and its scores, continues the supernet on paths its policy proposes, and trains
    alone the architectures the last round's stored scores rank first."""
    ctl = start_controller(tmp_path)
    ex = start_executor(tmp_path, ctl.address, slots=2)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=one_shot_spec("rl", rounds=2))).id
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
            if sum(mode(t) == "evaluate" and t.state == s.TRIAL_COMPLETED for t in trials) >= 2:
                break
            time.sleep(0.05)
        ctl.kill()
        ctl = start_controller(tmp_path, port=int(ctl.address.rsplit(":", 1)[1]))
        stub = controller_stub(ctl.address)
        deadline = time.monotonic() + 240
        while stub.GetStudy(c.GetStudyRequest(study_id=sid)).state == s.STUDY_RUNNING:
            assert time.monotonic() < deadline, "the study did not finish after the restart"
            time.sleep(0.2)
        _, trials = check_finished_study(stub, sid, rounds=2)
        first, second = (t for t in trials if mode(t) == "train")
        # The second round trained on from the first's weights: its first epoch is the first's last plus one.
        steps = [m.step for m in stub.GetTrial(c.GetTrialRequest(study_id=sid, trial_id=second.id)).measurements]
        assert steps == [2] and first.checkpoint != second.checkpoint
    finally:
        ex.stop()
        ctl.stop()


def test_a_chain_space_runs_in_rounds_on_paths_its_policy_proposes(tmp_path: Path) -> None:
    """Beyond edge-op cells: the space travels as arch_space, the second round's supernet trains on the rl
    policy's paths (conditional decisions and all), and the chosen chains are trained alone."""
    ctl = start_controller(tmp_path)
    ex = start_executor(tmp_path, ctl.address, slots=2)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=one_shot_spec("rl", rounds=2, architecture=CHAIN))).id
        list(stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=240))
        _, trials = check_finished_study(stub, sid, rounds=2)
        first, second = (t for t in trials if mode(t) == "train")
        assert json.loads(first.params["arch_space"].string_value) == json_format.MessageToDict(CHAIN)
        # Each path lists every decision's value in the space's order: arch.num_layers first, null for the
        # decisions of layers beyond it.
        paths = json.loads(second.params["paths"].string_value)
        assert {len(p) for p in paths} == {len(architecture.decisions(CHAIN))}
        assert all(p[0] in (1, 2, 3) for p in paths) and all(None in p for p in paths if p[0] < 3)
        alone = [t for t in trials if mode(t) == "standalone"]
        assert all(isinstance(architecture.decode(params_from_proto(t.params)), architecture.Chain) for t in alone)
    finally:
        ex.stop()
        ctl.stop()


def test_the_spec_is_checked_where_it_enters() -> None:
    def refused(spec: s.StudySpec) -> str:
        with pytest.raises(SpecError) as e:
            OneShotSampler.check(parse_space(spec.space), [ObjectiveDef("val_accuracy", True)],
                                 dict(spec.algorithm.settings.items()),
                                 spec.budget.max_trials)
        return str(e.value)

    small = one_shot_spec()
    small.budget.max_trials = 5
    assert "runs 1 supernet trial(s), 10 evaluation(s)" in refused(small)
    plain = one_shot_spec()
    plain.space.ClearField("architecture")
    assert "searches an architecture space (chain, multi_branch, cell or edge_cell); the space has none" in \
        refused(plain)
    wrong = one_shot_spec()
    wrong.algorithm.settings.update({"sampler": "cmaes"})
    assert "'cmaes' is not an architecture sampler" in refused(wrong)
    bad = one_shot_spec()
    bad.algorithm.settings.update({"sampler_settings": {"population_size": 1}})
    assert "sampler_settings" in refused(bad)
    goal = one_shot_spec()
    goal.algorithm.settings.update({"score_metric": "val_loss", "score_goal": "lower"})
    assert "score_goal: 'minimize' or 'maximize'" in refused(goal)


def test_create_study_refuses_a_bad_one_shot_spec_with_invalid_argument(tmp_path: Path) -> None:
    ctl = start_controller(tmp_path)
    try:
        spec = one_shot_spec()
        spec.budget.max_trials = 3
        with pytest.raises(grpc.RpcError) as e:
            controller_stub(ctl.address).CreateStudy(c.CreateStudyRequest(spec=spec))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "algorithm 'oneshot' runs 1 supernet trial(s)" in (e.value.details() or "")
    finally:
        ctl.stop()


def test_the_example_study_file_is_a_valid_one_shot_study() -> None:
    from nestor.spec import load_spec
    from nestor_controller.validate import parse_spec

    parsed = parse_spec(load_spec(Path(__file__).resolve().parents[1] / "examples" / "digits_oneshot.yaml"))
    assert parsed.algorithm == "oneshot" and "arch.node3.edge2" in parsed.space.by_name


def test_each_chosen_architecture_trained_several_times_counts_by_its_mean(tmp_path: Path) -> None:
    """Driven by a client (ask/tell): standalone_seeds trainings of each chosen architecture; the study pairs
    the supernet's score with their mean, and its tau reads both rankings best first whatever the goals."""
    from nestor.client import Client

    ctl = start_controller(tmp_path)
    try:
        with Client(ctl.address) as client:
            study = client.create_study({
                "name": "oneshot-seeds", "seed": 5, "objective": {"metric": "val_accuracy", "goal": "maximize"},
                "architecture": {"edge_cell": {"init_channels": 4, "num_nodes": 3}},
                "algorithm": {"name": "oneshot", "settings": {
                    "evaluations": 8, "top_k": 2, "rank_check": 1, "sampler": "random", "supernet_epochs": 1,
                    "standalone_seeds": 2, "score_metric": "val_loss", "score_goal": "minimize"}},
                "budget": {"max_trials": 1 + 8 + 3 * 2}})
            alone: dict[int, list[float]] = {}
            while trials := study.suggest(3):
                for t in trials:
                    convs = sum(v == "conv_3x3" for k, v in t.params.items() if k.startswith("arch."))
                    mode = t.params["oneshot_mode"]
                    if mode == "evaluate":  # a lower loss for more convolutions: the supernet ranks them first
                        t.complete({"val_loss": 1.0 - 0.2 * convs + 0.001 * t.id, "val_accuracy": 0.1})
                    elif mode == "standalone":
                        value = 0.5 + 0.1 * convs + 0.01 * t.params["repeat"]
                        alone.setdefault(t.params["evaluate_trial"], []).append(value)
                        t.complete({"val_accuracy": value})
                    else:
                        t.complete({"val_accuracy": 0.5})
            o = study.info().one_shot
            assert o.phase == "done" and (o.standalone, o.standalone_planned) == (6, 6)
            assert {p.evaluate_trial: (p.trained, p.standalone_value) for p in o.pairs} == {
                e: (2, pytest.approx(sum(v) / 2)) for e, v in alone.items()}
            # The supernet's order (lowest loss first) is the trained one (highest accuracy first).
            assert o.kendall_tau > 0.5
            best = study.best()
            assert best is not None and best.params["oneshot_mode"] == "standalone"
    finally:
        ctl.stop()
