"""Does the controller stay fast as a study grows? Ask/tell through a real controller, in slices, against Optuna.

A client-driven study of 5 doubles (a sphere, minimised) asks for suggestions in
batches of 8 and tells each result at once, through a real controller with its
durable SQLite store, up to --max-trials trials for random and tpe and
--gp-max-trials for gp. Every --slice trials it records the seconds that slice
took per 1,000 trials and the controller's resident memory (VmRSS). At the end
the controller is stopped and started again on the same store: the restart time
runs from the start of the process to its first successful GetStudy. Optuna's
TPE does the same (ask in batches of 8, tell) in memory and with SQLite, each
stopped once it has run over --peer-minutes; its memory is this process's.

    .venv/bin/python bench/scale.py [--max-trials 100000] [--slice 1000] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchlib"))

import grpc  # noqa: E402
from cluster import Server, controller_stub, start_controller  # noqa: E402
from nestor.v1 import controller_pb2 as c  # noqa: E402
from nestor.v1 import space_pb2 as sp  # noqa: E402
from nestor.v1 import study_pb2 as s  # noqa: E402
from saved import json_line  # noqa: E402

DIMS = 5
BATCH = 8


def objective(xs: list[float]) -> float:
    return sum((x - 0.3) ** 2 for x in xs)


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Run:
    """The slices of one run: (trials so far, seconds per 1,000 trials, RSS in MB, whether cut short, median
    milliseconds of one ask for a batch of suggestions)."""

    name: str
    slices: list[tuple[int, float, float, bool, float]] = field(default_factory=list)
    stopped: str = ""  # why it ended before its trials, if it did
    restart_s: float | None = None
    restart_rss_mb: float | None = None

    def add(self, done: int, trials: int, seconds: float, rss: float, asks: list[float], partial: bool = False) -> None:
        self.slices.append((done, 1000 * seconds / trials, rss, partial, 1e3 * statistics.median(asks)))

    @property
    def full(self) -> list[tuple[int, float, float, bool, float]]:
        return [x for x in self.slices if not x[3]]

    def ratio(self) -> float | None:
        full = self.full
        return full[-1][1] / full[0][1] if len(full) >= 2 and full[0][1] > 0 else None


class Slicer:
    """Times the trials of a run into slices of `size`; `over()` is true past the run's time limit."""

    def __init__(self, run: Run, size: int, rss, limit_s: float = 0.0) -> None:
        self.run, self.size, self.rss, self.limit_s = run, size, rss, limit_s
        self.done = self.in_slice = 0
        self.asks: list[float] = []
        self.t0 = self.slice_t0 = time.perf_counter()

    def count(self, n: int, ask_s: float) -> None:
        self.asks.append(ask_s)
        self.done += n
        self.in_slice += n
        if self.in_slice >= self.size:
            now = time.perf_counter()
            self.run.add(self.done, self.in_slice, now - self.slice_t0, self.rss(), self.asks)
            self.asks = []
            self.in_slice, self.slice_t0 = 0, time.perf_counter()  # RSS read outside the clock

    def batch(self) -> int:
        """The next batch: BATCH, or fewer where a slice ends, so that slices hold exactly `size` trials."""
        return min(BATCH, self.size - self.in_slice)

    def over(self) -> bool:
        if self.limit_s > 0 and time.perf_counter() - self.t0 > self.limit_s:
            self.run.stopped = f"stopped after {self.limit_s / 60:g} min"
            return True
        return False

    def finish(self) -> None:
        if self.in_slice:
            seconds = time.perf_counter() - self.slice_t0
            self.run.add(self.done, self.in_slice, seconds, self.rss(), self.asks, partial=True)


def study_spec(algorithm: str, trials: int) -> s.StudySpec:
    return s.StudySpec(
        name=f"scale-{algorithm}", seed=1, algorithm=s.AlgorithmSpec(name=algorithm),
        space=sp.SearchSpace(parameters=[sp.Parameter(name=f"x{i}", double=sp.DoubleDomain(min=0, max=1))
                                         for i in range(DIMS)]),
        objectives=[s.Objective(metric="value", goal=s.GOAL_MINIMIZE)],
        budget=s.Budget(max_trials=trials, max_parallel=BATCH))


def first_get(stub, sid: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            stub.GetStudy(c.GetStudyRequest(study_id=sid), timeout=30)
            return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def nestor_run(work: Path, algorithm: str, trials: int, size: int, limit_s: float) -> Run:
    run = Run(f"nestor {algorithm}")
    ctl: Server = start_controller(work, "--log-level", "WARNING")
    try:
        stub = controller_stub(ctl.address)
        sid = stub.CreateStudy(c.CreateStudyRequest(spec=study_spec(algorithm, trials))).id
        slicer = Slicer(run, size, lambda: rss_mb(ctl.proc.pid), limit_s)
        while not slicer.over():
            a0 = time.perf_counter()
            got = stub.SuggestTrials(c.SuggestTrialsRequest(study_id=sid, count=slicer.batch(), client_id="scale"))
            ask_s = time.perf_counter() - a0
            if not got.trials:
                break
            for t in got.trials:
                value = objective([t.params[f"x{i}"].double_value for i in range(DIMS)])
                stub.CompleteTrial(c.CompleteTrialRequest(
                    study_id=sid, trial_id=t.id, final_measurement=s.Measurement(metrics={"value": value})))
            slicer.count(len(got.trials), ask_s)
        slicer.finish()
    finally:
        ctl.stop(timeout=120)
    t0 = time.perf_counter()
    ctl = start_controller(work, "--log-level", "WARNING")
    try:
        first_get(controller_stub(ctl.address), sid)
        run.restart_s = time.perf_counter() - t0
        run.restart_rss_mb = rss_mb(ctl.proc.pid)
    finally:
        ctl.stop(timeout=120)
    return run


def optuna_run(work: Path, storage: str, trials: int, size: int, limit_s: float) -> Run:
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = Run(f"optuna tpe, {storage}")
    url = f"sqlite:///{work / 'optuna.db'}" if storage == "sqlite" else None
    study = optuna.create_study(storage=url, sampler=optuna.samplers.TPESampler(seed=1))
    space = {f"x{i}": FloatDistribution(0, 1) for i in range(DIMS)}
    slicer = Slicer(run, size, rss_mb, limit_s)
    while slicer.done < trials and not slicer.over():
        a0 = time.perf_counter()
        batch = [study.ask(space) for _ in range(min(slicer.batch(), trials - slicer.done))]
        ask_s = time.perf_counter() - a0
        for t in batch:
            study.tell(t, objective([t.params[f"x{i}"] for i in range(DIMS)]))
        slicer.count(len(batch), ask_s)
    slicer.finish()
    return run


def table(title: str, runs: list[Run]) -> None:
    print(title)
    print(f"{'trials':>8}" + "".join(f" {r.name[:34]:>34}" for r in runs))
    print(f"{'':>8}" + "".join(f" {'s/1000':>14} {'ask ms':>9} {'RSS MB':>9}" for _ in runs))
    ends = sorted({x[0] for r in runs for x in r.slices})
    for end in ends:
        cells = []
        for r in runs:
            row = next((x for x in r.slices if x[0] == end), None)
            if row is None:
                cells.append(f" {'':>14} {'':>9} {'':>9}")
            else:
                mark = "*" if row[3] else ""
                cells.append(f" {f'{row[1]:.3f}{mark}':>14} {row[4]:9.2f} {row[2]:9.1f}")
        print(f"{end:8d}" + "".join(cells))
    print(f"{'last/1st':>8}" + "".join(f" {'-' if r.ratio() is None else f'{r.ratio():.2f}':>14} {'':>19}"
                                       for r in runs))
    for r in runs:
        notes = []
        if r.restart_s is not None:
            notes.append(f"restart on the final store {r.restart_s:.2f} s ({r.restart_rss_mb:.0f} MB)")
        if r.stopped:
            notes.append(r.stopped)
        if notes:
            print(f"  {r.name}: " + "; ".join(notes))


def figures_of(key: str, r: Run) -> dict[str, object]:
    full = r.full or r.slices
    out: dict[str, object] = {f"{key}_trials": r.slices[-1][0] if r.slices else 0}
    if full:
        out.update({f"{key}_s_per_1000_first": full[0][1], f"{key}_s_per_1000_last": full[-1][1],
                    f"{key}_last_over_first": r.ratio(), f"{key}_rss_mb_first": full[0][2],
                    f"{key}_rss_mb_last": full[-1][2], f"{key}_ask_p50_ms_first": full[0][4],
                    f"{key}_ask_p50_ms_last": full[-1][4]})
        out[f"{key}_slices"] = [[x[0], round(x[1], 4), round(x[2], 1), round(x[4], 3)] for x in r.slices]
    if r.restart_s is not None:
        out[f"{key}_restart_s"] = r.restart_s
        out[f"{key}_restart_rss_mb"] = r.restart_rss_mb
    if r.stopped:
        out[f"{key}_stopped"] = True
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-trials", type=int, default=100_000, help="trials for random and tpe")
    p.add_argument("--gp-max-trials", type=int, default=5000, help="trials for gp, at most --max-trials (0: no gp)")
    p.add_argument("--slice", type=int, default=1000, help="trials per slice")
    p.add_argument("--algorithms", default="random,tpe,gp", help="Nestor's algorithms to run, comma-separated")
    p.add_argument("--minutes", type=float, default=0.0, help="stop each Nestor run after this long (0: never)")
    p.add_argument("--peer-minutes", type=float, default=10.0, help="stop each Optuna run after this long")
    p.add_argument("--skip-optuna", action="store_true")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    a = p.parse_args()
    if a.slice < 1 or a.max_trials < a.slice:
        p.error("--max-trials must be at least --slice, and --slice at least 1")
    work = Path(tempfile.mkdtemp(prefix="nestor-scale-"))
    algorithms = [x.strip() for x in a.algorithms.split(",") if x.strip()]
    runs: dict[str, Run] = {}
    for alg in algorithms:
        trials = min(a.gp_max_trials, a.max_trials) if alg == "gp" else a.max_trials
        if trials > 0:
            runs[alg] = nestor_run(work / alg, alg, trials, min(a.slice, trials), 60 * a.minutes)
    peers: dict[str, Run] = {}
    if not a.skip_optuna:
        for storage in ("memory", "sqlite"):
            (work / storage).mkdir()
            peers[f"optuna_tpe_{storage}"] = optuna_run(work / storage, storage, a.max_trials, a.slice,
                                                        60 * a.peer_minutes)

    print(f"ask/tell, {DIMS} doubles, suggestions in batches of {BATCH}, durable SQLite controller; "
          f"seconds per 1,000 trials in slices of {a.slice} (* a slice cut short); ask ms: median of one "
          f"ask for a batch; RSS: the controller's (Nestor), this process's (Optuna)")
    figures: dict[str, object] = {"slice": a.slice, "max_trials": a.max_trials,
                                  "gp_max_trials": min(a.gp_max_trials, a.max_trials), "cpus": os.cpu_count()}
    for alg, r in runs.items():
        shown = [r, *peers.values()] if alg == "tpe" else [r]
        table(f"\n{alg}", shown)
        figures.update(figures_of(alg, r))
    if "tpe" not in runs and peers:
        table("\noptuna tpe", list(peers.values()))
    for key, r in peers.items():
        figures.update(figures_of(key, r))
    if "tpe" in runs:
        for key, r in peers.items():
            if r.full and runs["tpe"].full:
                # The same slice, where both reached it: Optuna's seconds over Nestor's.
                common = {x[0]: x[1] for x in runs["tpe"].full}
                both = [(x[1], common[x[0]]) for x in r.full if x[0] in common]
                if both:
                    # Above 1: Nestor's slice took less time than Optuna's.
                    figures[f"tpe_speed_over_{key}"] = both[-1][0] / both[-1][1]
                    print(f"speed ratio nestor tpe / {r.name} at {max(x[0] for x in r.full if x[0] in common)} "
                          f"trials: {figures[f'tpe_speed_over_{key}']:.1f}x")
    if a.json:
        print(json_line(figures))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"bench failed: {e.code().name}: {e.details()}")
