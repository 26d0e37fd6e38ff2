"""What the controller costs: Nestor's overhead against Optuna's, through real processes over gRPC.

(a) no-op trials of N reports each: managed (controller + executor, durable
    SQLite), client-driven ask/tell with the report round trip timed, and the
    same workload in Optuna with its SQLite storage and a successive-halving
    pruner, as ratios;
(b) executor utilisation: many slots running trials that each sleep;
(c) (a) again with durability off, as a ratio.

    .venv/bin/python bench/overhead.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import grpc  # noqa: E402
from cluster import controller_stub, start_controller, start_executor, wait_for_executors  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import space_pb2 as sp  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402


def noop_spec(trials: int, reports: int, parallel: int, sleep_s: float = 0.0, managed: bool = True) -> s.StudySpec:
    spec = s.StudySpec(
        name="overhead", seed=1,
        space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
        objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
        budget=s.Budget(max_trials=trials, max_parallel=parallel))
    if managed:
        spec.trainable = "noop"
        spec.trainable_config.update({"steps": reports, "sleep_s": sleep_s})
    return spec


def wait_end(stub, sid: str) -> s.Study:
    for ev in stub.WatchStudy(c.WatchStudyRequest(study_id=sid), timeout=3600):
        if ev.type == c.STUDY_EVENT_STUDY_ENDED:
            break
    return stub.GetStudy(c.GetStudyRequest(study_id=sid))


def warm_up(stub, slots: int) -> None:
    """Runs a few trials on every slot first: what is measured is the steady state, not workers that are
    still importing torch (each worker loads the built-in trainables once, at its start)."""
    for _ in range(2):
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=noop_spec(4 * slots, 1, slots))).id
        wait_end(stub, sid)
        stub.DeleteStudy(c.DeleteStudyRequest(study_id=sid))


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def managed_run(work: Path, trials: int, reports: int, slots: int, executors: int, durable: bool,
                sleep_s: float = 0.0) -> dict[str, float]:
    ctl = start_controller(work, *([] if durable else ["--durability", "off"]), "--log-level", "WARNING")
    exs = [start_executor(work, ctl.address, "--log-level", "WARNING", slots=slots, name=f"executor{i}")
           for i in range(executors)]
    try:
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, executors, timeout=300)
        warm_up(stub, slots * executors)
        t0 = time.perf_counter()
        # Parallelism counts the trials waiting in executors' backlogs (one per slot) as running.
        parallel = 2 * slots * executors
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=noop_spec(trials, reports, parallel, sleep_s))).id
        study = wait_end(stub, sid)
        wall = time.perf_counter() - t0
        assert study.counts.completed == trials, study
        done = stub.ListTrials(c.ListTrialsRequest(study_id=sid)).trials
        busy = sum(t.final_measurement.elapsed_s for t in done)
        return {"wall_s": wall, "trials_per_s": trials / wall, "reports_per_s": trials * reports / wall,
                "busy_s": busy, "utilisation": busy / (slots * executors * wall)}
    finally:
        for e in exs:
            e.stop()
        ctl.stop()


def ask_tell_run(work: Path, trials: int, reports: int) -> dict[str, float]:
    ctl = start_controller(work, "--log-level", "WARNING")
    try:
        stub = controller_stub(ctl.address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=noop_spec(trials, reports, 1, managed=False))).id
        round_trips: list[float] = []
        t0 = time.perf_counter()
        while True:
            got = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1)).trials
            if not got:
                break
            t = got[0]
            for step in range(1, reports + 1):
                r0 = time.perf_counter()
                stub.ReportMeasurement(c.ReportMeasurementRequest(
                    study_id=sid, trial_id=t.id, measurement=s.Measurement(step=step, metrics={"value": step})))
                round_trips.append(time.perf_counter() - r0)
            stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=t.id))
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "trials_per_s": trials / wall, "reports_per_s": trials * reports / wall,
                "report_p50_ms": 1e3 * statistics.median(round_trips),
                "report_p99_ms": 1e3 * percentile(round_trips, 0.99)}
    finally:
        ctl.stop()


def optuna_run(work: Path, trials: int, reports: int) -> dict[str, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{work / 'optuna.db'}"
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1),
                                pruner=optuna.pruners.SuccessiveHalvingPruner())
    round_trips: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(1, reports + 1):
            r0 = time.perf_counter()
            trial.report(float(step), step)
            pruned = trial.should_prune()
            round_trips.append(time.perf_counter() - r0)
            if pruned:
                raise optuna.TrialPruned()
        return x

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "trials_per_s": trials / wall, "reports_per_s": len(round_trips) / wall,
            "report_p50_ms": 1e3 * statistics.median(round_trips),
            "report_p99_ms": 1e3 * percentile(round_trips, 0.99)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--reports", type=int, default=10)
    p.add_argument("--slots", type=int, default=4, help="executor slots for (a) and (c)")
    p.add_argument("--util-trials", type=int, default=1000)
    p.add_argument("--util-slots", type=int, default=16, help="slots in all for (b), over --util-executors")
    p.add_argument("--util-executors", type=int, default=4)
    p.add_argument("--sleep", type=float, default=0.1, help="seconds each trial of (b) sleeps")
    p.add_argument("--skip-optuna", action="store_true")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nestor-bench-"))

    durable = managed_run(work / "a", a.trials, a.reports, a.slots, 1, durable=True)
    ask_tell = ask_tell_run(work / "a2", a.trials, a.reports)
    optuna = None if a.skip_optuna else optuna_run(work, a.trials, a.reports)
    volatile = managed_run(work / "c", a.trials, a.reports, a.slots, 1, durable=False)
    per = a.util_slots // a.util_executors
    util = managed_run(work / "b", a.util_trials, 1, per, a.util_executors, durable=True, sleep_s=a.sleep)

    rows = [("nestor managed, durable SQLite", durable), ("nestor ask/tell, durable SQLite", ask_tell)]
    if optuna:
        rows.append(("optuna 5, SQLite + SH pruner", optuna))
    rows.append(("nestor managed, durability off", volatile))
    print(f"(a)/(c) {a.trials} no-op trials x {a.reports} reports; managed runs on {a.slots} executor slots")
    print(f"{'run':34} {'trials/s':>9} {'reports/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'wall s':>7}")
    for name, r in rows:
        p50 = f"{r['report_p50_ms']:7.2f}" if "report_p50_ms" in r else f"{'-':>7}"
        p99 = f"{r['report_p99_ms']:7.2f}" if "report_p99_ms" in r else f"{'-':>7}"
        print(f"{name:34} {r['trials_per_s']:9.1f} {r['reports_per_s']:10.0f} {p50} {p99} {r['wall_s']:7.2f}")
    figures = {
        "durable_trials_per_s": durable["trials_per_s"], "durable_reports_per_s": durable["reports_per_s"],
        "ask_tell_trials_per_s": ask_tell["trials_per_s"],
        "ask_tell_report_p50_ms": ask_tell["report_p50_ms"], "ask_tell_report_p99_ms": ask_tell["report_p99_ms"],
        "non_durable_trials_per_s": volatile["trials_per_s"],
        "durable_over_non_durable": durable["trials_per_s"] / volatile["trials_per_s"],
        "utilisation": util["utilisation"], "utilisation_wall_s": util["wall_s"],
        "utilisation_slots": a.util_slots, "utilisation_trials": a.util_trials,
    }
    if optuna:
        figures.update({
            "optuna_trials_per_s": optuna["trials_per_s"], "optuna_report_p50_ms": optuna["report_p50_ms"],
            "optuna_report_p99_ms": optuna["report_p99_ms"],
            "durable_over_optuna": durable["trials_per_s"] / optuna["trials_per_s"],
            "ask_tell_over_optuna": ask_tell["trials_per_s"] / optuna["trials_per_s"],
        })
        print(f"ratio managed durable / optuna:  {figures['durable_over_optuna']:.1f}x trials per second")
        print(f"ratio ask/tell durable / optuna: {figures['ask_tell_over_optuna']:.1f}x trials per second")
    print(f"ratio durable / durability off:  {figures['durable_over_non_durable']:.2f}")
    print(f"(b) {a.util_trials} trials sleeping {a.sleep * 1e3:.0f} ms on {a.util_slots} slots "
          f"({a.util_executors} executors): utilisation {util['utilisation']:.1%} in {util['wall_s']:.2f} s "
          f"(ideal {a.util_trials * a.sleep / a.util_slots:.2f} s)")
    if a.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"bench failed: {e.code().name}: {e.details()}")
