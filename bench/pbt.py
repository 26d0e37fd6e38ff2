"""Population-based training: Nestor's `pbt` and `pb2` schedulers on the PBT paper's toy problem and on
digits_mlp, against random search and ASHA at the same total epochs, and against Ray Tune's
PopulationBasedTraining on both.

Real processes: one controller and `--slots` executors of one slot each run every Nestor study (max_parallel
= slots); Ray Tune runs in-process with ray.init(num_cpus=slots), one CPU per trial. Every method runs once
per seed (study seed = seed; Ray's random, numpy and member seeds from it). Before the measured studies, a
short toy and a short digits study (not counted) make every executor's workers import what they need.

(a) The toy (Jaderberg et al. 2017, section 4.1; trainable pbt_toy): population 2 starting at h=(1,0) and
    h=(0,1) (enqueued), `--toy-steps` steps, perturbation_interval 4, h0, h1 in [0, 1], both mutable. Each
    initial setting held constant stays at q = 0.39 for ever (the "constant" rows: pbt_toy's own train()
    called in-process with a stub context, no checkpoint, h fixed); a schedule found by copying weights and
    perturbing h reaches the optimum 1.2. Per method: the median over seeds of the best member's q at the
    last step, and the number of seeds whose best q reached the optimum region (>= 1.1). Ray's trainable
    does the same update in-process (same start, learning rate and q). With pbt_toy's learning rate 0.02
    the best possible schedule (h = (1, 1) throughout) reaches q 1.188 by step 60 and 1.1995 by step 100:
    at 60 steps the region leaves a member that spent its first intervals on one coordinate little room, so
    the default is 100.
(b) digits_mlp (sgd; lr log [1e-3, 0.5], momentum [0.5, 0.99], weight_decay log [1e-6, 1e-2]) at equal total
    epochs, P = `--population` times E = `--epochs`: pbt and pb2 (population P trained to E epochs,
    perturbation_interval `--interval`, quantile_fraction 0.25, resample_probability 0.25, perturbation
    factors 0.8 and 1.2, mutable lr, momentum, weight_decay), random search (P trials of E epochs, scheduler
    none) and ASHA (fidelity 1..E, stopped once it has measured P x E epochs, as bench/multifidelity.py does).
(c) Ray Tune's PopulationBasedTraining (synch=True, as Nestor's generations) with the same population and
    settings on an in-process function trainable with digits_mlp's data, model, optimizer, seeded shuffling
    and evaluation, one epoch per report and a checkpoint each epoch (benchlib/pbtlib/ray_runs.py).

Figures per method (medians over seeds): accuracy = the best val_accuracy measured at the full E epochs among
the members/trials (ASHA: among those measured within its budget); wall s = from CreateStudy to the study's
end (Ray: Tuner.fit()); and for the PBT methods the overhead per exploit:

    overhead per exploit = (wall s - training s / slots) / exploits

where training s is what the trials reported: for Nestor the sum over every run (a member's interval) of the
elapsed_s of its last measurement (elapsed_s counts from the start of the run, loading the checkpoint
included), for Ray the same from its trainables' own clock (each call's seconds from its start, after its
imports, to its last report; Ray's time_this_iter_s would add an actor's start-up); exploits are the decisions
that made a member continue from a donor's weights (Nestor: lineage entries with a donor; Ray: the scheduler's
_num_perturbations). It charges everything that is not training (scheduling, checkpoint copies, process and
actor start-up, idle slots while a generation waits) to the exploits. "decisions" (every interval end at which
a member was ranked) is printed too. Nestor's figures come from the stored measurements (ListTrials), ASHA's
from the WatchStudy events it was stopped by; "missed_events" in the JSON counts stored measurements that
WatchStudy never sent (it should be 0).

Targets (printed met/unmet): (a) pbt reaches q >= 1.1 in every seed; (b) pbt's accuracy >= max(random,
asha) - 0.005, pbt's accuracy >= Ray's - 0.005, and pbt's wall time < Ray's.

    .venv/bin/python bench/pbt.py [--seeds 5] [--epochs 20] [--population 8] [--slots 2] [--interval N]
                                  [--toy-steps 100] [--json] [--skip-ray]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchlib"))

from pbtlib import nestor_runs as nr  # noqa: E402
from pbtlib import ray_runs  # noqa: E402
from pbtlib.nestor_runs import PBTSettings, Run  # noqa: E402
from saved import json_line  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))

from cluster import controller_stub, start_controller, start_executor, wait_for_executors  # noqa: E402

TOY_METHODS = ("pbt", "pb2")
DIGITS_METHODS = ("pbt", "pb2", "random", "asha")
OPTIMUM = 1.1
TOLERANCE = 0.005


def median(xs: list[float]) -> float:
    finite = [x for x in xs if math.isfinite(x)]
    return statistics.median(finite) if finite else math.nan


def overhead(run: Run, slots: int) -> float:
    return (run.wall_s - run.train_s / slots) / run.exploits if run.exploits else math.nan


def summary(runs: list[Run], slots: int, optimum: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "best_final": median([r.best_final for r in runs]), "wall_s": median([r.wall_s for r in runs]),
        "train_s": median([r.train_s for r in runs]), "decisions": median([float(r.decisions) for r in runs]),
        "exploits": median([float(r.exploits) for r in runs]),
        "overhead_per_exploit_s": median([overhead(r, slots) for r in runs]),
        "seeds": len(runs), "states": sorted({r.state for r in runs}),
        "missed_events": sum(r.missed_events for r in runs)}
    if optimum is not None:
        out["seeds_at_optimum"] = sum(r.best_final >= optimum for r in runs)
    return out


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def fmt(x: float, spec: str) -> str:
    return "-" if not math.isfinite(x) else format(x, spec)


def run_nestor(args: argparse.Namespace, work: Path, toy: PBTSettings, digits: PBTSettings
               ) -> tuple[dict[str, list[Run]], dict[str, list[Run]]]:
    ctl = start_controller(work, "--log-level", "WARNING", "--durability", "off")
    executors = [start_executor(work, ctl.address, "--torch-threads", "1", "--log-level", "WARNING",
                                name=f"executor{i}") for i in range(args.slots)]
    toy_runs: dict[str, list[Run]] = {m: [] for m in TOY_METHODS}
    digits_runs: dict[str, list[Run]] = {m: [] for m in DIGITS_METHODS}
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, args.slots)
        # Warm-up, not counted: every executor's workers import torch, scikit-learn and the trainables once.
        nr.run_study(stub, nr.toy_spec("pbt", 0, 2 * toy.interval, toy), "q", 2 * toy.interval)
        nr.run_study(stub, nr.digits_spec("random", 0, 1, PBTSettings(2 * args.slots, 1), args.slots),
                     "val_accuracy", 1)
        for seed in range(1, args.seeds + 1):
            for m in TOY_METHODS:
                r = nr.run_study(stub, nr.toy_spec(m, seed, args.toy_steps, toy), "q", args.toy_steps, toy.interval)
                toy_runs[m].append(r)
                log(f"toy {m} seed {seed}: {r.state}, best q {r.best_final:.4f}, {r.wall_s:.1f} s")
            for m in DIGITS_METHODS:
                spec = nr.digits_spec(m, seed, args.epochs, digits, args.slots)
                total = args.population * args.epochs if m == "asha" else None
                interval = digits.interval if m in ("pbt", "pb2") else None
                r = nr.run_study(stub, spec, "val_accuracy", args.epochs, interval, total)
                digits_runs[m].append(r)
                log(f"digits {m} seed {seed}: {r.state}, accuracy {r.best_final:.4f}, {r.wall_s:.1f} s, "
                    f"{r.measurements} epochs, {r.exploits}/{r.decisions} exploits")
    finally:
        for e in executors:
            e.stop()
        ctl.stop()
    return toy_runs, digits_runs


def run_ray(args: argparse.Namespace, work: Path, toy: PBTSettings, digits: PBTSettings
            ) -> tuple[list[Run], list[Run]]:
    ray_runs.start(args.slots)
    toy_runs, digits_runs = [], []
    try:
        for seed in range(1, args.seeds + 1):
            r = ray_runs.toy(work, seed, args.toy_steps, toy)
            toy_runs.append(r)
            log(f"ray toy seed {seed}: best q {r.best_final:.4f}, {r.wall_s:.1f} s")
            r = ray_runs.digits(work, seed, args.epochs, digits)
            digits_runs.append(r)
            log(f"ray digits seed {seed}: accuracy {r.best_final:.4f}, {r.wall_s:.1f} s, "
                f"{r.measurements} epochs, {r.exploits}/{r.decisions} exploits")
    finally:
        ray_runs.stop()
    return toy_runs, digits_runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20, help="E: epochs each digits member trains")
    p.add_argument("--population", type=int, default=8, help="P: digits population (and random's trials)")
    p.add_argument("--interval", type=int, default=0, help="digits perturbation_interval (default: max(1, E/5))")
    p.add_argument("--toy-steps", type=int, default=100)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print all figures as one JSON object last")
    p.add_argument("--skip-ray", action="store_true", help="no Ray Tune peer")
    args = p.parse_args()
    toy = PBTSettings(population=len(nr.TOY_START), interval=4)
    digits = PBTSettings(population=args.population, interval=args.interval or max(1, args.epochs // 5))
    ray_ok = ray_runs.installed()
    with tempfile.TemporaryDirectory(prefix="nestor-bench-pbt-") as tmp:
        work = Path(tmp)
        toy_runs, digits_runs = run_nestor(args, work, toy, digits)
        ray_toy, ray_digits = run_ray(args, work, toy, digits) if ray_ok and not args.skip_ray else ([], [])

    # (a) the toy
    toy_rows = {f"nestor {m}": summary(rs, args.slots, OPTIMUM) for m, rs in toy_runs.items()}
    if ray_toy:
        toy_rows["ray tune pbt"] = summary(ray_toy, args.slots, OPTIMUM)
    constant = {f"h=({h['h0']:g},{h['h1']:g})": nr.toy_constant_q(h, args.toy_steps) for h in nr.TOY_START}
    print(f"(a) PBT toy: population 2 from h=(1,0), (0,1); {args.toy_steps} steps, interval {toy.interval}; "
          f"{args.seeds} seeds")
    head = f"{'method':<22}{'best q (median)':>17}{f'seeds q>={OPTIMUM:g}':>14}{'wall s':>9}{'exploits':>10}"
    print(head + "\n" + "-" * len(head))
    for name, r in toy_rows.items():
        print(f"{name:<22}{fmt(r['best_final'], '.4f'):>17}{r['seeds_at_optimum']:>9}/{r['seeds']:<4}"
              f"{fmt(r['wall_s'], '.1f'):>9}{fmt(r['exploits'], 'g'):>10}")
    for name, qv in constant.items():
        print(f"{'constant ' + name:<22}{qv:>17.4f}{'':>14}{'':>9}{'':>10}")
    print("(constant: pbt_toy's train() in-process with h held, no study)")

    # (b) + (c) digits_mlp
    rows = {f"nestor {m}": summary(rs, args.slots) for m, rs in digits_runs.items()}
    if ray_digits:
        rows["ray tune pbt"] = summary(ray_digits, args.slots)
    print()
    print(f"(b, c) digits_mlp: population {args.population} x {args.epochs} epochs, interval {digits.interval}, "
          f"{args.slots} slots; {args.seeds} seeds")
    head = (f"{'method':<22}{'accuracy':>10}{'wall s':>9}{'train s':>9}{'exploits':>10}{'decisions':>11}"
            f"{'overhead/exploit s':>20}")
    print(head + "\n" + "-" * len(head))
    for name, r in rows.items():
        pbt_like = "pbt" in name or "pb2" in name
        print(f"{name:<22}{fmt(r['best_final'], '.4f'):>10}{fmt(r['wall_s'], '.1f'):>9}{fmt(r['train_s'], '.1f'):>9}"
              + (f"{fmt(r['exploits'], 'g'):>10}{fmt(r['decisions'], 'g'):>11}"
                 f"{fmt(r['overhead_per_exploit_s'], '.3f'):>20}" if pbt_like else ""))
    print("(accuracy: best val_accuracy at the full epochs; overhead/exploit = (wall - train s / slots) / exploits)")
    ours = rows["nestor pbt"]
    ratios: dict[str, float] = {}
    if ray_digits:
        ray = rows["ray tune pbt"]
        ratios = {"accuracy_nestor_over_ray": ours["best_final"] / ray["best_final"],
                  "wall_nestor_over_ray": ours["wall_s"] / ray["wall_s"]}
        print(f"nestor pbt / ray tune pbt: accuracy {ratios['accuracy_nestor_over_ray']:.4f}x, "
              f"wall time {ratios['wall_nestor_over_ray']:.3f}x")

    # targets
    baseline = max(rows["nestor random"]["best_final"], rows["nestor asha"]["best_final"])
    targets: dict[str, bool | None] = {
        "toy_pbt_optimum_every_seed": toy_rows["nestor pbt"]["seeds_at_optimum"] == args.seeds,
        "digits_pbt_vs_random_asha": ours["best_final"] >= baseline - TOLERANCE,
        "digits_pbt_accuracy_vs_ray": (ours["best_final"] >= rows["ray tune pbt"]["best_final"] - TOLERANCE)
        if ray_digits else None,
        "digits_pbt_wall_vs_ray": ours["wall_s"] < rows["ray tune pbt"]["wall_s"] if ray_digits else None,
    }
    print()
    texts = {"toy_pbt_optimum_every_seed": f"(a) nestor pbt reaches q >= {OPTIMUM:g} in every seed",
             "digits_pbt_vs_random_asha": f"(b) nestor pbt accuracy >= max(random, asha) - {TOLERANCE:g}",
             "digits_pbt_accuracy_vs_ray": f"(b) nestor pbt accuracy >= ray tune pbt - {TOLERANCE:g}",
             "digits_pbt_wall_vs_ray": "(b) nestor pbt wall time < ray tune pbt"}
    for key, ok in targets.items():
        print(f"{'met' if ok else 'not run' if ok is None else 'UNMET':>8}: {texts[key]}")
    if not ray_ok:
        print("ray tune: not installed")

    if args.json:
        print(json_line({
            "settings": {"seeds": args.seeds, "epochs": args.epochs, "population": args.population,
                         "interval": digits.interval, "toy_steps": args.toy_steps, "toy_interval": toy.interval,
                         "slots": args.slots, "ray": bool(ray_digits)},
            "toy": rounded(toy_rows), "toy_constant_q": rounded(constant), "digits": rounded(rows),
            **rounded(ratios), "targets": targets}))


def rounded(x: Any) -> Any:
    """JSON without NaN, floats to 4 decimals (json_line only rounds the top level)."""
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    if isinstance(x, float):
        return round(x, 4) if math.isfinite(x) else None
    return x


if __name__ == "__main__":
    main()
