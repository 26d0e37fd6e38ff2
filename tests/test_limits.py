"""What the limits let through works, the heaviest request included, and the server stays responsive meanwhile.

A real controller. Every sampler suggests trials inside the domain of a space at the edges of what is legal
(doubles spanning 2e307, integers to 2**53, log scales down to the smallest double, a thousand choices);
every scheduler runs over the widest legal fidelity; every setting of every sampler and scheduler at its
limit is either refused naming the limit, or accepted and then works. While the heaviest legal GP-BO and
grid requests run, the health service and another study answer within a normal deadline.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from cluster import Server, controller_stub, start_controller
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nestor.v1 import controller_pb2 as c
from nestor.v1 import controller_pb2_grpc
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s
from nestor.values import params_from_proto

pytestmark = pytest.mark.timeout(600)

#: Generous: these calls do real work on a shared 2-core machine; a hang, not a slow call, is what fails.
CALL_S = 120.0
#: A normal deadline for a health check or a small call while heavy work runs.
RESPONSIVE_S = 2.0
# Every sampler but the bilevel strategies, which need an architecture space or outer variables.
SAMPLERS = ("random", "grid", "regularized_evolution", "rl", "quasirandom", "gp", "tpe", "ga", "cmaes", "bohb")
SCHEDULERS = ("median", "successive_halving", "hyperband", "asha", "learning_curve")


def double(name: str, lo: float, hi: float, *, log: bool = False, step: float = 0.0) -> sp.Parameter:
    return sp.Parameter(name=name, double=sp.DoubleDomain(min=lo, max=hi, step=step,
                                                          scale=sp.SCALE_LOG if log else sp.SCALE_LINEAR))


def integer(name: str, lo: int, hi: int, *, log: bool = False, step: int = 0) -> sp.Parameter:
    return sp.Parameter(name=name, int=sp.IntDomain(min=lo, max=hi, step=step,
                                                    scale=sp.SCALE_LOG if log else sp.SCALE_LINEAR))


def choices(name: str, n: int) -> sp.Parameter:
    return sp.Parameter(name=name, categorical=sp.CategoricalDomain(choices=[sp.Value(int_value=i) for i in range(n)]))


EDGES = [
    double("wide", -1e307, 1e307),
    double("tiny_log", 5e-324, 1e308, log=True),
    double("fine_steps", 0.0, 1e-290, step=1e-300),
    integer("big_int", -(2**53), 2**53),
    integer("log_int", 1, 2**53, log=True),
    integer("stepped_int", -(2**53), 2**53, step=2**52),
    choices("many", 1000),
]


def in_domain(p: sp.Parameter, value: Any) -> bool:
    domain = p.WhichOneof("domain")
    if domain == "categorical":
        return value in {v.int_value for v in p.categorical.choices}
    d = getattr(p, domain)
    if domain == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return False
    if not isinstance(value, int | float) or not math.isfinite(value) or not d.min <= value <= d.max:
        return False
    if d.step and domain == "int":
        return (value - d.min) % d.step == 0
    return True


def spec(params: list[sp.Parameter], algorithm: str = "random", settings: dict | None = None, *,
         scheduler: str = "", scheduler_settings: dict | None = None, fidelity: s.Fidelity | None = None,
         max_trials: int = 6) -> s.StudySpec:
    out = s.StudySpec(name="edges", space=sp.SearchSpace(parameters=params), seed=11,
                      objectives=[s.Objective(metric="y", goal=s.GOAL_MINIMIZE)],
                      algorithm=s.AlgorithmSpec(name=algorithm), budget=s.Budget(max_trials=max_trials))
    out.algorithm.settings.update(settings or {})
    if scheduler:
        out.scheduler.name = scheduler
        out.scheduler.settings.update(scheduler_settings or {})
    if fidelity is not None:
        out.fidelity.CopyFrom(fidelity)
    return out


def objective(params: dict[str, Any]) -> float:
    """Finite for any legal value: a log-compressed sum, so that the models have something to model."""
    return sum(math.copysign(math.log1p(abs(float(v))), float(v)) for v in params.values())


def run_ask_tell(stub: Any, study_id: str, params: list[sp.Parameter], *, rounds: int = 3,
                 steps: int = 0) -> int:
    """Asks for trials, checks each is inside the space, tells results (reporting `steps` steps); returns how many."""
    by_name = {p.name: p for p in params}
    told = 0
    for _ in range(rounds):
        resp = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=study_id, count=2), timeout=CALL_S)
        for t in resp.trials:
            values = params_from_proto(t.params)
            for name, value in values.items():
                assert in_domain(by_name[name], value), f"trial {t.id}: {name}={value!r} is outside its domain"
            y = objective(values)
            for step in range(1, steps + 1):
                stub.ReportMeasurement(c.ReportMeasurementRequest(study_id=study_id, trial_id=t.id, measurement=(
                    s.Measurement(step=step, metrics={"y": y + 1.0 / step}))), timeout=CALL_S)
            stub.CompleteTrial(c.CompleteTrialRequest(study_id=study_id, trial_id=t.id, final_measurement=(
                s.Measurement(step=max(steps, 1), metrics={"y": y}))), timeout=CALL_S)
            told += 1
        if resp.study_done:
            break
    return told


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_controller(tmp_path_factory.mktemp("limits"))
    yield server
    server.stop()


@pytest.fixture
def stub(controller: Server) -> controller_pb2_grpc.ControllerStub:
    return controller_stub(controller.address)


def create(stub: Any, study: s.StudySpec) -> str:
    return stub.CreateStudy(c.CreateStudyRequest(spec=study), timeout=CALL_S).id


@pytest.mark.parametrize("algorithm", SAMPLERS)
def test_every_sampler_suggests_inside_a_space_at_the_edges(stub, algorithm: str) -> None:
    params = EDGES if algorithm != "grid" else EDGES[:-1]  # a thousand choices times the rest passes the grid's limit
    settings = {"n_initial": 2} if algorithm in ("gp", "tpe") else {}
    settings |= {"population_size": 4} if algorithm in ("ga", "regularized_evolution", "cmaes") else {}
    settings |= {"sample_size": 2} if algorithm == "regularized_evolution" else {}
    study_id = create(stub, spec(params, algorithm, settings))
    assert run_ask_tell(stub, study_id, params) >= 4


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_runs_over_the_widest_fidelity(stub, scheduler: str) -> None:
    params = [double("x", 0, 1)]
    widest = s.Fidelity(name="epoch", min=1e-9, max=1e15)
    study_id = create(stub, spec(params, scheduler=scheduler, fidelity=widest, max_trials=4))
    assert run_ask_tell(stub, study_id, params, steps=3) >= 2


def limit_of(details: str) -> int | None:
    found = re.search(r"must be <= (\d+) \(the limit\)", details)
    return int(found.group(1)) if found else None


def settings_cases() -> list[tuple[str, str, str, Any]]:
    from nestor_controller.samplers import SAMPLERS as SAMPLER_CLASSES
    from nestor_controller.schedulers import SCHEDULERS as SCHEDULER_CLASSES

    cases = []
    for field, names, classes in (("algorithm", SAMPLERS, SAMPLER_CLASSES), ("scheduler", SCHEDULERS,
                                                                               SCHEDULER_CLASSES)):
        for name in names:
            for setting, default in classes[name].defaults.items():
                if isinstance(default, bool) or not isinstance(default, int | float):
                    continue
                extremes = (10**9,) if isinstance(default, int) else (1e300, -1e300, 0.0)
                cases += [(field, name, setting, x) for x in extremes]
    return cases


@pytest.mark.parametrize(("field", "name", "setting", "value"), settings_cases(),
                         ids=[f"{n}.{k}={v:g}" for _, n, k, v in settings_cases()])
def test_every_setting_at_its_limit_is_refused_or_works(stub, field: str, name: str, setting: str,
                                                        value: float) -> None:
    """A huge value is refused naming its limit; the limit itself (and any other value accepted) then works."""
    params = [double("x", 0, 1), choices("k", 3)]
    fidelity = s.Fidelity(name="epoch", min=1, max=27) if field == "scheduler" or name == "bohb" else None

    def attempt(x: float) -> tuple[str | None, str]:
        # Small enough that the model or the evolution takes over within the two rounds.
        base = {"gp": {"n_initial": 2}, "tpe": {"n_initial": 2}, "ga": {"population_size": 2, "tournament_size": 1},
                "regularized_evolution": {"population_size": 2, "sample_size": 1},
                "cmaes": {"population_size": 2}}.get(name, {}) if field == "algorithm" else {}
        if field == "algorithm":
            study = spec(params, name, {**base, setting: x}, fidelity=fidelity, max_trials=0)
        else:
            study = spec(params, scheduler=name, scheduler_settings={setting: x}, fidelity=fidelity, max_trials=0)
        try:
            return create(stub, study), ""
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{e.code().name}: {e.details()}"
            assert f"settings.{setting}" in e.details() or "spec." in e.details(), e.details()
            return None, e.details()

    study_id, refusal = attempt(value)
    if study_id is None and (limit := limit_of(refusal)) is not None:
        study_id, refusal = attempt(limit)
    if study_id is not None:
        run_ask_tell(stub, study_id, params, rounds=2, steps=2 if fidelity else 0)


def heavy_specs() -> dict[str, s.StudySpec]:
    from nestor_controller.limits import MAX_CANDIDATE_VALUES, MAX_GP_CANDIDATES, MAX_GP_RESTARTS, MAX_GRID_POINTS

    # GP-BO at its largest: every candidate and restart allowed, on as many columns as they may cover.
    width = MAX_CANDIDATE_VALUES // MAX_GP_CANDIDATES
    gp = spec([double(f"x{i}", 0, 1) for i in range(width)], "gp",
              {"candidates": MAX_GP_CANDIDATES, "restarts": MAX_GP_RESTARTS, "n_initial": 2}, max_trials=0)
    # The largest grid: a million points, on a million distinct values of one axis and two more parameters.
    grid = spec([double("x", 0, 1), choices("k", 2), choices("j", 2)], "grid",
                {"points_per_dimension": MAX_GRID_POINTS // 4, "shuffle": True}, max_trials=0)
    return {"gp": gp, "grid": grid}


@pytest.mark.parametrize("kind", ["gp", "grid"])
def test_health_and_other_studies_answer_while_the_heaviest_legal_request_runs(controller: Server, stub,
                                                                               kind: str) -> None:
    heavy = heavy_specs()[kind]
    small = create(stub, spec([double("x", 0, 1)], max_trials=0))
    study_id = create(stub, heavy)
    if kind == "gp":
        run_ask_tell(stub, study_id, list(heavy.space.parameters), rounds=1)  # the next suggestion fits the model
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(controller.address))
    done = threading.Event()
    errors: list[BaseException] = []

    def serve_heavy() -> None:
        try:
            stub.SuggestTrials(c.SuggestTrialsRequest(study_id=study_id, count=2), timeout=CALL_S)
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            done.set()

    worker = threading.Thread(target=serve_heavy)
    started = time.monotonic()
    worker.start()
    answered = 0
    while not done.is_set():
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=RESPONSIVE_S).status == \
            health_pb2.HealthCheckResponse.SERVING
        run_ask_tell(stub, small, [double("x", 0, 1)], rounds=1)
        answered += 1
    worker.join()
    assert not errors, errors
    heavy_s = time.monotonic() - started
    # The heavy request took long enough that the checks above ran during it, not only after it.
    print(f"{kind}: the heavy suggestion took {heavy_s:.1f} s; {answered} health checks and small studies meanwhile")
    assert answered >= 1
