"""How fast the dashboard shows a big study: time to first render of the study page, in a real browser.

For 1,000, 10,000 and 100,000 trials (a study of six parameters made by ask/tell), a fresh
nestor-dashboard is pointed at the controller and headless Chromium opens the study page; the time is
from the start of the navigation to the moment every plot of the page is drawn (the page marks it),
read from the browser's own clock. The peer in the same run, when installed (requirements-bench.txt):
optuna-dashboard on an Optuna SQLite study of the same trials, until its history plot is drawn.
Targets: under 2 s at 10,000 trials, under 5 s at 100,000.

    .venv/bin/python bench/dashboard.py [--json] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from browser import available, chromium, wait_until  # noqa: E402
from cluster import Server, start_controller  # noqa: E402
from nestor import Client  # noqa: E402
from nestor.study import Study  # noqa: E402

TARGETS_S = {10_000: 2.0, 100_000: 5.0}
#: Optuna writes a trial per transaction: 100,000 take far longer than everything else here together, so
#: by default the peer runs up to this many trials (--peer-max raises it).
PEER_MAX = 10_000
SPACE = {"x0": {"type": "double", "min": -5, "max": 10}, "x1": {"type": "double", "min": 0, "max": 15},
         "x2": {"type": "double", "min": 1e-4, "max": 1, "scale": "log"}, "x3": {"type": "int", "min": 1, "max": 64},
         "x4": {"type": "double", "min": 0, "max": 1}, "x5": {"type": "categorical", "choices": ["a", "b", "c"]}}
BATCH = 500
RENDER_TIMEOUT_S = 300.0


def objective(p: dict[str, Any]) -> float:
    x0, x1 = p["x0"], p["x1"]
    return (x1 - 5.1 / (4 * math.pi ** 2) * x0 ** 2 + 5 / math.pi * x0 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * \
        math.cos(x0) + 10 + 0.1 * p["x4"]


def fill(study: Study, n: int) -> list[tuple[dict[str, Any], float]]:
    """Asks and tells ``n`` trials, a batch at a time, with a few tells in flight."""
    told: list[tuple[dict[str, Any], float]] = []

    def tell(trial: Any) -> tuple[dict[str, Any], float]:
        value = objective(trial.params)
        trial.complete({"value": value})
        return trial.params, value

    with ThreadPoolExecutor(4) as pool:
        while len(told) < n:
            batch = study.suggest(min(BATCH, n - len(told)))
            if not batch:
                break
            told.extend(pool.map(tell, batch))
    return told


def nestor_render(driver: Any, url: str) -> tuple[float, float]:
    """(first render: the history plot and the table's first page; every plot drawn), in seconds."""
    # A script waits while the page draws; the times are the page's own, read whenever it answers.
    driver.set_script_timeout(RENDER_TIMEOUT_S)
    driver.get(url)
    wait_until(lambda: driver.execute_script("return document.body.dataset.plottedAt"), RENDER_TIMEOUT_S,
               f"render of {url}")
    first, every = driver.execute_script("return [document.body.dataset.renderedAt, document.body.dataset.plottedAt]")
    return float(first) / 1000, float(every) / 1000


def optuna_study(path: Path, told: list[tuple[dict[str, Any], float]]) -> str:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {"x0": FloatDistribution(-5, 10), "x1": FloatDistribution(0, 15),
             "x2": FloatDistribution(1e-4, 1, log=True), "x3": IntDistribution(1, 64),
             "x4": FloatDistribution(0, 1), "x5": CategoricalDistribution(["a", "b", "c"])}
    url = f"sqlite:///{path}"
    study = optuna.create_study(study_name="bench", storage=url)
    trials = [optuna.trial.create_trial(params=p, distributions=dists, value=v) for p, v in told]
    study.add_trials(trials)
    return url


def optuna_render(driver: Any, storage: str, workdir: Path, n: int) -> float | None:
    """Until its history plot holds the study's n points (polled every 0.1 s: up to that much late)."""
    port = 18000 + random.randrange(1000)
    log = open(workdir / "optuna-dashboard.log", "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([str(Path(sys.executable).parent / "optuna-dashboard"), storage, "--port", str(port),
                             "--host", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/dashboard"
        wait_until(lambda: _answers(base), 60, "optuna-dashboard to listen")
        driver.get(f"{base}/studies/1")
        wait_until(lambda: driver.execute_script(
            "const p = document.getElementById('plot-history');"
            "return !!(p && p.data && p.data.some((t) => t.x && t.x.length >= arguments[0]))", n),
            RENDER_TIMEOUT_S, "optuna-dashboard's history plot")
        return float(driver.execute_script("return performance.now()")) / 1000
    except AssertionError:
        return None
    finally:
        proc.terminate()
        proc.wait(30)


def _answers(url: str) -> bool:
    import urllib.request
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--peer-max", type=int, default=PEER_MAX,
                        help=f"run optuna-dashboard only on studies of up to this many trials (default {PEER_MAX})")
    args = parser.parse_args()
    if not available():
        print("bench/dashboard.py needs Debian's chromium and chromium-driver", file=sys.stderr)
        return 2
    peer = importlib.util.find_spec("optuna_dashboard") is not None
    sizes = [int(x) for x in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="nestor-bench-dashboard-"))
    ctl = start_controller(workdir, "--durability", "off")
    try:
        with Client(ctl.address, timeout=300) as client, chromium() as driver:
            for n in sizes:
                study = client.create_study({"name": f"bench-{n}", "algorithm": "random", "seed": n,
                                             "objective": {"metric": "value", "goal": "minimize"},
                                             "budget": {"max_trials": n}, "space": SPACE})
                t0 = time.perf_counter()
                told = fill(study, n)
                made_s = time.perf_counter() - t0
                # A fresh dashboard per size: nothing of the study is cached before the page asks.
                dash = Server(f"dashboard-{n}", [sys.executable, "-m", "nestor_dashboard", "--controller",
                                                 ctl.address, "--port", "0"], workdir)
                try:
                    seconds, every_plot = nestor_render(driver, f"{dash.address}/studies/{study.id}")
                finally:
                    dash.stop()
                row: dict[str, Any] = {"trials": n, "nestor_first_render_s": round(seconds, 3),
                                       "nestor_every_plot_s": round(every_plot, 3),
                                       "target_s": TARGETS_S.get(n), "ask_tell_s": round(made_s, 1)}
                if n in TARGETS_S:
                    row["within_target"] = seconds < TARGETS_S[n]
                if peer and n <= args.peer_max:
                    storage = optuna_study(workdir / f"optuna-{n}.db", told)
                    peer_s = optuna_render(driver, storage, workdir, n)
                    row["optuna_dashboard_first_render_s"] = None if peer_s is None else round(peer_s, 3)
                elif peer:
                    row["optuna_dashboard_first_render_s"] = f"not run (over --peer-max {args.peer_max})"
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    peer_text = f"  optuna-dashboard {row.get('optuna_dashboard_first_render_s')} s" if peer else ""
                    target = TARGETS_S.get(n, "-")
                    print(f"{n:>7} trials: nestor-dashboard {seconds:.2f} s, every plot {every_plot:.2f} s "
                          f"(target {target}){peer_text}", flush=True)
    finally:
        ctl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
