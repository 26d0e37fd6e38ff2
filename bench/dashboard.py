"""How fast the dashboard shows a big study: time to first render of the study page, in a real browser.

For 1,000, 10,000 and 100,000 trials (a study of six parameters made by ask/tell), a nestor-dashboard
started for the measurement (so nothing of the study is loaded) is pointed at the controller and headless
Chromium opens the study page; the time is from the start of the navigation to the first render (the
history plot and the table's first page drawn; the page marks it), read from the browser's own clock.
Each size is measured twice in one new browser, each time with a dashboard just started on the same
port: "cold", the browser's first visit, and "warm", a browser that has opened the dashboard before and
so has plotly.js (4.8 MB) compiled in its cache, as a user's browser does. The peer in the same run, when
installed (requirements-bench.txt): optuna-dashboard on an Optuna SQLite study of the same trials,
measured the same two ways, until its history plot holds every trial. Targets (on the warm figure):
under 2 s at 10,000 trials, under 5 s at 100,000. The ratio is optuna-dashboard's warm time over
Nestor's (> 1: Nestor faster).

    .venv/bin/python bench/dashboard.py [--json] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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


@contextmanager
def fresh_browser() -> Iterator[Any]:
    """A new Chromium per page, past its own start-up: nothing one dashboard's page compiled or cached (plotly.js
    is several megabytes) helps the next, and neither pays for the browser's first navigation."""
    with chromium() as driver:
        driver.get("data:text/html,<p>warm</p>")
        yield driver


def nestor_render(driver: Any, cmd: list[str], workdir: Path, study_id: str) -> tuple[float, float]:
    """A dashboard started now (nothing of the study loaded) and the study page opened in ``driver``: (first
    render: the history plot and the table's first page; every plot drawn), in seconds from the navigation's
    start, read from the page's own marks."""
    dash = Server("dashboard", cmd, workdir)
    try:
        url = f"{dash.address}/studies/{study_id}"
        # A script waits while the page draws; the times are the page's own, read whenever it answers.
        driver.set_script_timeout(RENDER_TIMEOUT_S)
        driver.get(url)
        wait_until(lambda: driver.execute_script("return document.body.dataset.plottedAt"), RENDER_TIMEOUT_S,
                   f"render of {url}")
        first, every = driver.execute_script("return [document.body.dataset.renderedAt, "
                                             "document.body.dataset.plottedAt]")
        return round(float(first) / 1000, 3), round(float(every) / 1000, 3)
    finally:
        dash.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def optuna_render(driver: Any, storage: str, workdir: Path, n: int, port: int) -> float | None:
    """optuna-dashboard started now, until its history plot holds the study's n points (polled every 0.1 s: up
    to that much late)."""
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
        return round(float(driver.execute_script("return performance.now()")) / 1000, 3)
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
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object on the last line")
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
    rows: list[dict[str, Any]] = []
    ctl = start_controller(workdir, "--durability", "off")
    try:
        with Client(ctl.address, timeout=300) as client:
            for n in sizes:
                study = client.create_study({"name": f"bench-{n}", "algorithm": "random", "seed": n,
                                             "objective": {"metric": "value", "goal": "minimize"},
                                             "budget": {"max_trials": n}, "space": SPACE})
                t0 = time.perf_counter()
                told = fill(study, n)
                made_s = time.perf_counter() - t0
                port = free_port()
                cmd = [sys.executable, "-m", "nestor_dashboard", "--controller", ctl.address, "--port", str(port)]
                with fresh_browser() as driver:
                    cold = nestor_render(driver, cmd, workdir, study.id)
                    warm = nestor_render(driver, cmd, workdir, study.id)
                row: dict[str, Any] = {"trials": n, "nestor_first_render_s": warm[0], "nestor_every_plot_s": warm[1],
                                       "nestor_cold_browser_s": cold[0], "target_s": TARGETS_S.get(n),
                                       "ask_tell_s": round(made_s, 1),
                                       "within_target": warm[0] < TARGETS_S[n] if n in TARGETS_S else None,
                                       "optuna_dashboard_first_render_s": None, "optuna_dashboard_cold_browser_s": None,
                                       "ratio": None}
                if peer and n <= args.peer_max:
                    storage = optuna_study(workdir / f"optuna-{n}.db", told)
                    with fresh_browser() as driver:
                        peer_cold = optuna_render(driver, storage, workdir, n, port)
                        peer_warm = optuna_render(driver, storage, workdir, n, port)
                    row["optuna_dashboard_first_render_s"] = peer_warm
                    row["optuna_dashboard_cold_browser_s"] = peer_cold
                    row["ratio"] = None if peer_warm is None else round(peer_warm / warm[0], 2)
                rows.append(row)
                print(f"  {n} trials done", file=sys.stderr, flush=True)
    finally:
        ctl.stop()
    print_table(rows, peer, args.peer_max)
    if args.json:
        print(json.dumps({"sizes": rows, "peer_installed": peer,
                          "targets_met": all(r["within_target"] for r in rows if r["within_target"] is not None)}))
    return 0


def print_table(rows: list[dict[str, Any]], peer: bool, peer_max: int) -> None:
    """Seconds to first render; the ratio is optuna-dashboard's time over Nestor's (> 1: Nestor faster)."""
    print("seconds to first render of the study page; warm: a browser that has opened the dashboard before, "
          "cold: a new one")
    print(f"{'trials':>8}  {'nestor warm':>11}  {'cold':>6}  {'every plot':>10}  {'target':>6}  {'met':>4}  "
          f"{'optuna-dash warm':>16}  {'cold':>6}  {'ratio':>6}")

    def secs(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for r in rows:
        target = f"{r['target_s']:.0f}" if r["target_s"] else "-"
        met = {True: "yes", False: "NO", None: "-"}[r["within_target"]]
        if r["optuna_dashboard_first_render_s"] is not None:
            other = secs(r["optuna_dashboard_first_render_s"])
        else:
            other = "not installed" if not peer else ("not run" if r["trials"] > peer_max else "no render")
        print(f"{r['trials']:>8}  {secs(r['nestor_first_render_s']):>11}  {secs(r['nestor_cold_browser_s']):>6}  "
              f"{r['nestor_every_plot_s']:>10.1f}  {target:>6}  {met:>4}  {other:>16}  "
              f"{secs(r['optuna_dashboard_cold_browser_s']):>6}  {secs(r['ratio']):>6}")


if __name__ == "__main__":
    sys.exit(main())
