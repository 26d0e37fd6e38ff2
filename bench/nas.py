"""NAS over trials on digits_nas: random search, regularized evolution, the RL policy and BO, side by side.

Real processes: one controller and one executor with `--slots` slots train
every architecture for real (digits images, PyTorch). Each method runs as one
study per seed, all with the same space (a chain of up to 4 layers, searched
jointly with the learning rate), the same budget of trials and the same low
fidelity (`--epochs` epochs per trial). All studies are created at once and
share the slots; each runs one trial at a time, so every suggestion sees the
result of every earlier trial. Seed k of every method uses study seed k: the
random phase that evolution and BO start with matches random search's first
trials, so the methods differ only where they learn.

Prints the best validation accuracy reached after each quarter of the budget,
per method (mean and standard deviation over the seeds), and how many seeds
each method ended ahead of, level with or behind random search.

    .venv/bin/python bench/nas.py [--trials 60] [--seeds 5] [--epochs 2] [--slots 2] [--methods ...]
                                  [--settings METHOD=JSON] [--json]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import grpc  # noqa: E402
from cluster import controller_stub, start_controller, start_executor, wait_for_executors  # noqa: E402
from nestor.spec import load_spec  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402

SPACE: dict[str, Any] = {
    "space": {"lr": {"type": "double", "min": 2.0e-3, "max": 5.0e-2, "scale": "log"}},
    "architecture": {"chain": {
        "min_layers": 1, "max_layers": 4,
        "operations": ["conv_3x3", "conv_5x5", "sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3",
                       "identity"],
        "filters": [4, 8, 16], "strides": [1, 2]}},
}
METRIC = "val_accuracy"


def methods(trials: int) -> dict[str, dict[str, Any]]:
    """Each method's algorithm, its settings scaled to the budget.

    Evolution's population is a sixth of the budget (its random phase) and its
    tournament a third of the population; BO starts from a quarter of the
    budget of quasi-random points.
    """
    population = max(2, trials // 6)
    return {
        "random": {"name": "random"},
        "evolution": {"name": "regularized_evolution",
                      "settings": {"population_size": population, "sample_size": max(2, population // 3)}},
        "rl": {"name": "rl"},
        "bo": {"name": "gp", "settings": {"n_initial": max(2, trials // 4)}},
    }


def spec(method: str, algorithm: dict[str, Any], seed: int, trials: int, epochs: int) -> s.StudySpec:
    return load_spec({
        "name": f"nas-{method}-{seed}", "trainable": "digits_nas", "seed": seed,
        "objective": {"metric": METRIC, "goal": "maximize"}, "algorithm": algorithm,
        "budget": {"max_trials": trials, "max_parallel": 1, "max_failed": trials},
        "fidelity": {"name": "epoch", "min": epochs, "max": epochs},
        **SPACE,
    })


def best_after_quarters(values: list[float | None], trials: int) -> list[float]:
    """Best value among the first k trials (by id) for k at each quarter of the budget; failed trials count as 0."""
    out = []
    for q in range(1, 5):
        k = round(trials * q / 4)
        out.append(max((v or 0.0) for v in values[:k]))
    return out


def run(work: Path, names: list[str], algorithms: dict[str, dict[str, Any]], seeds: int, trials: int, epochs: int,
        slots: int) -> dict[str, Any]:
    ctl = start_controller(work, "--log-level", "WARNING")
    ex = start_executor(work, ctl.address, "--log-level", "WARNING", slots=slots)
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, 1, timeout=300)
        t0 = time.perf_counter()
        ids: dict[tuple[str, int], str] = {}
        for seed in range(1, seeds + 1):
            for name in names:
                ids[name, seed] = stub.CreateStudy(c.CreateStudyRequest(
                    spec=spec(name, algorithms[name], seed, trials, epochs))).id
        total = len(ids) * trials
        while True:
            studies = [stub.GetStudy(c.GetStudyRequest(study_id=sid)) for sid in ids.values()]
            done = sum(x.counts.completed + x.counts.stopped for x in studies)
            if sys.stderr.isatty():  # live progress for a person; nothing for a log
                print(f"\r{done}/{total} trials, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr,
                      flush=True)
            if all(x.state != s.STUDY_RUNNING for x in studies):
                break
            time.sleep(1.0)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        wall = time.perf_counter() - t0
        results: dict[str, Any] = {name: {"per_seed": [], "failed": 0} for name in names}
        for (name, _), sid in ids.items():
            study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
            if study.state != s.STUDY_COMPLETED:
                raise RuntimeError(f"study {study.spec.name} ended {s.StudyState.Name(study.state)}: {study.reason}")
            got = sorted(stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials, key=lambda t: t.id)
            values = [t.final_measurement.metrics[METRIC] if t.state in (s.TRIAL_COMPLETED, s.TRIAL_STOPPED)
                      else None for t in got]
            results[name]["failed"] += sum(v is None for v in values)
            results[name]["per_seed"].append(best_after_quarters([v for v in values], trials))
        return {"wall_s": wall, "results": results}
    finally:
        ex.stop()
        ctl.stop()


def summarise(results: dict[str, Any], trials: int) -> dict[str, Any]:
    base = [seed[-1] for seed in results["random"]["per_seed"]] if "random" in results else None
    out = {}
    for name, r in results.items():
        per_seed = r["per_seed"]
        quarters = list(zip(*per_seed, strict=True))
        row = {"mean": [statistics.fmean(q) for q in quarters],
               "sd": [statistics.stdev(q) if len(q) > 1 else 0.0 for q in quarters],
               "per_seed_final": [seed[-1] for seed in per_seed], "failed": r["failed"]}
        if base is not None and name != "random":
            finals = row["per_seed_final"]
            row["vs_random"] = {"ahead": sum(f > b for f, b in zip(finals, base, strict=True)),
                                "level": sum(f == b for f, b in zip(finals, base, strict=True)),
                                "behind": sum(f < b for f, b in zip(finals, base, strict=True))}
        out[name] = row
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=60, help="trials per study (the budget of every method)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2, help="epochs per trial (the low fidelity)")
    p.add_argument("--slots", type=int, default=2, help="executor slots (one torch thread each on 2 cores)")
    p.add_argument("--methods", default="random,evolution,rl,bo",
                   help="comma-separated, among: " + ", ".join(methods(4)))
    p.add_argument("--settings", action="append", default=[], metavar="METHOD=JSON",
                   help='override a method\'s algorithm settings, e.g. rl=\'{"learning_rate": 0.02}\'')
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    a = p.parse_args()
    names = [m.strip() for m in a.methods.split(",") if m.strip()]
    algorithms = methods(a.trials)
    unknown = [m for m in names if m not in algorithms]
    if unknown or a.trials < 4 or a.seeds < 1:
        p.error(f"unknown method {unknown[0]!r}" if unknown else "need --trials >= 4 and --seeds >= 1")
    for override in a.settings:
        method, _, text = override.partition("=")
        if method not in algorithms:
            p.error(f"--settings {override!r}: unknown method {method!r}")
        try:
            algorithms[method].setdefault("settings", {}).update(json.loads(text))
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            p.error(f"--settings {override!r}: expected METHOD={{JSON object}} ({e})")
    work = Path(tempfile.mkdtemp(prefix="nestor-bench-nas-"))
    got = run(work, names, algorithms, a.seeds, a.trials, a.epochs, a.slots)
    table = summarise(got["results"], a.trials)

    quarters = [round(a.trials * q / 4) for q in range(1, 5)]
    print(f"NAS on digits_nas: chain of 1-4 layers (7 operations, filters 4/8/16, stride 1/2) + learning rate; "
          f"{a.trials} trials of {a.epochs} epoch(s) per study, {a.seeds} seeds, {a.slots} slots, "
          f"{got['wall_s']:.0f} s")
    print(f"best {METRIC} after each quarter of the budget (mean ± sd over seeds)")
    header = "".join(f"{f'trial {k}':>16}" for k in quarters)
    print(f"{'method':12}{header}   vs random (ahead/level/behind)")
    for name, row in table.items():
        cells = "".join(f"{m:10.4f} ±{sd:.3f}" for m, sd in zip(row["mean"], row["sd"], strict=True))
        vs = row.get("vs_random")
        versus = f"   {vs['ahead']}/{vs['level']}/{vs['behind']}" if vs else ""
        failed = f"   ({row['failed']} failed trials)" if row["failed"] else ""
        print(f"{name:12}{cells}{versus}{failed}")
    if a.json:
        print(json.dumps({"trials": a.trials, "seeds": a.seeds, "epochs": a.epochs, "slots": a.slots,
                          "wall_s": round(got["wall_s"], 1), "quarters": quarters,
                          "methods": {k: {kk: ([round(x, 4) for x in vv] if isinstance(vv, list) else vv)
                                          for kk, vv in v.items()} for k, v in table.items()}}))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"nas bench: {e.code().name}: {e.details()}")
