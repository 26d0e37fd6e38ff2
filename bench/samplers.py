"""Nestor's samplers against Optuna's, side by side: search quality and GP suggestion latency.

(a) quality: Nestor's samplers through a real controller (client-driven
    ask/tell over gRPC) and Optuna's GPSampler, TPESampler, CmaEsSampler and
    RandomSampler in process, on Branin, Hartmann-6, Ackley-5, Levy-5,
    Rosenbrock-4 and Styblinski-Tang-8, each seed and method with the same
    number of evaluations; a table of median [quartiles] of the final regret
    per function and method, ratios of medians of the matched pairs, and the
    count of functions where each pair is won;
(b) latency: time per GP suggestion at 50 ... 1,000 observations in 6 and 20
    dimensions, Nestor's GPSampler (the code the controller runs, in process)
    and Optuna's GPSampler, in the same run. "cold" is a suggestion with a
    hyperparameter fit from scratch (a restarted or new study); "steady" the
    mean of the next ones, each after one more observation, as in a running
    study (Nestor refits on a schedule, warm-started; Optuna on every call).

    .venv/bin/python bench/samplers.py [--full] [--jobs N] [--json]

The default (30 evaluations, 10 seeds) takes about 10 minutes on 2 cores;
--full runs the 100 evaluations of the issue's table (about 30 minutes with
--jobs 2). bench/quality.py and bench/latency.py run one half each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
from cluster import controller_stub, start_controller  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import space_pb2 as sp  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402
from nestor_executor.trainables.functions import get as get_function  # noqa: E402

FUNCTIONS = [("branin", 2), ("hartmann6", 6), ("ackley", 5), ("levy", 5), ("rosenbrock", 4), ("styblinski_tang", 8)]
NESTOR = ["gp", "tpe", "cmaes", "ga", "quasirandom", "random"]
OPTUNA = ["gp", "tpe", "cmaes", "random"]
#: Pairs compared by ratio of median regrets (Nestor method, Optuna method).
PAIRS = [("gp", "gp"), ("gp", "tpe"), ("tpe", "tpe"), ("cmaes", "cmaes"), ("random", "random")]


def label(impl: str, alg: str) -> str:
    return f"{'N' if impl == 'nestor' else 'O'}:{alg}"


# --- quality ---------------------------------------------------------------------------


def nestor_run(address: str, alg: str, fname: str, dim: int, seed: int, evals: int) -> float:
    f = get_function(fname)
    bounds = f.bounds(dim)
    stub = controller_stub(address)
    spec = s.StudySpec(
        name=f"{alg}-{fname}-{seed}", seed=seed + 1, algorithm=s.AlgorithmSpec(name=alg),
        space=sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=lo, max=hi))
                                         for i, (lo, hi) in enumerate(bounds)]),
        objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)], budget=s.Budget(max_trials=evals))
    if alg == "ga":  # a population that breeds a few generations within the budget
        spec.algorithm.settings.update({"population_size": max(4, min(20, evals // 3))})
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec), timeout=60).id
    best = math.inf
    while True:
        trials = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1), timeout=600).trials
        if not trials:
            break
        t = trials[0]
        value = f([t.params[f"x{i}"].double_value for i in range(dim)])
        best = min(best, value)
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id, final_measurement=s.Measurement(
            step=1, metrics={"value": value})), timeout=60)
    stub.DeleteStudy(c.DeleteStudyRequest(study_id=sid), timeout=60)
    return best - f.optimum(dim)


def optuna_sampler(alg: str, seed: int) -> Any:
    import optuna

    return {"gp": lambda: optuna.samplers.GPSampler(seed=seed),
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
            "random": lambda: optuna.samplers.RandomSampler(seed=seed)}[alg]()


def optuna_run(alg: str, fname: str, dim: int, seed: int, evals: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    f = get_function(fname)
    bounds = f.bounds(dim)
    study = optuna.create_study(sampler=optuna_sampler(alg, seed))
    study.optimize(lambda t: f([t.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]),
                   n_trials=evals)
    return study.best_value - f.optimum(dim)


def quality_task(task: tuple) -> tuple[tuple, float, float]:
    impl, alg, fname, dim, seed, evals, address = task
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    regret = nestor_run(address, alg, fname, dim, seed, evals) if impl == "nestor" else \
        optuna_run(alg, fname, dim, seed, evals)
    return task[:5], regret, time.perf_counter() - t0


def load_results(path: str, evals: int) -> dict[tuple, tuple[float, float]]:
    if not path or not os.path.exists(path):
        return {}
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["evals"] == evals:
                out[tuple(r["task"])] = (r["regret"], r["seconds"])
    return out


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = np.percentile(xs, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def ratio(a: float, b: float) -> float:
    floor = 1e-9  # both at the optimum to solver precision: a tie, not a division by zero
    return (max(a, floor)) / max(b, floor)


def quality(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="nestor-bench-samplers-"))
    ctl = start_controller(work, "--log-level", "WARNING")
    try:
        functions = [(f, d) for f, d in FUNCTIONS if f in args.functions.split(",")]
        nestor = [a for a in args.nestor.split(",") if a]
        peers = [a for a in args.optuna.split(",") if a]
        tasks = [("nestor", a, f, d, seed, args.evals, ctl.address) for f, d in functions for a in nestor
                 for seed in range(args.seeds)]
        tasks += [("optuna", a, f, d, seed, args.evals, ctl.address) for f, d in functions for a in peers
                  for seed in range(args.seeds)]
        regrets: dict[tuple[str, str], dict[str, list[float]]] = {}
        seconds: dict[str, float] = {}
        done = load_results(args.results, args.evals)
        t0 = time.perf_counter()

        def record(task: tuple, regret: float, took: float) -> None:
            impl, alg, fname = task[:3]
            regrets.setdefault((fname, label(impl, alg)), {}).setdefault("all", []).append(regret)
            seconds[label(impl, alg)] = seconds.get(label(impl, alg), 0.0) + took

        todo = []
        for task in tasks:
            if task[:5] in done:
                record(task, *done[task[:5]])
            else:
                todo.append(task)
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = pool.map(quality_task, todo) if args.jobs > 1 else map(quality_task, todo)
            for task, regret, took in results:
                record(task, regret, took)
                if args.results:  # a run that is interrupted resumes from here
                    with open(args.results, "a") as out:
                        out.write(json.dumps({"task": list(task), "evals": args.evals, "regret": regret,
                                              "seconds": took}) + "\n")
        wall = time.perf_counter() - t0
    finally:
        ctl.stop()
    methods = [label("nestor", a) for a in nestor] + [label("optuna", a) for a in peers]
    table: dict[str, dict[str, Any]] = {}
    for fname, dim in functions:
        row: dict[str, Any] = {}
        for m in methods:
            q1, med, q3 = quartiles(regrets[(fname, m)]["all"])
            row[m] = {"median": med, "q1": q1, "q3": q3}
        for na, oa in PAIRS:
            n, o = label("nestor", na), label("optuna", oa)
            if n in row and o in row:
                row[f"{n}/{o}"] = ratio(row[n]["median"], row[o]["median"])
        table[f"{fname}-{dim}"] = row
    wins = {}
    for na, oa in PAIRS:
        n, o = label("nestor", na), label("optuna", oa)
        if all(n in r and o in r for r in table.values()):
            wins[f"{n} <= {o}"] = sum(r[f"{n}/{o}"] <= 1.0 for r in table.values())
    print_quality(table, methods, wins, args, wall, seconds)
    return {"evals": args.evals, "seeds": args.seeds, "table": table, "wins_of_6": wins, "wall_s": wall,
            "seconds_per_run": {m: seconds[m] / (args.seeds * len(functions)) for m in methods}}


def print_quality(table: dict, methods: list[str], wins: dict, args: argparse.Namespace, wall: float,
                  seconds: dict) -> None:
    print(f"\n(a) final regret after {args.evals} evaluations, {args.seeds} seeds: median [q1, q3]; "
          "N: Nestor through the controller, O: Optuna")
    width = 28
    print("function".ljust(20) + "".join(m.ljust(width) for m in methods))
    for fname, row in table.items():
        cells = [f"{row[m]['median']:.3g} [{row[m]['q1']:.2g},{row[m]['q3']:.2g}]" for m in methods]
        print(fname.ljust(20) + "".join(x.ljust(width) for x in cells))
    pairs = [k for k in next(iter(table.values())) if "/" in k]
    print("\nratio of medians (< 1: Nestor better)")
    print("function".ljust(20) + "".join(p.ljust(20) for p in pairs))
    for fname, row in table.items():
        print(fname.ljust(20) + "".join(f"{row[p]:.3g}".ljust(20) for p in pairs))
    print("\nfunctions won or tied (median): " + ", ".join(f"{k}: {v}/{len(table)}" for k, v in wins.items()))
    runs = args.seeds * len(table)
    print("seconds per run: " + ", ".join(f"{m} {seconds[m] / runs:.2f}" for m in methods) + f"; wall {wall:.0f} s")


# --- latency ----------------------------------------------------------------------------


def observations(dim: int, n: int, seed: int = 0) -> tuple[Callable, list[tuple[list[float], float]]]:
    f = get_function("hartmann6" if dim == 6 else "ackley")
    bounds = np.asarray(f.bounds(dim))
    rng = np.random.default_rng(seed)
    xs = bounds[:, 0] + rng.random((n, dim)) * (bounds[:, 1] - bounds[:, 0])
    return f, [(list(map(float, x)), f(x)) for x in xs]


def nestor_latency(dim: int, n: int, repeats: int) -> list[float]:
    from nestor_controller.objectives import ObjectiveDef
    from nestor_controller.samplers import make_sampler
    from nestor_controller.samplers.base import Observation
    from nestor_controller.space import parse_space

    f, obs = observations(dim, n)
    bounds = f.bounds(dim)
    space = parse_space(sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=lo, max=hi))
                                                   for i, (lo, hi) in enumerate(bounds)]))
    sampler = make_sampler("gp", space, [ObjectiveDef("value", False)], {}, seed=1)
    sampler.suggested = n  # past its initial design
    history = [Observation(i + 1, {f"x{j}": v for j, v in enumerate(x)}, (y,)) for i, (x, y) in enumerate(obs)]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = sampler.suggest(1, history, [])[0]
        times.append(time.perf_counter() - t0)
        history.append(Observation(len(history) + 1, a, (f([a[f"x{j}"] for j in range(dim)]),)))
    return times


def optuna_latency(dim: int, n: int, repeats: int) -> list[float]:
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    f, obs = observations(dim, n)
    bounds = f.bounds(dim)
    dists = {f"x{i}": FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)}
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=1))
    study.add_trials([optuna.trial.create_trial(params={f"x{i}": v for i, v in enumerate(x)}, distributions=dists,
                                                value=y) for x, y in obs])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t0)
        study.tell(trial, f([trial.params[f"x{i}"] for i in range(dim)]))
    return times


def latency(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    print("\n(b) time per GP suggestion (ms) on Hartmann-6 / Ackley-20 with random observations; "
          "cold: first, with a fit from scratch; steady: mean of the next ones")
    print("dims  obs    nestor_cold  nestor_steady  optuna_cold  optuna_steady  optuna/nestor (steady)")
    for dim in map(int, args.dims.split(",")):
        for n in map(int, args.sizes.split(",")):
            reps = args.repeats if n < 500 else max(3, args.repeats // 2)
            nt = nestor_latency(dim, n, reps)
            ot = optuna_latency(dim, n, reps) if not args.skip_optuna_latency else [math.nan] * reps
            row = {"dims": dim, "obs": n, "nestor_cold_ms": 1e3 * nt[0],
                   "nestor_steady_ms": 1e3 * statistics.mean(nt[1:]), "optuna_cold_ms": 1e3 * ot[0],
                   "optuna_steady_ms": 1e3 * statistics.mean(ot[1:])}
            row["speedup"] = row["optuna_steady_ms"] / row["nestor_steady_ms"]
            rows.append(row)
            print(f"{dim:<6}{n:<7}{row['nestor_cold_ms']:<13.1f}{row['nestor_steady_ms']:<15.1f}"
                  f"{row['optuna_cold_ms']:<13.1f}{row['optuna_steady_ms']:<15.1f}{row['speedup']:.1f}x", flush=True)
    return {"rows": rows}


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--full", action="store_true", help="100 evaluations per run (the issue's table)")
    p.add_argument("--evals", type=int, default=None, help="evaluations per run (default 30, 100 with --full)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--functions", default=",".join(f for f, _ in FUNCTIONS))
    p.add_argument("--nestor", default=",".join(NESTOR), help="Nestor algorithms for (a)")
    p.add_argument("--optuna", default=",".join(OPTUNA), help="Optuna samplers for (a)")
    p.add_argument("--jobs", type=int, default=1, help="runs of (a) in parallel processes")
    p.add_argument("--results", default="", help="a file each finished run of (a) is appended to; runs found "
                   "there (same evaluations) are not run again")
    p.add_argument("--sizes", default="50,100,250,500,1000", help="observation counts for (b)")
    p.add_argument("--dims", default="6,20", help="dimensions for (b)")
    p.add_argument("--repeats", type=int, default=6, help="suggestions timed per size in (b)")
    p.add_argument("--skip-optuna-latency", action="store_true")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    return p


def main(parts: tuple[str, ...] = ("quality", "latency"), doc: str = __doc__ or "") -> None:
    args = parser(doc).parse_args()
    args.evals = args.evals or (100 if args.full else 30)
    out: dict[str, Any] = {}
    if "quality" in parts:
        out["quality"] = quality(args)
    if "latency" in parts:
        out["latency"] = latency(args)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
