"""The shared determinism test: every algorithm and scheduler the controller has joins it.

A seeded study run one trial at a time, killed with SIGKILL and restarted any
number of times, produces exactly the same trials (parameters, decisions and
results) as the same study run without interruption. The cases come from the
registries, so a new sampler or scheduler is tested by being registered.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from cluster import controller_stub, start_controller
from nestor.v1 import controller_pb2 as c
from nestor.v1 import executor_pb2 as x
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor_controller.bilevel.base import BilevelStrategy
from nestor_controller.samplers import SAMPLERS
from nestor_controller.schedulers import SCHEDULERS

TRIALS = 10
STEPS = 4
#: Settings that make an algorithm fit the small test budget.
SETTINGS: dict[str, dict[str, object]] = {"grid": {"points_per_dimension": 3},
                                          "regularized_evolution": {"population_size": 4, "sample_size": 2},
                                          "darts": {"searches": 2, "evaluations": 4},
                                          # Small initial designs and populations, so that the models
                                          # and generations act within the 10 trials.
                                          "gp": {"n_initial": 3}, "tpe": {"n_initial": 3},
                                          "ga": {"population_size": 4}, "cmaes": {"population_size": 3},
                                          "bohb": {"min_points": 2}, "nsga2": {"population_size": 4},
                                          # 1 supernet, 5 evaluations, 2 + 2 trained alone: the 10 trials.
                                          "oneshot": {"evaluations": 5, "top_k": 2, "rank_check": 2,
                                                      "sampler_settings": {"population_size": 3, "sample_size": 2}}}
#: Algorithms that search an architecture space alone (the ordinary parameters beside it).
ARCHITECTURE = {"oneshot": sp.ArchitectureSpace(edge_cell=sp.EdgeCellSpace(
    num_nodes=3, operations=["none", "skip_connect", "conv_3x3"], init_channels=4))}
#: Strategies with outer variables: the client also streams a gradient each step.
BILEVEL = {name for name, cls in SAMPLERS.items() if issubclass(cls, BilevelStrategy)}
#: Samplers that act on what a scheduler does (BOHB models the budgets Hyperband gives).
PAIRS = [("bohb", "hyperband")]
#: Algorithms run again with other settings: case -> (algorithm, settings).
VARIANTS = {"darts-perturbation": ("darts", {"searches": 2, "evaluations": 4, "selection": "perturbation"}),
            "gp-multiobjective": ("gp", {"n_initial": 3}), "tpe-multiobjective": ("tpe", {"n_initial": 3}),
            "nsga2-multiobjective": ("nsga2", {"population_size": 4})}
# Warm starts: transfer, whose sampler derives the most from its priors (a GP stack refitted at every start);
# the queue that top_k fills and the observations mode's weights are restored by tests/test_warmstart.py.
VARIANTS.update({"gp-transfer": ("gp", {"n_initial": 3}), "tpe-extended": ("tpe", {"n_initial": 3})})
# auto switching from one algorithm to another within the 10 trials.
VARIANTS["auto-switch"] = ("auto", {"switch_at": 5})
# One-shot rounds: the rl policy proposes the second supernet's paths (2 supernets, 3 + 3 evaluations, 1 + 1 alone).
VARIANTS["oneshot-rounds"] = ("oneshot", {"rounds": 2, "evaluations": 6, "top_k": 1, "rank_check": 1,
                                          "sampler": "rl", "policy_paths": 5})
#: Variants with a second objective ("size") and a constraint on it.
MULTIOBJECTIVE = {"gp-multiobjective", "tpe-multiobjective", "nsga2-multiobjective"}
#: Warm-started variants: a prior study of a dozen added results, and the mode.
WARM = {"gp-transfer": "transfer"}
#: The interrupted run starts with a smaller budget and extends it to TRIALS once it has ended.
EXTENDED = {"tpe-extended"}
CASES = ([(a, "none") for a in sorted(SAMPLERS)] + [("random", x) for x in sorted(SCHEDULERS) if x != "none"] + PAIRS
         + [(v, "none") for v in VARIANTS])


def spec(case: str, scheduler: str) -> s.StudySpec:
    algorithm, settings = VARIANTS.get(case, (case, SETTINGS.get(case, {})))
    out = s.StudySpec(
        name=f"{case}-{scheduler}", seed=1234,
        space=sp.SearchSpace(parameters=[
            sp.Parameter(name="x", double=sp.DoubleDomain(min=-2, max=2)),
            sp.Parameter(name="n", int=sp.IntDomain(min=1, max=64, scale=sp.SCALE_LOG)),
            sp.Parameter(name="kind", categorical=sp.CategoricalDomain(choices=[
                sp.Value(string_value="a"), sp.Value(string_value="b")]))]),
        objectives=[s.Objective(metric="loss", goal=s.GOAL_MINIMIZE)],
        algorithm=s.AlgorithmSpec(name=algorithm), scheduler=s.SchedulerSpec(name=scheduler),
        fidelity=s.Fidelity(name="step", min=1, max=STEPS), budget=s.Budget(max_trials=TRIALS, max_parallel=1))
    out.algorithm.settings.update(settings)
    if algorithm in ARCHITECTURE:
        out.space.architecture.CopyFrom(ARCHITECTURE[algorithm])
    if case in MULTIOBJECTIVE:
        out.objectives.append(s.Objective(metric="size", goal=s.GOAL_MINIMIZE))
        out.constraints.append(s.Constraint(metric="size", max=3.5))
    if scheduler == "median":
        out.scheduler.settings.update({"min_trials": 2})
    return out


def outer_gradient(values: x.OuterVariables, step: int) -> x.OuterGradient:
    """Some gradient of the values, the same in every run."""
    return x.OuterGradient(step=values.step, metrics={"progress": step / STEPS}, gradients={
        name: x.Tensor(shape=t.shape, values=[0.3 * v - 0.1 + 0.05 * math.sin(k + step)
                                              for k, v in enumerate(t.values)])
        for name, t in values.values.items()})


def perturbation_scores(trial_id: int) -> x.OuterGradient:
    """Some perturbation scores for a DARTS search selecting by them, the same in every run."""
    def tensor(shape: list[int], salt: int) -> x.Tensor:
        return x.Tensor(shape=shape, values=[math.sin(1.7 * k + trial_id + salt) for k in range(math.prod(shape))])

    return x.OuterGradient(metrics={"perturbation_seconds": 1.0}, gradients={
        f"perturbation.{kind}_{cell}": tensor(shape, salt) for salt, (kind, shape) in enumerate(
            [("op", [14, 8]), ("edge", [14])]) for cell in ("normal", "reduce")})


def loss(params: dict[str, s.Value], step: int) -> float:
    x, n, kind = params["x"].double_value, params["n"].int_value, params["kind"].string_value
    convs = sum(v.string_value == "conv_3x3" for name, v in params.items() if name.startswith("arch."))
    return (x - 0.5) ** 2 + 0.1 * math.log(n) + (0.3 if kind == "b" else 0.0) + 1.0 / step - 0.2 * convs


def size(params: dict[str, s.Value]) -> float:
    return math.log(params["n"].int_value) + abs(params["x"].double_value)


def prior_study(call: Callable[[str, object], object]) -> str:
    """A study of a dozen results added from elsewhere, the same in every run: a warm start's prior."""
    sid = call("CreateStudy", c.CreateStudyRequest(spec=spec("random", "none"))).id
    added = c.AddTrialsRequest(study_id=sid)
    for k in range(12):
        params = {"x": s_value(double_value=-1.9 + 0.33 * k), "n": s_value(int_value=1 + (7 * k) % 64),
                  "kind": s_value(string_value="ab"[k % 2])}
        added.trials.add(params=params, final_measurement=s.Measurement(
            step=STEPS, metrics={"loss": loss(params, STEPS), "size": size(params)}))
    call("AddTrials", added)
    return sid  # type: ignore[no-any-return]


def s_value(**kind: object) -> sp.Value:
    return sp.Value(**kind)  # type: ignore[arg-type]


class Chaos:
    """A controller that a background thread SIGKILLs at random instants and restarts."""

    def __init__(self, tmp: Path, kills: int, seed: str) -> None:
        self.tmp = tmp
        self.ctl = start_controller(tmp)
        self.kills_left = kills
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._kill_loop, daemon=True)
        if kills:
            self.thread.start()

    def _kill_loop(self) -> None:
        while self.kills_left and not self.done.wait(self.rng.uniform(0.05, 0.4)):
            with self.lock:
                self.ctl.kill()
                self.ctl = start_controller(self.tmp)
                self.kills_left -= 1

    def call(self, method: str, request: object) -> object:
        """Retries UNAVAILABLE with the same request (and so the same request id), like the SDK."""
        for _ in range(200):
            with self.lock:
                address = self.ctl.address
            try:
                return getattr(controller_stub(address), method)(request, timeout=10)
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                time.sleep(0.05)
        raise AssertionError(f"{method} never succeeded")

    def close(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()
        self.ctl.stop()


def run(tmp: Path, algorithm: str, scheduler: str, kills: int) -> list[tuple]:
    chaos = Chaos(tmp, kills, f"{algorithm}/{scheduler}")
    bilevel = VARIANTS.get(algorithm, (algorithm,))[0] in BILEVEL
    ids = itertools.count()

    def call(method: str, request: object) -> object:
        request.request_id = f"r{next(ids)}"  # type: ignore[attr-defined]
        time.sleep(0.04)  # a client that thinks between calls gives the killer room to strike
        return chaos.call(method, request)

    try:
        study_spec = spec(algorithm, scheduler)
        if algorithm in WARM:
            study_spec.warm_start.studies.append(prior_study(call))
            study_spec.warm_start.mode = WARM[algorithm]
            study_spec.warm_start.top_k = 3
        extend = algorithm in EXTENDED and kills > 0
        if extend:
            study_spec.budget.max_trials = TRIALS - 4
        sid = call("CreateStudy", c.CreateStudyRequest(spec=study_spec)).id
        while True:
            resp = call("SuggestTrials", c.SuggestTrialsRequest(study_id=sid, count=1))
            if not resp.trials and extend:
                extend = False
                call("ExtendStudy", c.ExtendStudyRequest(study_id=sid, max_trials=TRIALS))
                continue
            if not resp.trials:
                break
            t = resp.trials[0]
            outer = None
            if bilevel:
                held = chaos.call("GetOuterState", c.GetOuterStateRequest(study_id=sid, trial_id=t.id)).trials
                outer = held[0].values if held else None
            for step in range(1, STEPS + 1):
                if outer is not None:
                    outer = call("ReportOuterGradient", c.ReportOuterGradientRequest(
                        study_id=sid, trial_id=t.id, gradient=outer_gradient(outer, step)))
                answer = call("ReportMeasurement", c.ReportMeasurementRequest(
                    study_id=sid, trial_id=t.id, measurement=s.Measurement(step=step, metrics={
                        "loss": loss(t.params, step), "size": size(t.params)})))
                if answer.decision == s.DECISION_STOP:
                    break
            if outer is not None and "selection" in t.params and t.params["selection"].string_value == "perturbation":
                call("ReportOuterGradient", c.ReportOuterGradientRequest(
                    study_id=sid, trial_id=t.id, gradient=perturbation_scores(t.id)))
            call("CompleteTrial", c.CompleteTrialRequest(study_id=sid, trial_id=t.id))
        killed = kills - chaos.kills_left
        trials = chaos.call("ListTrials", c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
        held = {}
        if bilevel:  # the outer variables each trial ended with, and their step count
            state = chaos.call("GetOuterState", c.GetOuterStateRequest(study_id=sid)).trials
            held = {h.trial_id: str(h.values) for h in state}
        return killed, [(t.id, sorted((k, str(v)) for k, v in t.params.items()), t.state, len(t.measurements),
                         t.final_measurement.metrics["loss"], held.get(t.id)) for t in trials]
    finally:
        chaos.close()


@pytest.mark.parametrize(("algorithm", "scheduler"), CASES)
def test_killed_and_resumed_study_repeats_the_uninterrupted_one(tmp_path: Path, algorithm: str,
                                                                  scheduler: str) -> None:
    # Side by side: both runs mostly wait (on the client's pauses and on restarts), so the test takes half as long.
    with ThreadPoolExecutor(max_workers=2) as pool:
        calm = pool.submit(run, tmp_path / "straight", algorithm, scheduler, 0)
        chaotic = pool.submit(run, tmp_path / "killed", algorithm, scheduler, 5)
        _, straight = calm.result()
        killed, resumed = chaotic.result()
    assert len(straight) == TRIALS
    assert resumed == straight
    assert killed == 5, "the study ended before the controller was killed five times"
