"""Hypergradient tuning against random search of digits_mlp's regularisation, same total training epochs.

Both tune the weight decay of each layer group (input, hidden, output: log scale) and the dropout rate
of `digits_hypergrad` (digits_mlp's MLP; train 60%, validation 20%, test 20% of the digits) through real
controller and executor processes. Random search trains N trials of E epochs with the hyperparameters
it draws; the hypergradient study trains N trials of E epochs from the same draws (same seed) while the
controller moves each trial's hyperparameters along the IFT hypergradient the executor streams. Each
study's result is its best trial by validation accuracy; the test accuracy of that trial is what counts.

    .venv/bin/python bench/hypergrad.py [--trials 8] [--epochs 15] [--seeds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster import controller_stub, start_controller, start_executor, wait_for_executors
from nestor.v1 import controller_pb2 as c
from nestor.v1 import space_pb2 as sp
from nestor.v1 import study_pb2 as s


def space() -> sp.SearchSpace:
    def wd(name: str) -> sp.Parameter:
        return sp.Parameter(name=name, double=sp.DoubleDomain(min=1e-6, max=1e-1, scale=sp.SCALE_LOG),
                            default_value=sp.Value(double_value=1e-4))

    return sp.SearchSpace(parameters=[wd("wd_input"), wd("wd_hidden"), wd("wd_output"), sp.Parameter(
        name="dropout", double=sp.DoubleDomain(min=0.0, max=0.8), default_value=sp.Value(double_value=0.1))])


def run(stub: Any, algorithm: str, args: argparse.Namespace, seed: int) -> dict[str, float]:
    spec = s.StudySpec(name=f"digits-{algorithm}", trainable="digits_hypergrad", seed=seed, space=space(),
                       objectives=[s.Objective(metric="val_accuracy", goal=s.GOAL_MAXIMIZE)],
                       algorithm=s.AlgorithmSpec(name=algorithm),
                       budget=s.Budget(max_trials=args.trials, max_parallel=args.slots))
    spec.trainable_config.update({"epochs": args.epochs, "hyper_every": args.hyper_every})
    if algorithm == "hypergrad":
        spec.algorithm.settings.update({"learning_rate": args.hyper_lr})
    t0 = time.monotonic()
    sid = stub.CreateStudy(c.CreateStudyRequest(spec=spec)).id
    while stub.GetStudy(c.GetStudyRequest(study_id=sid)).state == s.STUDY_RUNNING:
        time.sleep(0.3)
    trials = [t for t in stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials if t.state == s.TRIAL_COMPLETED]
    best = stub.GetBestTrials(c.GetBestTrialsRequest(study_id=sid)).trials[0]
    # The trials' last epoch carries test_accuracy; the final measurement holds the last report.
    tests = [t.final_measurement.metrics["test_accuracy"] for t in trials]
    out = {"best_val_accuracy": best.final_measurement.metrics["val_accuracy"],
           "best_test_accuracy": best.final_measurement.metrics["test_accuracy"],
           "mean_test_accuracy": statistics.fmean(tests), "epochs": float(len(trials) * args.epochs),
           "seconds": time.monotonic() - t0}
    out.update({f"best_{k}": v for k, v in best.final_measurement.metrics.items() if k.startswith("hp_")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--hyper-every", type=int, default=5, help="inner steps between hypergradients")
    ap.add_argument("--hyper-lr", type=float, default=0.1, help="the controller's Adam step on the hyperparameters")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {"random": [], "hypergrad": []}
    with tempfile.TemporaryDirectory(prefix="nestor-hypergrad-") as tmp:
        ctl = start_controller(Path(tmp))
        ex = start_executor(Path(tmp), ctl.address, slots=args.slots)
        try:
            stub = controller_stub(ctl.address)
            wait_for_executors(stub, 1)
            for seed in range(1, args.seeds + 1):
                for algorithm in results:
                    results[algorithm].append(run(stub, algorithm, args, seed))
        finally:
            ex.stop()
            ctl.stop()

    print(f"digits_hypergrad regularisation (wd per layer group, dropout): {args.trials} trials x {args.epochs} "
          f"epochs per study, {args.seeds} seeds")
    print(f"{'method':<12}{'seed':>5}{'best val acc':>14}{'its test acc':>14}{'mean test acc':>15}{'epochs':>8}"
          f"{'seconds':>9}")
    for name, rows in results.items():
        for seed, r in enumerate(rows, 1):
            print(f"{name:<12}{seed:>5}{r['best_val_accuracy']:>14.4f}{r['best_test_accuracy']:>14.4f}"
                  f"{r['mean_test_accuracy']:>15.4f}{r['epochs']:>8.0f}{r['seconds']:>9.1f}")
    summary = {}
    for name, rows in results.items():
        for key in ("best_val_accuracy", "best_test_accuracy", "mean_test_accuracy"):
            summary[f"{name}_{key}"] = statistics.fmean(r[key] for r in rows)
        print(f"{name:<12}{'mean':>5}{summary[f'{name}_best_val_accuracy']:>14.4f}"
              f"{summary[f'{name}_best_test_accuracy']:>14.4f}{summary[f'{name}_mean_test_accuracy']:>15.4f}")
    tuned = results["hypergrad"][-1]
    print("hyperparameters of the last hypergradient study's best trial at its end: "
          + ", ".join(f"{k.removeprefix('best_hp_')}={v:.3g}" for k, v in tuned.items() if k.startswith("best_hp_")))
    if args.json:
        print(json.dumps({"trials": args.trials, "epochs_per_trial": args.epochs, "seeds": args.seeds, **summary}))


if __name__ == "__main__":
    main()
