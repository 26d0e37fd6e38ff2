"""What the controller costs: Nestor's overhead against Optuna's and Ray Tune's, through real processes over gRPC.

(a) no-op trials of N reports each: managed (controller + executor, durable
    SQLite), client-driven ask/tell with the report round trip timed (and with
    the reports deferred: sent with the result in one call), and the
    same workload in Optuna with its SQLite storage and with its JournalStorage
    file backend (a successive-halving pruner), and in Ray Tune (a function
    trainable under ASHA) when it is installed, as ratios;
(b) executor utilisation: many slots running trials that each sleep;
(c) (a) again with durability off, as a ratio;
(d) --clients ask/tell clients, each its own process, sharing one study (what a
    user does who runs a tuning loop on several workers; with reports each a
    call, and deferred to the result), against the same in
    Optuna: that many processes on one study in SQLite, and in a journal file;
(e) a fleet: the load generator (bench/loadgen.py, executors with no worker
    processes) at --fleet-slots slots with --fleet-studies managed studies at once.

    .venv/bin/python bench/overhead.py [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchlib"))

import grpc  # noqa: E402
from cluster import Server, controller_stub, start_controller, start_executor, wait_for_executors  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import space_pb2 as sp  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402
from saved import json_line  # noqa: E402


def noop_spec(trials: int, reports: int, parallel: int, sleep_s: float = 0.0, managed: bool = True) -> s.StudySpec:
    # Random search, as on Optuna's side: what is measured is the controller's cost, not a model's.
    spec = s.StudySpec(
        name="overhead", seed=1, algorithm=s.AlgorithmSpec(name="random"),
        space=sp.SearchSpace(parameters=[sp.Parameter(name="x", double=sp.DoubleDomain(min=0, max=1))]),
        objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
        budget=s.Budget(max_trials=trials, max_parallel=parallel))
    if managed:
        spec.trainable = "noop"
        spec.trainable_config.update({"steps": reports, "sleep_s": sleep_s})
    return spec


def wait_end(stub, sid: str) -> s.Study:
    # Followed as the SDK's Study.watch follows a study: the events that were ready together in one message.
    for batch in stub.WatchStudyBatches(c.WatchStudyRequest(study_id=sid), timeout=3600):
        if any(ev.type == c.STUDY_EVENT_STUDY_ENDED for ev in batch.events):
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
                "busy_s": busy, "utilisation": busy / (slots * executors * wall),
                "utilisation_steady": steady_utilisation(done, slots * executors)}
    finally:
        for e in exs:
            e.stop()
        ctl.stop()


def steady_utilisation(done: list[s.Trial], slots: int) -> float:
    """Busy slot time over the stretch in which trials always waited for a slot: from the moment every slot
    first held one to the last trial's start (the first round's start and the last round's uneven end are
    outside it), by the controller's start and end times of each trial."""
    def secs(ts) -> float:
        return ts.ToNanoseconds() / 1e9

    starts = sorted(secs(t.start_time) for t in done)
    if len(starts) <= slots:
        return float("nan")
    lo, hi = starts[slots - 1], starts[-1]
    busy = sum(max(0.0, min(secs(t.end_time), hi) - max(secs(t.start_time), lo)) for t in done)
    return busy / (slots * (hi - lo))


def report_times(round_trips: list[float]) -> dict[str, float]:
    """Median and 99th percentile of the report round trips (none when the reports were deferred)."""
    if not round_trips:
        return {}
    return {"report_p50_ms": 1e3 * statistics.median(round_trips), "report_p99_ms": 1e3 * percentile(round_trips, 0.99)}


def tell_noop(stub, sid: str, trial_id: int, reports: int, round_trips: list[float], deferred: bool = False) -> None:
    """Reports a no-op trial's steps, each report's round trip timed, then completes it; deferred: the steps
    go with the result, in the one CompleteTrial call (the SDK's report(..., defer=True))."""
    if deferred:
        curve = [s.Measurement(step=step, metrics={"value": step}) for step in range(1, reports + 1)]
        stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=trial_id, measurements=curve))
        return
    for step in range(1, reports + 1):
        r0 = time.perf_counter()
        stub.ReportMeasurement(c.ReportMeasurementRequest(
            study_id=sid, trial_id=trial_id, measurement=s.Measurement(step=step, metrics={"value": step})))
        round_trips.append(time.perf_counter() - r0)
    stub.CompleteTrial(c.CompleteTrialRequest(study_id=sid, trial_id=trial_id))


def ask_tell_run(work: Path, trials: int, reports: int, deferred: bool = False) -> dict[str, float]:
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
            tell_noop(stub, sid, got[0].id, reports, round_trips, deferred)
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "trials_per_s": trials / wall, "reports_per_s": trials * reports / wall,
                **report_times(round_trips)}
    finally:
        ctl.stop()


def optuna_storage(work: Path, kind: str):
    """Optuna's storage of `kind`: "sqlite" (RDB) or "journal" (JournalStorage on a file, its multi-process backend)."""
    import optuna

    if kind == "sqlite":
        return f"sqlite:///{work / 'optuna.db'}"
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(work / "optuna.journal")))


def optuna_objective(reports: int, round_trips: list[float]):
    import optuna

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

    return objective


def optuna_study(work: Path, kind: str, name: str, load: bool = False):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna_storage(work, kind)
    if load:
        return optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(),
                                 pruner=optuna.pruners.SuccessiveHalvingPruner())
    return optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=1),
                               pruner=optuna.pruners.SuccessiveHalvingPruner())


def optuna_run(work: Path, trials: int, reports: int, kind: str = "sqlite") -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    study = optuna_study(work, kind, "overhead")
    round_trips: list[float] = []
    t0 = time.perf_counter()
    study.optimize(optuna_objective(reports, round_trips), n_trials=trials)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "trials_per_s": trials / wall, "reports_per_s": len(round_trips) / wall,
            **report_times(round_trips)}


def ray_tune_installed() -> bool:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        return False
    return True


def ray_trainable(config: dict) -> None:
    from ray import tune

    for step in range(1, config["reports"] + 1):
        tune.report({"value": config["x"] + 1.0 / step})


def ray_run(work: Path, trials: int, reports: int, slots: int) -> dict[str, float]:
    """(a) in Ray Tune: a function trainable reporting `reports` times under ASHA, `slots` trials at once."""
    import logging
    import os

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    ray.init(num_cpus=slots, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            ray_trainable, param_space={"x": tune.uniform(0, 1), "reports": reports},
            tune_config=tune.TuneConfig(num_samples=trials, metric="value", mode="min", reuse_actors=True,
                                        scheduler=ASHAScheduler(max_t=max(1, reports), grace_period=1)),
            run_config=tune.RunConfig(name="overhead", storage_path=str(work / "ray"), verbose=0))
        t0 = time.perf_counter()
        results = tuner.fit()
        wall = time.perf_counter() - t0
        done = sum(int(r.metrics.get("training_iteration", 0)) for r in results if r.metrics)
        assert len(results) == trials and not results.errors, results.errors
    finally:
        ray.shutdown()
    return {"wall_s": wall, "trials_per_s": trials / wall, "reports_per_s": done / wall}


# --- (d) several ask/tell clients on one study ----------------------------------------------------------------


def shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def nestor_client(address: str, sid: str, reports: int, client: str, deferred: bool, barrier, out) -> None:
    """One worker of a user's tuning loop: asks for a trial, reports, completes, until the study is done."""
    stub = controller_stub(address)
    stub.GetStudy(c.GetStudyRequest(study_id=sid))  # connected before the clock starts
    barrier.wait()
    done, round_trips = 0, []
    while True:
        got = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=1, client_id=client))
        if not got.trials:
            if got.study_done:
                break
            time.sleep(0.005)  # the last trials are other clients': wait for the study to end or need more
            continue
        tell_noop(stub, sid, got.trials[0].id, reports, round_trips, deferred)
        done += 1
    out.put((done, time.time(), round_trips))


def optuna_client(work: str, kind: str, trials: int, reports: int, barrier, out) -> None:
    study = optuna_study(Path(work), kind, "multi", load=True)
    round_trips: list[float] = []
    objective = optuna_objective(reports, round_trips)
    barrier.wait()
    study.optimize(objective, n_trials=trials)
    out.put((trials, time.time(), round_trips))


def run_clients(target, args_of, clients: int) -> dict[str, float]:
    """Starts `clients` processes, each `target(*args_of(i), barrier, queue)`; timed from the barrier to the
    last one's end (their start-up, imports and connections are not counted)."""
    ctx = mp.get_context("spawn")  # no fork of a process holding gRPC channels
    barrier, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(i), barrier, out), daemon=True) for i in range(clients)]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=300)
    t0 = time.time()
    got = [out.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    wall = max(end for _, end, _ in got) - t0
    trials = sum(n for n, _, _ in got)
    round_trips = [x for _, _, rts in got for x in rts]
    return {"wall_s": wall, "trials": trials, "trials_per_s": trials / wall, "reports_per_s": len(round_trips) / wall,
            **report_times(round_trips)}


def multi_client_run(work: Path, trials: int, reports: int, clients: int, deferred: bool = False
                     ) -> dict[str, float]:
    ctl = start_controller(work, "--log-level", "WARNING")
    try:
        stub = controller_stub(ctl.address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=noop_spec(trials, reports, clients, managed=False))).id
        r = run_clients(nestor_client, lambda i: (ctl.address, sid, reports, f"client{i}", deferred), clients)
        r["reports_per_s"] = trials * reports / r["wall_s"]  # deferred reports have no round trips to count
        study = stub.GetStudy(c.GetStudyRequest(study_id=sid))
        assert study.counts.completed == trials, study.counts
        return r
    finally:
        ctl.stop()


def optuna_multi_run(work: Path, trials: int, reports: int, clients: int, kind: str) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    optuna_study(work, kind, "multi")
    each = shares(trials, clients)
    return run_clients(optuna_client, lambda i: (str(work), kind, each[i], reports), clients)


# --- (e) a fleet: the load generator's executors under many managed studies ----------------------------------


def fleet_run(work: Path, studies: int, trials: int, reports: int, slots: int, executors: int, procs: int,
              sleep_s: float) -> dict[str, float]:
    """`studies` managed studies at once, `trials` in all, on `slots` slots over `executors` simulated executors
    served by `procs` load-generator processes; durable SQLite."""
    ctl = start_controller(work, "--log-level", "WARNING")
    per_slots = max(1, slots // executors)
    gens: list[Server] = []
    try:
        for i, n in enumerate(shares(executors, procs)):
            if n:
                gens.append(Server(f"loadgen{i}", [
                    sys.executable, str(REPO / "bench" / "loadgen.py"), "--controller", ctl.address,
                    "--executors", str(n), "--slots", str(per_slots), "--reports", str(reports),
                    "--name", f"loadgen{i}", "--stats", str(work / f"loadgen{i}.json")], work))
        stub = controller_stub(ctl.address)
        wait_for_executors(stub, executors, timeout=120)
        total_slots = per_slots * executors
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=noop_spec(2 * total_slots, 1, 2 * total_slots))).id
        wait_end(stub, sid)  # warm: every connection and executor once
        stub.DeleteStudy(c.DeleteStudyRequest(study_id=sid))
        parallel = math.ceil(2 * total_slots / studies)  # all studies together fill every slot and backlog
        label = {"bench": "fleet"}
        t0 = time.time()
        for n in shares(trials, studies):
            spec = noop_spec(n, reports, parallel, sleep_s)
            spec.labels.update(label)
            stub.CreateStudy(c.CreateStudyRequest(spec=spec))
        while stub.ListStudies(c.ListStudiesRequest(labels=label)).studies:
            time.sleep(0.1)
        ended = stub.ListStudies(c.ListStudiesRequest(labels=label, include_finished=True)).studies
        wall = max(st.end_time.ToNanoseconds() / 1e9 for st in ended) - t0
        completed = sum(st.counts.completed for st in ended)
        assert len(ended) == studies and completed == trials, [st.counts for st in ended]
        r = {"wall_s": wall, "trials_per_s": completed / wall, "reports_per_s": completed * reports / wall,
             "slots": total_slots}
        if sleep_s > 0:
            busy = sum(t.final_measurement.elapsed_s for st in ended
                       for t in stub.ListTrials(c.ListTrialsRequest(study_id=st.id)).trials)
            r["utilisation"] = busy / (total_slots * wall)
    finally:
        for g in gens:
            g.stop()
        ctl.stop()
    stats = [json.loads((work / f"loadgen{i}.json").read_text()) for i in range(len(gens))
             if (work / f"loadgen{i}.json").exists()]
    r["refused"] = sum(st["refused"] for st in stats)
    r["peak_busy"] = sum(st["peak_busy"] for st in stats)
    return r


def ratio(x: float, y: float) -> float:
    return x / y if y else float("nan")


def print_rows(rows: list[tuple[str, dict[str, float]]], width: int = 40) -> None:
    print(f"{'run':{width}} {'trials/s':>9} {'reports/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'wall s':>7}")
    for name, r in rows:
        p50 = f"{r['report_p50_ms']:7.2f}" if "report_p50_ms" in r else f"{'-':>7}"
        p99 = f"{r['report_p99_ms']:7.2f}" if "report_p99_ms" in r else f"{'-':>7}"
        print(f"{name:{width}} {r['trials_per_s']:9.1f} {r['reports_per_s']:10.0f} {p50} {p99} {r['wall_s']:7.2f}")


def add_peer_ratios(figures: dict[str, float], key: str, label: str, peer: dict[str, float],
                    durable: dict[str, float], ask_tell: dict[str, float]) -> None:
    """A peer's (a) figures and Nestor's managed and ask/tell trials per second over its, printed and kept."""
    figures.update({
        f"{key}_trials_per_s": peer["trials_per_s"], f"{key}_report_p50_ms": peer["report_p50_ms"],
        f"{key}_report_p99_ms": peer["report_p99_ms"],
        f"durable_over_{key}": durable["trials_per_s"] / peer["trials_per_s"],
        f"ask_tell_over_{key}": ask_tell["trials_per_s"] / peer["trials_per_s"],
    })
    print(f"ratio managed durable / {label}:  {figures[f'durable_over_{key}']:.1f}x trials per second")
    print(f"ratio ask/tell durable / {label}: {figures[f'ask_tell_over_{key}']:.1f}x trials per second")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    # A managed run of 200 trials lasts about half a second: start-up and noise would weigh more than the rate.
    p.add_argument("--managed-trials", type=int, default=2000, help="trials of Nestor's managed runs in (a), (c)")
    p.add_argument("--reports", type=int, default=10)
    p.add_argument("--slots", type=int, default=4, help="executor slots for (a) and (c), and Ray Tune's CPUs")
    # Enough trials that the first round's start and the last round's uneven end (a fixed ~0.1 s of idle
    # slots, 1.4% of a 1,000-trial run) weigh little against the steady state that (b) is about.
    p.add_argument("--util-trials", type=int, default=4000)
    p.add_argument("--util-slots", type=int, default=16, help="slots in all for (b), over --util-executors")
    p.add_argument("--util-executors", type=int, default=4)
    p.add_argument("--sleep", type=float, default=0.1, help="seconds each trial of (b) sleeps")
    p.add_argument("--clients", type=int, default=8, help="(d): ask/tell client processes on one study")
    p.add_argument("--clients-trials", type=int, default=2000, help="(d): trials in all")
    p.add_argument("--fleet-slots", type=int, default=1000, help="(e): slots in all, over --fleet-executors")
    p.add_argument("--fleet-executors", type=int, default=10)
    p.add_argument("--fleet-procs", type=int, default=2, help="(e): load-generator processes serving them")
    p.add_argument("--fleet-studies", type=int, default=100, help="(e): managed studies at once")
    p.add_argument("--fleet-trials", type=int, default=20000, help="(e): trials in all, shared by the studies")
    p.add_argument("--fleet-sleep", type=float, default=0.0,
                   help="(e): seconds each trial sleeps (above 0, utilisation is reported)")
    p.add_argument("--skip-optuna", action="store_true", help="no Optuna peers")
    p.add_argument("--skip-journal", action="store_true", help="no Optuna JournalStorage peers")
    p.add_argument("--skip-ray", action="store_true", help="no Ray Tune peer")
    p.add_argument("--skip", default="", help="parts to leave out, e.g. 'b,d,e' (a and c always run)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    a = p.parse_args()
    skip = {x.strip() for x in a.skip.split(",") if x.strip()}
    work = Path(tempfile.mkdtemp(prefix="nestor-bench-"))
    ray_ok = ray_tune_installed()
    journal = not (a.skip_optuna or a.skip_journal)

    durable = managed_run(work / "a", a.managed_trials, a.reports, a.slots, 1, durable=True)
    ask_tell = ask_tell_run(work / "a2", a.trials, a.reports)
    ask_tell_deferred = ask_tell_run(work / "a3", a.trials, a.reports, deferred=True)
    optuna = None if a.skip_optuna else optuna_run(work, a.trials, a.reports)
    optuna_journal = optuna_run(work / "journal", a.trials, a.reports, "journal") if journal else None
    ray = ray_run(work, a.trials, a.reports, a.slots) if ray_ok and not a.skip_ray else None
    volatile = managed_run(work / "c", a.managed_trials, a.reports, a.slots, 1, durable=False)
    util = None
    if "b" not in skip:
        per = a.util_slots // a.util_executors
        util = managed_run(work / "b", a.util_trials, 1, per, a.util_executors, durable=True, sleep_s=a.sleep)
    multi = multi_deferred = optuna_multi = optuna_multi_journal = None
    if "d" not in skip:
        multi = multi_client_run(work / "d", a.clients_trials, a.reports, a.clients)
        multi_deferred = multi_client_run(work / "d2", a.clients_trials, a.reports, a.clients, deferred=True)
        if not a.skip_optuna:
            optuna_multi = optuna_multi_run(work / "d-sqlite", a.clients_trials, a.reports, a.clients, "sqlite")
        if journal:
            optuna_multi_journal = optuna_multi_run(work / "d-journal", a.clients_trials, a.reports, a.clients,
                                                    "journal")
    fleet = None
    if "e" not in skip:
        fleet = fleet_run(work / "e", a.fleet_studies, a.fleet_trials, a.reports, a.fleet_slots, a.fleet_executors,
                          a.fleet_procs, a.fleet_sleep)

    rows = [("nestor managed, durable SQLite", durable), ("nestor ask/tell, durable SQLite", ask_tell),
            ("nestor ask/tell, reports deferred", ask_tell_deferred)]
    if optuna:
        rows.append(("optuna 5, SQLite + SH pruner", optuna))
    if optuna_journal:
        rows.append(("optuna 5, JournalFile + SH pruner", optuna_journal))
    if ray:
        rows.append((f"ray tune, ASHA, {a.slots} CPUs", ray))
    rows.append(("nestor managed, durability off", volatile))
    print(f"(a)/(c) no-op trials x {a.reports} reports: {a.managed_trials} in Nestor's managed runs (on {a.slots} "
          f"executor slots), {a.trials} in the others")
    print_rows(rows)
    if not ray_ok:
        print("ray tune: not installed")
    figures: dict[str, object] = {
        "durable_trials_per_s": durable["trials_per_s"], "durable_reports_per_s": durable["reports_per_s"],
        "ask_tell_trials_per_s": ask_tell["trials_per_s"],
        "ask_tell_report_p50_ms": ask_tell["report_p50_ms"], "ask_tell_report_p99_ms": ask_tell["report_p99_ms"],
        "ask_tell_deferred_trials_per_s": ask_tell_deferred["trials_per_s"],
        "non_durable_trials_per_s": volatile["trials_per_s"],
        "durable_over_non_durable": durable["trials_per_s"] / volatile["trials_per_s"],
        "ray_tune_installed": ray_ok,
    }
    if util:
        figures.update({"utilisation": util["utilisation"], "utilisation_steady": util["utilisation_steady"],
                        "utilisation_wall_s": util["wall_s"],
                        "utilisation_slots": a.util_slots, "utilisation_trials": a.util_trials})
    for key, label, peer in (("optuna", "optuna", optuna), ("optuna_journal", "optuna journal", optuna_journal)):
        if peer:
            add_peer_ratios(figures, key, label, peer, durable, ask_tell)
    if ray:
        figures.update({"ray_tune_trials_per_s": ray["trials_per_s"], "ray_tune_reports_per_s": ray["reports_per_s"],
                        "durable_over_ray_tune": durable["trials_per_s"] / ray["trials_per_s"]})
        print(f"ratio managed durable / ray tune: {figures['durable_over_ray_tune']:.1f}x trials per second")
    print(f"ratio durable / durability off:  {figures['durable_over_non_durable']:.2f}")
    if util:
        print(f"(b) {a.util_trials} trials sleeping {a.sleep * 1e3:.0f} ms on {a.util_slots} slots "
              f"({a.util_executors} executors): utilisation {util['utilisation']:.1%} in {util['wall_s']:.2f} s "
              f"(ideal {a.util_trials * a.sleep / a.util_slots:.2f} s); {util['utilisation_steady']:.2%} while "
              "trials waited for slots (the first round's start and the last round's end left out)")
    if multi:
        print(f"(d) {a.clients} client processes sharing one study: {a.clients_trials} no-op trials x "
              f"{a.reports} reports in all")
        rows = [(f"nestor ask/tell, durable SQLite, {a.clients} clients", multi),
                (f"nestor ask/tell, reports deferred, {a.clients} clients", multi_deferred)]
        if optuna_multi:
            rows.append((f"optuna 5, SQLite, {a.clients} processes", optuna_multi))
        if optuna_multi_journal:
            rows.append((f"optuna 5, JournalFile, {a.clients} processes", optuna_multi_journal))
        print_rows(rows, 44)
        figures.update({"clients": a.clients, "clients_trials": a.clients_trials,
                        "clients_trials_per_s": multi["trials_per_s"],
                        "clients_deferred_trials_per_s": multi_deferred["trials_per_s"],
                        "clients_report_p50_ms": multi["report_p50_ms"],
                        "clients_report_p99_ms": multi["report_p99_ms"]})
        for key, name, peer in (("optuna", "optuna SQLite", optuna_multi),
                                ("optuna_journal", "optuna journal", optuna_multi_journal)):
            if peer:
                figures[f"{key}_clients_trials_per_s"] = peer["trials_per_s"]
                figures[f"clients_over_{key}"] = ratio(multi["trials_per_s"], peer["trials_per_s"])
                figures[f"clients_deferred_over_{key}"] = ratio(multi_deferred["trials_per_s"], peer["trials_per_s"])
                print(f"ratio {a.clients} clients nestor / {name}: {figures[f'clients_over_{key}']:.1f}x trials/s; "
                      f"reports deferred {figures[f'clients_deferred_over_{key}']:.1f}x")
    if fleet:
        print(f"(e) {a.fleet_studies} managed studies at once, {a.fleet_trials} no-op trials x {a.reports} reports "
              f"in all, on {fleet['slots']} slots ({a.fleet_executors} load-generator executors in "
              f"{a.fleet_procs} processes, durable SQLite)")
        util_note = f", utilisation {fleet['utilisation']:.1%}" if "utilisation" in fleet else ""
        print(f"    {fleet['trials_per_s']:.1f} trials/s, {fleet['reports_per_s']:.0f} reports/s in "
              f"{fleet['wall_s']:.2f} s{util_note}; at most {fleet['peak_busy']} slots busy at once, "
              f"{fleet['refused']} assignments refused")
        figures.update({"fleet_slots": fleet["slots"], "fleet_executors": a.fleet_executors,
                        "fleet_studies": a.fleet_studies, "fleet_trials": a.fleet_trials,
                        "fleet_trials_per_s": fleet["trials_per_s"], "fleet_reports_per_s": fleet["reports_per_s"],
                        "fleet_wall_s": fleet["wall_s"], "fleet_refused": fleet["refused"]})
        if "utilisation" in fleet:
            figures["fleet_utilisation"] = fleet["utilisation"]
    if a.json:
        print(json_line(figures))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"bench failed: {e.code().name}: {e.details()}")
