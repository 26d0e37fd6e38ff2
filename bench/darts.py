"""DARTS with alpha held by the controller, on the digits images, through real controller and executor processes.

Runs a first-order and a second-order search (alpha pipelined: the executor trains with alpha one step
stale while the update is in flight), retrains each derived genotype from scratch, and trains random
genotypes of the same space the same way. The genotype is selected by perturbation scores (the setting
`selection: perturbation`; `--selection alpha` reads it off alpha's magnitudes, the DARTS paper's rule).
Prints per search the steps per second, the share of step time spent waiting for alpha (also for a short
search that waits for every update), the genotype, its retrained validation accuracy, and the mean and
best of the random genotypes.

    .venv/bin/python bench/darts.py [--quick] [--device cpu|cuda] [--json]

With --json the last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from nestor import genotype as gt
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s

CELL = sp.SearchSpace(architecture=sp.ArchitectureSpace(cell=sp.CellSpace(num_nodes=4, operations=gt.PRIMITIVES[1:])))
OBJECTIVE = [s.Objective(metric="val_accuracy", goal=s.GOAL_MAXIMIZE)]


def wait_end(stub: Any, sid: str, timeout: float = 7200.0) -> s.Study:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        if study.state != s.STUDY_RUNNING:
            return study
        time.sleep(0.5)
    raise TimeoutError(f"study {sid} did not end within {timeout} s")


def search(stub: Any, config: dict[str, Any], seed: int, parallel: int, evaluation: dict[str, Any],
           repeats: int, searches: int = 1, settings: dict[str, Any] | None = None,
           evaluations: int = 1) -> dict[str, Any]:
    """`searches` searches (different seeds), each offering its genotype (more than one with the `candidates`
    setting), each genotype trained `evaluations` times by the study's evaluation
    trials; the genotype whose trainings scored best on average is then trained `repeats` more times in a
    study of its own (fresh seeds), and their mean is the reported accuracy: the selection never sees the
    reported trainings. This is the DARTS paper's protocol (several searches, the best cell picked by
    training it), with more than one training per pick because one training's accuracy moves half a point
    with its seed."""
    evaluations = evaluations if repeats else 0
    per_search = evaluations * int((settings or {}).get("candidates", 1))
    spec = s.StudySpec(name=f"darts-order{config['order']}", trainable="darts_search", seed=seed, space=CELL,
                       objectives=OBJECTIVE, algorithm=s.AlgorithmSpec(name="darts"),
                       budget=s.Budget(max_trials=searches * (1 + per_search), max_parallel=parallel))
    spec.algorithm.settings.update({"searches": searches, "evaluations": evaluations, **(settings or {})})
    spec.trainable_config.update(config)
    t0 = time.monotonic()
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    study = wait_end(stub, sid)
    if study.state != s.STUDY_COMPLETED:
        raise RuntimeError(f"study {sid} ended {s.StudyState.Name(study.state)}: {study.reason}")
    trials = stub.ListTrials(c.ListTrialsRequest(study_id=sid, include_measurements=True)).trials
    runs = [t for t in trials if "genotype" not in t.params]
    ms = [m.metrics for t in runs for m in t.measurements]
    steps = [int(stub.GetOuterState(c.GetOuterStateRequest(study_id=sid, trial_id=t.id)).trials[0].values.step)
             for t in runs]
    evals: dict[str, list[float]] = {}
    for t in trials:
        if "genotype" in t.params and t.state == s.TRIAL_COMPLETED:
            evals.setdefault(t.params["genotype"].string_value, []).append(
                t.final_measurement.metrics["val_accuracy"])
    out: dict[str, Any] = {
        "steps_per_s": statistics.fmean(m["steps_per_s"] for m in ms),
        "alpha_wait_share": statistics.fmean(m["alpha_wait_share"] for m in ms),
        "outer_steps": min(steps), "searches": len(runs),
        "supernet_val_accuracy": statistics.fmean(t.measurements[-1].metrics["search_val_accuracy"] for t in runs),
        "search_seconds": time.monotonic() - t0, "genotype": "", "genotype_text": "", "val_accuracy": None,
        "selection_accuracies": [statistics.fmean(a) for a in evals.values()],
    }
    if evals:
        out["genotype"] = max(evals, key=lambda g: statistics.fmean(evals[g]))
        out["genotype_text"] = gt.describe(gt.from_json(out["genotype"]))
        out["val_accuracy"] = train_genotypes(stub, evaluation, [out["genotype"]], repeats, seed + 1000)[0]
    out["seconds"] = time.monotonic() - t0
    return out


def train_genotypes(stub: Any, config: dict[str, Any], genotypes: list[str], repeats: int, seed: int) -> list[float]:
    """Each genotype trained `repeats` times by darts_eval (a trial seed each); the mean accuracy of each."""
    choices = [sp.Value(string_value=g) for g in genotypes]
    # `repeat` only tells the trainings of a genotype apart: darts_eval ignores it, each trial has its own seed.
    spec = s.StudySpec(name="darts-genotypes", trainable="darts_eval", seed=seed, objectives=OBJECTIVE,
                       algorithm=s.AlgorithmSpec(name="grid"), budget=s.Budget(max_trials=len(genotypes) * repeats),
                       space=sp.SearchSpace(parameters=[
                           sp.Parameter(name="genotype", categorical=sp.CategoricalDomain(choices=choices)),
                           sp.Parameter(name="repeat", int=sp.IntDomain(min=1, max=repeats))]))
    spec.trainable_config.update(config)
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    wait_end(stub, sid)
    by_genotype: dict[str, list[float]] = {g: [] for g in genotypes}
    for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials:
        if t.state == s.TRIAL_COMPLETED:
            by_genotype[t.params["genotype"].string_value].append(t.final_measurement.metrics["val_accuracy"])
    return [statistics.fmean(by_genotype[g]) for g in genotypes]


def random_genotypes(stub: Any, config: dict[str, Any], count: int, repeats: int, seed: int) -> list[float]:
    """`count` random genotypes of the DARTS space, trained as the searched ones are."""
    rng = random.Random(seed)
    return train_genotypes(stub, config, [gt.to_json(gt.random_genotype(rng)) for _ in range(count)], repeats, seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20, help="search epochs")
    ap.add_argument("--warmup", type=int, default=5, help="search epochs that train the weights alone")
    ap.add_argument("--batch-size", type=int, default=32, help="search batch (each step is one alpha update)")
    ap.add_argument("--alpha-lr", type=float, default=3e-3,
                    help="alpha's Adam learning rate (the paper's 3e-4 is for ~20k steps; a search here has ~350)")
    ap.add_argument("--orders", default="1,2", help="which searches to run: 1 first order, 2 second order")
    ap.add_argument("--searches", type=int, default=2, help="first-order searches; the best genotype is kept")
    ap.add_argument("--second-order-searches", type=int, default=2)
    ap.add_argument("--evaluations", type=int, default=2,
                    help="trainings of each candidate genotype that choose between them (averaged)")
    ap.add_argument("--candidates", type=int, default=1,
                    help="genotypes per search: its perturbation scores', alpha's under the parameter-free cap, "
                         "alpha's under the cap + 1, ...")
    ap.add_argument("--selection", default="perturbation", choices=["perturbation", "alpha"],
                    help="read the genotype off the search's perturbation scores, or off alpha")
    ap.add_argument("--channels", type=int, default=12, help="search network channels (as wide as evaluation's)")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--eval-epochs", type=int, default=15)
    ap.add_argument("--eval-channels", type=int, default=12)
    ap.add_argument("--eval-layers", type=int, default=3, help="as deep as the search network")
    ap.add_argument("--random", type=int, default=5, help="random genotypes to train")
    ap.add_argument("--repeats", type=int, default=5, help="trainings of each genotype (seeds), averaged")
    ap.add_argument("--slots", type=int, default=2, help="executor slots (random genotypes train in parallel)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="tiny networks and few epochs: a smoke run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.warmup, args.channels, args.layers, args.random, args.repeats = 2, 0, 2, 2, 2, 1
        args.searches = args.second_order_searches = 1
        args.eval_epochs, args.eval_channels, args.eval_layers = 2, 4, 2
    evaluation = {"eval_batch_size": 64, "eval_epochs": args.eval_epochs, "eval_channels": args.eval_channels,
                  "eval_layers": args.eval_layers}
    base = {"epochs": args.epochs, "warmup_epochs": args.warmup, "channels": args.channels, "layers": args.layers,
            "batch_size": args.batch_size, **evaluation}
    settings = {"learning_rate": args.alpha_lr, "candidates": args.candidates, "selection": args.selection}
    orders = {"1": "first_order", "2": "second_order"}

    with tempfile.TemporaryDirectory(prefix="nestor-darts-") as tmp:
        ctl = start_controller(Path(tmp))
        ex = start_executor(Path(tmp), ctl.address, "--device", args.device, slots=args.slots)
        try:
            stub = controller_stub(ctl.address)
            wait_for_executors(stub, 1)
            device = stub.ListExecutors(c.ListExecutorsRequest()).executors[0].info.devices[0].name
            counts = {"1": args.searches, "2": args.second_order_searches}
            results = {orders[o]: search(stub, {**base, "order": int(o), "pipelined": True}, args.seed, args.slots,
                                         evaluation, args.repeats, counts[o], settings, args.evaluations)
                       for o in args.orders.split(",") if o}
            # The same first-order search for two epochs, waiting for every alpha: what pipelining hides.
            waiting = search(stub, {**base, "epochs": min(2, args.epochs), "warmup_epochs": 0, "order": 1,
                                    "pipelined": False},
                             args.seed, 1, evaluation, 0, 1, {**settings, "selection": "alpha"})
            rand = (random_genotypes(stub, evaluation, args.random, args.repeats, args.seed) if args.random
                    else [math.nan])
        finally:
            ex.stop()
            ctl.stop()

    print(f"DARTS on digits 8x8 ({device}): search {args.epochs} epochs ({args.warmup} of warm-up), "
          f"{args.layers} cells of {args.channels} channels, batch {args.batch_size}, alpha lr {args.alpha_lr:g}; "
          f"evaluation {args.eval_epochs} epochs, "
          f"{args.eval_layers} cells of {args.eval_channels} channels; accuracies are means of {args.repeats} "
          f"trainings (seeds); genotypes selected by {args.selection}, up to {args.candidates} per search, each "
          f"trained {args.evaluations} times by the study; the best on average is kept and trained again (the "
          "reported trainings never took part in the choice)")
    print(f"{'search':<28}{'steps/s':>9}{'alpha wait':>12}{'outer steps':>13}{'searches':>10}{'supernet acc':>14}"
          f"{'retrained acc':>15}{'seconds':>9}")
    for name, r in results.items():
        print(f"{name.replace('_', '-') + ' (pipelined)':<28}{r['steps_per_s']:>9.2f}{r['alpha_wait_share']:>12.1%}"
              f"{r['outer_steps']:>13}{r['searches']:>10}{r['supernet_val_accuracy']:>14.4f}"
              f"{r['val_accuracy']:>15.4f}{r['seconds']:>9.0f}")
    print(f"{'first-order (waits for alpha)':<28}{waiting['steps_per_s']:>9.2f}{waiting['alpha_wait_share']:>12.1%}"
          f"{waiting['outer_steps']:>13}")
    mean_random, best_random = statistics.fmean(rand), max(rand)
    print(f"random genotypes ({len(rand)}): mean {mean_random:.4f}, best {best_random:.4f} "
          f"(each: {', '.join(f'{a:.4f}' for a in rand)})")
    for name, r in results.items():
        verdict = "at least" if r["val_accuracy"] >= mean_random else "below"
        picked = ", ".join(f"{a:.4f}" for a in r["selection_accuracies"])
        print(f"{name.replace('_', '-')} genotype: {r['val_accuracy']:.4f}, {verdict} the random mean "
              f"(candidates' mean selection trainings: {picked})\n{r['genotype_text']}")
    if args.json:
        figures = {"device": device, "search_epochs": args.epochs, "random_genotypes": len(rand),
                   "warmup_epochs": args.warmup, "repeats": args.repeats, "search_batch_size": args.batch_size,
                   "alpha_learning_rate": args.alpha_lr, "candidates_per_search": args.candidates,
                   "selection": args.selection, "search_channels": args.channels,
                   "evaluations_per_candidate": args.evaluations,
                   "random_mean_val_accuracy": mean_random, "random_best_val_accuracy": best_random,
                   "random_val_accuracies": rand, "waiting_alpha_wait_share": waiting["alpha_wait_share"],
                   "waiting_steps_per_s": waiting["steps_per_s"]}
        for name, r in results.items():
            for key in ("steps_per_s", "alpha_wait_share", "outer_steps", "searches", "supernet_val_accuracy",
                        "selection_accuracies", "val_accuracy", "genotype", "search_seconds", "seconds"):
                figures[f"{name}_{key}"] = r[key]
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
