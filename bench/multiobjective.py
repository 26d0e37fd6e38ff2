"""Several objectives and constraints: Nestor's samplers against Optuna's, by hypervolume.

Problems: ZDT1, ZDT2, ZDT3 (6 variables, 2 objectives), DTLZ2 (6 variables,
3 objectives), the constrained Binh-Korn problem (2 variables, 2 objectives,
2 constraints), and digits_nas accuracy versus parameter count (the built-in
trainable, trained for real, one epoch). Methods: Nestor's nsga2, tpe
(MOTPE), gp (EHVI) and random, driven in process through the sampler
interface the controller uses (make_sampler, suggest, the history of
observations), and Optuna's NSGAIISampler, TPESampler and GPSampler with
their defaults (constraints through constraints_func), in the same run.
Every run's hypervolume is that of its feasible results up to a fixed
reference point per problem; the table gives the median over seeds after 100
and 300 evaluations (50 for the GPs), the ratio of each Nestor method's
median to its Optuna counterpart's (> 1: Nestor better), and whether the best
Nestor method beats the best Optuna method per problem.

    .venv/bin/python bench/multiobjective.py [--seeds 10] [--nas-seeds 5] [--jobs 2] [--json]

The defaults are the issue's counts; --seeds, --nas-seeds, --evals, --gp-evals, --nas-evals and --problems
make a quicker run. --merge adds the runs of earlier invocations' saved --json output to the table, so
that the slow runs (Optuna's GPSampler) are made once while the others are rerun.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchlib"))

import numpy as np  # noqa: E402
from saved import merged_runs  # noqa: E402

NESTOR = ["nsga2", "tpe", "gp", "random"]
OPTUNA = ["nsga2", "tpe", "gp"]
PAIRS = [("nsga2", "nsga2"), ("tpe", "tpe"), ("gp", "gp")]
SYNTHETIC = ["zdt1", "zdt2", "zdt3", "dtlz2", "binh_korn"]
NAS_SPACE = {
    "space": {"lr": {"type": "double", "min": 1.0e-2, "max": 1.0e-1, "scale": "log"}},
    "architecture": {"chain": {"max_layers": 3, "operations": ["conv_3x3", "conv_5x5", "sep_conv_3x3",
                                                               "max_pool_3x3"], "filters": [4, 8, 16, 32]}},
}


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: list[tuple[float, float]]
    n_objectives: int
    reference: tuple[float, ...]
    #: (values to minimise, constraint violations: > 0 broken) of a point.
    evaluate: Callable[[np.ndarray], tuple[tuple[float, ...], tuple[float, ...]]]


def zdt(kind: int) -> Callable[[np.ndarray], tuple[tuple[float, ...], tuple[float, ...]]]:
    def f(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
        g = 1 + 9 * float(np.mean(x[1:]))
        r = x[0] / g
        h = {1: 1 - math.sqrt(r), 2: 1 - r * r, 3: 1 - math.sqrt(r) - r * math.sin(10 * math.pi * x[0])}[kind]
        return (float(x[0]), g * h), ()

    return f


def dtlz2(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return ((1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b), (1 + g) * math.sin(a)), ()


def binh_korn(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    u, v = float(x[0]), float(x[1])
    return ((4 * u * u + 4 * v * v, (u - 5) ** 2 + (v - 5) ** 2),
            ((u - 5) ** 2 + v * v - 25, 7.7 - (u - 8) ** 2 - (v + 3) ** 2))


PROBLEMS = {
    "zdt1": Problem("zdt1", [(0.0, 1.0)] * 6, 2, (1.1, 11.0), zdt(1)),
    "zdt2": Problem("zdt2", [(0.0, 1.0)] * 6, 2, (1.1, 11.0), zdt(2)),
    "zdt3": Problem("zdt3", [(0.0, 1.0)] * 6, 2, (1.1, 11.0), zdt(3)),
    "dtlz2": Problem("dtlz2", [(0.0, 1.0)] * 6, 3, (2.0, 2.0, 2.0), dtlz2),
    "binh_korn": Problem("binh_korn", [(0.0, 5.0), (0.0, 3.0)], 2, (140.0, 50.0), binh_korn),
}
#: digits_nas: (1 - validation accuracy, parameters in thousands); the largest network has about 60 thousand.
NAS_REFERENCE = (1.0, 100.0)


def label(impl: str, alg: str) -> str:
    return f"{'N' if impl == 'nestor' else 'O'}:{alg}"


# --- one run ------------------------------------------------------------------------------------------


def nas_space() -> Any:
    from nestor.spec import load_spec
    from nestor_controller.space import parse_space

    return parse_space(load_spec(NAS_SPACE).space)


def nas_evaluate(params: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    import nestor
    import torch
    from nestor_executor.trainables import digits_nas

    torch.set_num_threads(1)
    result, _ = nestor.run_local(digits_nas.train, params, budget=1, seed=0,
                                 config={"batch_size": 32})
    return (1.0 - result["val_accuracy"], result["n_params"] / 1000.0), ()


def space_of(problem: str) -> Any:
    from nestor.v1 import space_pb2 as sp
    from nestor_controller.space import parse_space

    if problem == "digits_nas":
        return nas_space()
    return parse_space(sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=lo, max=hi))
                                                  for i, (lo, hi) in enumerate(PROBLEMS[problem].bounds)]))


def evaluator(problem: str) -> Callable[[dict[str, Any]], tuple[tuple[float, ...], tuple[float, ...]]]:
    if problem == "digits_nas":
        return nas_evaluate
    p = PROBLEMS[problem]
    return lambda a: p.evaluate(np.asarray([a[f"x{i}"] for i in range(len(p.bounds))], dtype=float))


def n_objectives(problem: str) -> int:
    return 2 if problem == "digits_nas" else PROBLEMS[problem].n_objectives


def reference(problem: str) -> np.ndarray:
    return np.asarray(NAS_REFERENCE if problem == "digits_nas" else PROBLEMS[problem].reference)


def nestor_run(alg: str, problem: str, seed: int, evals: int) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    from nestor_controller.objectives import ObjectiveDef
    from nestor_controller.samplers import make_sampler
    from nestor_controller.samplers.base import Observation

    objectives = [ObjectiveDef(f"f{j}", False) for j in range(n_objectives(problem))]
    sampler = make_sampler(alg, space_of(problem), objectives, {}, seed + 1)
    f = evaluator(problem)
    history: list[Observation] = []
    results = []
    while len(history) < evals:
        (a,) = sampler.suggest(1, history, [])
        values, violations = f(a)
        history.append(Observation(len(history) + 1, a, values, violations=violations))
        results.append((values, violations))
    return results


def optuna_sampler(alg: str, seed: int, constrained: bool) -> Any:
    import optuna

    kw: dict[str, Any] = {"seed": seed}
    if constrained:
        kw["constraints_func"] = lambda t: t.user_attrs["violations"]
    return {"nsga2": optuna.samplers.NSGAIISampler, "tpe": optuna.samplers.TPESampler,
            "gp": optuna.samplers.GPSampler}[alg](**kw)


def optuna_suggest(trial: Any, space: Any) -> dict[str, Any]:
    """The Nestor space's parameters, asked of Optuna define-by-run (a condition decides which are asked)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in space.params:
        if not space.is_active(p, out):
            continue
        if p.kind == "categorical":
            dist: Any = CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            dist = IntDistribution(int(p.low), int(p.high), log=p.log, step=1 if p.log else int(p.step or 1))
        else:
            dist = FloatDistribution(p.low, p.high, log=p.log, step=p.step or None)
        out[p.name] = trial._suggest(p.name, dist)
    return out


def optuna_run(alg: str, problem: str, seed: int, evals: int) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    constrained = problem == "binh_korn"
    study = optuna.create_study(directions=["minimize"] * n_objectives(problem),
                                sampler=optuna_sampler(alg, seed, constrained))
    space, f = space_of(problem), evaluator(problem)
    results = []

    def objective(trial: Any) -> Sequence[float]:
        values, violations = f(optuna_suggest(trial, space))
        trial.set_user_attr("violations", list(violations))
        results.append((values, violations))
        return values

    study.optimize(objective, n_trials=evals)
    return results


def hypervolumes(results: list, problem: str, checkpoints: Sequence[int]) -> list[float]:
    from nestor_controller.samplers.multiobjective.hypervolume import hypervolume

    out = []
    for n in checkpoints:
        F = np.asarray([v for v, c in results[:n] if all(x <= 0 for x in c)]).reshape(-1, n_objectives(problem))
        out.append(hypervolume(F, reference(problem)))
    return out


def task_run(task: tuple) -> tuple[tuple, list[float], float]:
    impl, alg, problem, seed, checkpoints = task
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    run = nestor_run if impl == "nestor" else optuna_run
    results = run(alg, problem, seed, max(checkpoints))
    return task, hypervolumes(results, problem, checkpoints), time.perf_counter() - t0


# --- the table ------------------------------------------------------------------------------------------


def checkpoints_for(alg: str, problem: str, args: argparse.Namespace) -> tuple[int, ...]:
    if alg == "gp":
        return (args.gp_evals,)
    if problem == "digits_nas":
        return tuple(int(x) for x in args.nas_evals.split(","))
    return tuple(int(x) for x in args.evals.split(","))


def run_tasks(args: argparse.Namespace, problems: list[str]) -> list[dict[str, Any]]:
    """Every (method, problem, seed) run of this invocation: its hypervolume at each count and its seconds."""
    tasks = []
    for problem in problems:
        seeds = args.nas_seeds if problem == "digits_nas" else args.seeds
        for impl, algs in (("nestor", args.nestor.split(",")), ("optuna", args.optuna.split(","))):
            for alg in [a for a in algs if a]:
                tasks += [(impl, alg, problem, seed, checkpoints_for(alg, problem, args)) for seed in range(seeds)]
    # The slow runs first, so that the pool does not end waiting on one.
    tasks.sort(key=lambda t: (t[2] != "digits_nas", t[1] != "gp", t[0] != "optuna"))
    runs = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = pool.map(task_run, tasks) if args.jobs > 1 else map(task_run, tasks)
        for done, ((impl, alg, problem, seed, checkpoints), values, took) in enumerate(results, 1):
            if args.progress:
                print(f"[{done}/{len(tasks)}] {problem} {label(impl, alg)} seed {seed}: "
                      + ", ".join(f"{v:.4g}@{n}" for n, v in zip(checkpoints, values, strict=True))
                      + f" ({took:.1f} s)", file=sys.stderr, flush=True)
            runs.append({"problem": problem, "method": label(impl, alg), "seed": seed,
                         "hypervolume": dict(zip(map(str, checkpoints), values, strict=True)), "seconds": took})
    return runs


def summarise(runs: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    problems = list(dict.fromkeys(r["problem"] for r in runs))
    hv: dict[tuple[str, str, int], list[float]] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    seeds: dict[str, set[int]] = {}
    for r in runs:
        for n, v in r["hypervolume"].items():
            hv.setdefault((r["problem"], r["method"], int(n)), []).append(v)
        seconds.setdefault((r["problem"], r["method"]), []).append(r["seconds"])
        seeds.setdefault(r["problem"], set()).add(r["seed"])
    table: dict[str, dict[str, Any]] = {}
    for problem in problems:
        row: dict[str, Any] = {}
        for (p, method, n), values in sorted(hv.items()):
            if p == problem:
                row[f"{method}@{n}"] = statistics.median(values)
        for na, oa in PAIRS:
            for n in {k[2] for k in hv if k[0] == problem}:
                a, b = row.get(f"N:{na}@{n}"), row.get(f"O:{oa}@{n}")
                if a is not None and b is not None:
                    row[f"N:{na}/O:{oa}@{n}"] = a / b if b > 0 else (math.inf if a > 0 else 1.0)
        # Best method of each side: the largest median at the final count of each method (GPs at theirs).
        finals = {m: max((k for k in row if k.startswith(m + "@")), key=lambda k: int(k.split("@")[1]))
                  for m in {k.split("@")[0] for k in row if "/" not in k}}
        nestor_best = max(((row[k], k) for m, k in finals.items() if m.startswith("N:")), default=(math.nan, "-"))
        optuna_best = max(((row[k], k) for m, k in finals.items() if m.startswith("O:")), default=(math.nan, "-"))
        row["best_nestor"], row["best_optuna"] = nestor_best[1], optuna_best[1]
        row["best_ratio"] = (nestor_best[0] / optuna_best[0] if optuna_best[0] > 0
                             else math.nan if math.isnan(optuna_best[0]) else math.inf)
        table[problem] = row
    synthetic = [p for p in problems if p in SYNTHETIC]
    best_wins = sum(table[p]["best_ratio"] > 1.0 for p in synthetic)
    def matches(problem: str, na: str, oa: str) -> bool:
        ratios = [v for k, v in table[problem].items() if k.startswith(f"N:{na}/O:{oa}@")]
        return bool(ratios) and all(v >= 1.0 for v in ratios)

    pair_wins = {f"N:{na} >= O:{oa}": sum(matches(p, na, oa) for p in synthetic) for na, oa in PAIRS}
    counts = {p: len(s) for p, s in seeds.items()}
    return {"table": table, "synthetic": synthetic, "best_wins": best_wins, "pair_wins": pair_wins,
            "targets_met": best_wins >= 4 and all(v >= 3 for v in pair_wins.values()) if len(synthetic) == 5 else None,
            "seeds": max((c for p, c in counts.items() if p != "digits_nas"), default=0),
            "nas_seeds": counts.get("digits_nas", 0), "wall_s": wall,
            "seconds_per_run": {f"{p} {m}": statistics.mean(s) for (p, m), s in seconds.items()},
            "runs": runs}


def print_table(out: dict[str, Any]) -> None:
    table = out["table"]
    columns = sorted({k for row in table.values() for k in row if "@" in k and "/" not in k},
                     key=lambda k: (k.split("@")[0][0] != "N", k.split("@")[0], int(k.split("@")[1])))
    print(f"\nmedian hypervolume of the feasible front ({out['seeds']} seeds, digits_nas {out['nas_seeds']}); "
          "N: Nestor, O: Optuna; method@evaluations")
    print("problem".ljust(12) + "".join(c.ljust(13) for c in columns))
    for problem, row in table.items():
        print(problem.ljust(12) + "".join((f"{row[c]:.4g}" if c in row else "-").ljust(13) for c in columns))
    ratios = sorted({k for row in table.values() for k in row if "/" in k})
    print("\nratio of medians (> 1: Nestor better)")
    print("problem".ljust(12) + "".join(r.ljust(22) for r in ratios) + "best N vs best O")
    for problem, row in table.items():
        cells = [(f"{row[r]:.4f}" if r in row else "-").ljust(22) for r in ratios]
        print(problem.ljust(12) + "".join(cells)
              + f"{row['best_ratio']:.4f} ({row['best_nestor']} vs {row['best_optuna']})")
    n = len(out["synthetic"])
    print(f"\nsynthetic problems where Nestor's best beats Optuna's best: {out['best_wins']}/{n} (target 4/5); "
          + ", ".join(f"{k}: {v}/{n}" for k, v in out["pair_wins"].items()) + " (target 3/5 each)")
    print(f"targets met: {out['targets_met']}; wall {out['wall_s']:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--problems", default=",".join([*SYNTHETIC, "digits_nas"]))
    p.add_argument("--seeds", type=int, default=10, help="seeds per synthetic problem and method")
    p.add_argument("--nas-seeds", type=int, default=5, help="seeds for digits_nas")
    p.add_argument("--evals", default="100,300", help="evaluation counts the hypervolume is taken at")
    p.add_argument("--gp-evals", type=int, default=50, help="evaluations of the GP samplers")
    p.add_argument("--nas-evals", default="100,300", help="evaluation counts for digits_nas (not GP)")
    p.add_argument("--nestor", default=",".join(NESTOR))
    p.add_argument("--optuna", default=",".join(OPTUNA))
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel processes")
    p.add_argument("--progress", action="store_true", help="a line on stderr as each run ends")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.add_argument("--merge", nargs="*", default=[], metavar="OUTPUT",
                   help="also count the runs in these saved --json outputs of earlier invocations "
                        "(e.g. the slow GP runs, made once)")
    args = p.parse_args()
    t0 = time.perf_counter()
    runs = run_tasks(args, [p for p in args.problems.split(",") if p])
    out = summarise(merged_runs(args.merge) + runs, time.perf_counter() - t0)
    print_table(out)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
