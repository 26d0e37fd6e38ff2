"""The dashboard in a real headless Chromium, against a real controller and executor.

Studies: a random search on the `synthetic` trainable where only x0 and x1 of six parameters matter
(branin in two dimensions), an ASHA search with intermediate values and decisions, and client-driven
studies (two objectives; one the test tells trials to while the page is open).
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import chromium, console_errors, open_page, screenshot, skip_without_chromium, wait_until
from cluster import Server, controller_stub, start_controller, start_executor, wait_for_executors
from nestor import Client

pytestmark = [skip_without_chromium(), pytest.mark.timeout(600)]

SIX = {"x0": {"type": "double", "min": -5, "max": 10}, "x1": {"type": "double", "min": 0, "max": 15},
       **{f"x{i}": {"type": "double", "min": 0, "max": 1} for i in range(2, 5)},
       "x5": {"type": "categorical", "choices": ["a", "b", "c"]}}
BRANIN_TRIALS = 80


def branin_spec() -> dict[str, Any]:
    return {"name": "branin-six", "trainable": "synthetic", "algorithm": "random", "seed": 3,
            "trainable_config": {"function": "branin", "dim": 2},
            "objective": {"metric": "value", "goal": "minimize"}, "labels": {"suite": "dashboard"},
            "budget": {"max_trials": BRANIN_TRIALS, "max_parallel": 2}, "space": SIX}


def asha_spec() -> dict[str, Any]:
    return {"name": "branin-asha", "trainable": "synthetic", "algorithm": "random", "seed": 5,
            "trainable_config": {"function": "branin", "dim": 2}, "scheduler": "asha",
            "fidelity": {"name": "epoch", "min": 1, "max": 9},
            "objective": {"metric": "value", "goal": "minimize"}, "labels": {"suite": "dashboard"},
            "budget": {"max_trials": 24, "max_parallel": 2},
            "space": {"x0": SIX["x0"], "x1": SIX["x1"]}}


def two_objectives_spec() -> dict[str, Any]:
    return {"name": "accuracy-vs-latency", "algorithm": "random", "seed": 9,
            "objectives": [{"metric": "error", "goal": "minimize"}, {"metric": "latency_ms", "goal": "minimize"}],
            "budget": {"max_trials": 40}, "space": {"width": {"type": "int", "min": 8, "max": 512, "scale": "log"},
                                                     "depth": {"type": "int", "min": 1, "max": 8}}}


def live_spec() -> dict[str, Any]:
    return {"name": "live", "algorithm": "random", "seed": 2, "objective": {"metric": "loss", "goal": "minimize"},
            "budget": {"max_trials": 50}, "space": {"lr": {"type": "double", "min": 1e-4, "max": 1, "scale": "log"},
                                                    "momentum": {"type": "double", "min": 0, "max": 1}}}


PBT_STEPS = 20


def pbt_spec() -> dict[str, Any]:
    """Population-based training on the PBT paper's toy problem (as tests/test_pbt.py, shorter): two members
    from the paper's start, a decision every 4 steps."""
    unit = {"type": "double", "min": 0, "max": 1}
    return {"name": "toy-pbt", "trainable": "pbt_toy", "algorithm": "random", "seed": 5,
            "trainable_config": {"lr": 0.1}, "objective": {"metric": "q", "goal": "maximize"},
            "scheduler": {"name": "pbt", "settings": {"population_size": 2, "perturbation_interval": 4}},
            "fidelity": {"name": "step", "min": 1, "max": PBT_STEPS}, "budget": {"max_parallel": 2},
            "space": {"h0": unit, "h1": unit}, "enqueue": [{"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0}]}


class Setup:
    def __init__(self, client: Client, dashboard: Server, studies: dict[str, Any]) -> None:
        self.client = client
        self.url = dashboard.address
        self.studies = studies


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("dashboard")
    ctl = start_controller(tmp)
    executor = start_executor(tmp, ctl.address, slots=2)
    # The module, not the console script: `make test` runs without the virtualenv on PATH.
    dashboard = Server("dashboard", [sys.executable, "-m", "nestor_dashboard", "--controller", ctl.address,
                                     "--port", "0"], tmp)
    client = Client(ctl.address)
    try:
        wait_for_executors(controller_stub(ctl.address), 1)
        branin = client.create_study(branin_spec())
        asha = client.create_study(asha_spec())
        pbt = client.create_study(pbt_spec())
        pareto = client.create_study(two_objectives_spec())
        rng = random.Random(4)
        for t in pareto.suggest(30):
            width, depth = t.params["width"], t.params["depth"]
            t.complete({"error": 1.0 / (width * depth) ** 0.5 + rng.random() * 0.02,
                        "latency_ms": width * depth / 50 + rng.random()})
        failed = pareto.suggest(1)[0]
        failed.fail("Traceback (most recent call last):\nRuntimeError: CUDA out of memory (a failed trial's text)")
        branin.wait(240)
        asha.wait(240)
        pbt.wait(240)
        yield Setup(client, dashboard, {"branin": branin, "asha": asha, "pareto": pareto, "pbt": pbt,
                                        "failed_trial": failed.id})
    finally:
        client.close()
        dashboard.stop()
        executor.stop()
        ctl.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def plot(driver: Any, div: str) -> list[dict[str, Any]]:
    """The traces Plotly drew into ``div``: the number of points of each (x or dimension values)."""
    return driver.execute_script("""
        const el = document.getElementById(arguments[0]);
        return (el.data || []).map((t) => ({type: t.type, name: t.name || "",
            x: t.x ? t.x.length : null, nulls: t.x ? t.x.filter((v) => v === null).length : null,
            dims: t.dimensions ? t.dimensions.map((d) => d.values.length) : null}));""", div)


def study_url(setup: Setup, key: str) -> str:
    return f"{setup.url}/studies/{setup.studies[key].id}"


def test_every_page_loads_without_a_javascript_error(setup: Setup, browser: Any) -> None:
    failed_trial = setup.studies["failed_trial"]
    # (page, screenshot, the part of the page the screenshot shows)
    pages = [
        (setup.url + "/", "studies.png", None),
        (setup.url + "/?state=COMPLETED&label=suite%3Ddashboard", None, None),
        (study_url(setup, "branin"), "study.png", None),
        (study_url(setup, "branin"), "study-plots.png", "parallel"),
        (study_url(setup, "asha"), "study-asha.png", "curves"),
        (study_url(setup, "pareto"), "study-pareto.png", "pareto-card"),
        (study_url(setup, "pbt"), "study-pbt.png", "lineage-card"),
        (study_url(setup, "asha") + "/trials/1", "trial.png", None),
        (study_url(setup, "pareto") + f"/trials/{failed_trial}", None, None),
        (setup.url + "/executors", "executors.png", None),
    ]
    console_errors(browser)
    for url, shot, part in pages:
        open_page(browser, url)
        if "/studies/" in url and "/trials/" not in url:
            wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"),
                       what=f"curves and table of {url}")
        assert console_errors(browser) == [], url
        if shot:
            if part:
                browser.execute_script("document.getElementById(arguments[0]).scrollIntoView()", part)
            screenshot(browser, shot)
    # The studies list shows both filters' matches, the failed trial's page its error text.
    open_page(browser, setup.url + "/?label=suite%3Ddashboard")
    names = {e.text for e in browser.find_elements("css selector", "#studies tr.study td:first-child")}
    assert names == {"branin-six", "branin-asha"}
    open_page(browser, study_url(setup, "pareto") + f"/trials/{failed_trial}")
    assert "CUDA out of memory" in browser.find_element("id", "error").text


def test_each_plot_holds_a_point_per_trial(setup: Setup, browser: Any) -> None:
    open_page(browser, study_url(setup, "branin"))
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    n = BRANIN_TRIALS
    history = plot(browser, "history")
    assert history[0]["x"] == n and 2 <= history[1]["x"] <= n  # the best so far: where it improves
    assert [t["x"] for t in plot(browser, "slices")] == [n] * 6
    assert plot(browser, "parallel")[0]["dims"] == [n] * 7  # six parameters and the objective
    contour = plot(browser, "contour")
    assert contour[0]["type"] == "histogram2dcontour" and contour[0]["x"] == n and contour[1]["x"] == n
    assert plot(browser, "curves")[0]["nulls"] == n  # one curve per trial, each ended by a break
    assert plot(browser, "timeline")[0]["nulls"] == n
    rows = browser.find_elements("css selector", "#trials tbody tr.trial")
    assert len(rows) == 50 and browser.find_element("id", "table-range").text == f"1-50 of {n}"

    # The ASHA study: every trial's intermediate values, and the scheduler's decisions on them.
    open_page(browser, study_url(setup, "asha"))
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    curves = plot(browser, "curves")
    assert curves[0]["nulls"] == 24
    assert {"stopped", "paused", "promoted"} & {t["name"] for t in curves[1:]}, curves

    # Two objectives: the Pareto front over every trial with both values.
    open_page(browser, study_url(setup, "pareto"))
    pareto = plot(browser, "pareto")
    assert pareto[0]["x"] == 30 and 1 <= pareto[1]["x"] <= 30


def test_importance_ranks_the_two_parameters_that_matter_first(setup: Setup, browser: Any) -> None:
    open_page(browser, study_url(setup, "branin"))
    ranking = [li.get_attribute("data-param")
               for li in browser.find_elements("css selector", "#importance-list li")]
    assert len(ranking) == 6 and set(ranking[:2]) == {"x0", "x1"}, ranking
    assert len(plot(browser, "importance")) == 1


def test_csv_download_has_a_row_per_trial(setup: Setup, browser: Any) -> None:
    open_page(browser, study_url(setup, "branin"))
    href = browser.find_element("id", "download-csv").get_attribute("href")
    text = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then((r) => r.text()).then(done);", href)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == BRANIN_TRIALS
    assert {r["state"] for r in rows} == {"COMPLETED"} and all(float(r["value"]) >= 0.39 for r in rows)
    data = json.loads(urllib.request.urlopen(href.replace(".csv", ".json")).read())
    assert len(data) == BRANIN_TRIALS and set(data[0]["params"]) == set(SIX)


def test_a_trial_told_while_the_page_is_open_appears_without_a_reload(setup: Setup, browser: Any) -> None:
    study = setup.client.create_study(live_spec())
    for t in study.suggest(5):
        t.complete({"loss": t.params["momentum"]})
    open_page(browser, f"{setup.url}/studies/{study.id}")
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    wait_until(lambda: "on" in browser.find_element("id", "live").get_attribute("class"), what="event stream")
    browser.execute_script("window.notReloaded = true")
    assert plot(browser, "history")[0]["x"] == 5
    trial = study.suggest(1)[0]
    trial.complete({"loss": 0.001})
    wait_until(lambda: plot(browser, "history")[0]["x"] == 6, timeout=10, what="the told trial on the page")
    assert browser.execute_script("return window.notReloaded") is True
    wait_until(lambda: browser.find_element("id", "table-range").text == "1-6 of 6", timeout=10)
    assert console_errors(browser) == []


def test_the_studies_and_executors_pages_stay_current_without_a_reload(setup: Setup, browser: Any,
                                                                     tmp_path: Path) -> None:
    open_page(browser, setup.url + "/")
    browser.execute_script("window.notReloaded = true")
    study = setup.client.create_study({**live_spec(), "name": "appears-later"})
    # Read in one script: the page swaps its table's body every few seconds, so elements found by one call
    # may be gone by the next.
    wait_until(lambda: study.id in browser.execute_script(
        "return [...document.querySelectorAll('#studies tr.study')].map((e) => e.dataset.id)"),
               timeout=15, what="the new study in the list")
    for t in study.suggest(2):
        t.complete({"loss": 0.5})
    wait_until(lambda: "2/" in browser.execute_script(
        "const row = document.querySelector(`#studies tr[data-id='${arguments[0]}']`);"
        "return row ? row.textContent : ''", study.id), timeout=15, what="the study's progress")

    open_page(browser, setup.url + "/executors")
    browser.execute_script("window.notReloaded = true")
    def executors() -> int:
        return browser.execute_script("return document.querySelectorAll('#executors tr.executor').length")

    before = executors()
    ctl_address = setup.client.address
    second = start_executor(tmp_path, ctl_address, slots=3)
    try:
        wait_until(lambda: executors() == before + 1, timeout=20, what="the new executor in the list")
    finally:
        second.stop()
    assert browser.execute_script("return window.notReloaded") is True
    assert console_errors(browser) == []


def test_the_table_filters_by_column_and_sorts(setup: Setup, browser: Any) -> None:
    study = setup.studies["branin"]
    trials = {t.id: (t.params["x0"], t.final_metrics["value"]) for t in study.trials() if "value" in t.final_metrics}
    wanted = {i: v for i, (x0, v) in trials.items() if x0 < 2.5 and v >= 20}
    assert 0 < len(wanted) < len(trials)
    open_page(browser, study_url(setup, "branin"))
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    box = browser.find_element("id", "table-q")
    box.send_keys("x0<2.5 value>=20")
    wait_until(lambda: browser.find_element("id", "table-range").text.endswith(f" of {len(wanted)}"),
               timeout=10, what="the filtered count")
    # Sorted by the objective, descending (a second click): the largest value among the filtered first.
    for _ in range(2):
        browser.find_element("css selector", "#trials th[data-sort='value:0']").click()
    top = max(wanted, key=wanted.__getitem__)
    wait_until(lambda: browser.execute_script(  # one script: each answer replaces the table's body
        "const a = document.querySelector('#trials tbody tr.trial td a'); return a ? a.textContent : ''") == str(top),
               timeout=10, what="the largest value first")
    console_errors(browser)
    box.clear()
    box.send_keys("nosuch<1")
    wait_until(lambda: "no column 'nosuch'" in browser.find_element("id", "table-problem").text, timeout=10)
    # The browser logs the refused request itself (400); nothing else went wrong.
    assert all("400" in e for e in console_errors(browser))
    box.clear()


def test_read_only_by_default(setup: Setup) -> None:
    request = urllib.request.Request(study_url(setup, "branin") + "/stop", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    assert setup.client.study(setup.studies["branin"].id).info().spec.name == "branin-six"


def test_screenshots_are_written(setup: Setup) -> None:
    # The README shows these: each of a real study from this module.
    for name in ("studies.png", "study.png", "trial.png"):
        assert (Path(__file__).resolve().parents[1] / "docs" / "images" / name).stat().st_size > 10_000


def test_a_darts_search_shows_alpha_as_heat_maps_over_its_steps(setup: Setup, browser: Any) -> None:
    import numpy as np
    from nestor import genotype as gt
    from nestor.v1 import space_pb2 as sp

    space = sp.SearchSpace(architecture=sp.ArchitectureSpace(cell=sp.CellSpace(num_nodes=4,
                                                                               operations=gt.PRIMITIVES[1:])))
    spec = {"name": "darts", "algorithm": "darts", "seed": 11, "budget": {"max_trials": 2},
            "objective": {"metric": "val_accuracy", "goal": "maximize"}}
    from nestor.spec import load_spec

    proto = load_spec({**spec, "space": {"x": {"type": "double", "min": 0, "max": 1}}})
    proto.space.CopyFrom(space)
    study = setup.client.create_study(proto)
    (trial,) = study.suggest(1)
    rng = np.random.default_rng(0)
    steps = 12
    for _ in range(steps):
        # Skip connections grow stronger in the normal cell, as in DARTS' known collapse; noise elsewhere.
        normal = rng.normal(scale=0.3, size=(14, 8))
        normal[:, gt.PRIMITIVES.index("skip_connect")] -= 3.0
        trial.send_outer_grad({"alpha_normal": normal, "alpha_reduce": rng.normal(size=(14, 8))}, {"val_loss": 2.0})
    open_page(browser, f"{setup.url}/studies/{study.id}")
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    heat = plot(browser, "outer")
    assert [t["type"] for t in heat] == ["heatmap", "heatmap"] and {t["x"] for t in heat} == {steps}
    assert "genotype" in browser.find_element("id", "outer-text").text
    # The genotype as two cell graphs: 2 inputs, 4 nodes and the output each; an arrow per chosen edge (8) and
    # per node into the output (4), each chosen edge labelled with its operation.
    graph = plot(browser, "genotype")
    assert [(t["type"], t["x"]) for t in graph] == [("scatter", 7), ("scatter", 7)]
    (summary,) = study.outer_state()
    from google.protobuf import json_format

    genotype = json_format.MessageToDict(summary.summary)["genotype"]
    labels = browser.execute_script("return document.getElementById('genotype').layout.annotations"
                                    ".filter((a) => !a.showarrow).map((a) => a.text)")
    for cell in ("normal", "reduce"):
        assert f"{cell} cell" in labels
    assert sorted(t for t in labels if not t.endswith(" cell")) == sorted(
        op for cell in ("normal", "reduce") for op, _ in genotype[cell])
    arrows = browser.execute_script("return document.getElementById('genotype').layout.annotations"
                                    ".filter((a) => a.showarrow).length")
    assert arrows == 2 * (8 + 4)
    assert browser.find_element("id", "perturbation").get_attribute("hidden")  # selected by alpha
    assert console_errors(browser) == []
    browser.execute_script("document.getElementById('outer-card').scrollIntoView()")
    screenshot(browser, "study-darts.png")
    browser.execute_script("document.getElementById('genotype').scrollIntoView()")
    screenshot(browser, "study-genotype.png")

    # Selected by perturbation: the scores the search sent, as a heat map per cell (edge x operation).
    proto.algorithm.settings["selection"] = "perturbation"
    study = setup.client.create_study(proto)
    (trial,) = study.suggest(1)
    trial.send_outer_grad({"alpha_normal": rng.normal(size=(14, 8)), "alpha_reduce": rng.normal(size=(14, 8))},
                          {"val_loss": 2.0})
    scores = {f"perturbation.{kind}_{cell}": rng.uniform(size=shape) for cell in ("normal", "reduce")
              for kind, shape in (("op", (14, 8)), ("edge", (14,)))}
    trial.send_outer_grad(scores, {"val_loss": 2.0})
    open_page(browser, f"{setup.url}/studies/{study.id}")
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    heat = browser.execute_script("return document.getElementById('perturbation').data.map((t) => [t.type, "
                                  "t.z.length, t.z[0].length])")
    assert heat == [["heatmap", 14, 8], ["heatmap", 14, 8]]
    assert "(perturbation)" in browser.find_element("id", "outer-text").text
    assert console_errors(browser) == []


def test_a_warm_started_study_shows_its_priors_and_each_trials_origin(setup: Setup, browser: Any) -> None:
    prior = setup.client.create_study({**live_spec(), "name": "earlier-live", "labels": {"family": "live"}})
    prior.add_trials([{"params": {"lr": 0.01 * (k + 1), "momentum": 0.1 * k}, "values": {"loss": float(k)},
                       "user_attrs": {"source": "notebook"}} for k in range(5)])
    study = setup.client.create_study({**live_spec(), "name": "warm-live",
                                       "warm_start": {"labels": {"family": "live"}, "top_k": 2}})
    (first,) = study.suggest(1)
    first.complete({"loss": 0.5})
    console_errors(browser)
    open_page(browser, f"{setup.url}/studies/{study.id}")
    text = browser.find_element("id", "warm-start").text
    assert "top_k: their best 2 configurations run first" in text and "earlier-live" in text, text
    assert "1 parameter sets queued" in text, text
    open_page(browser, f"{setup.url}/studies/{study.id}/trials/{first.id}")
    wait_until(lambda: "origin" in browser.find_element("id", "run").text)
    assert "a prior's best (warm start)" in browser.find_element("id", "run").text
    open_page(browser, f"{setup.url}/studies/{prior.id}/trials/1")
    wait_until(lambda: "user attr source" in browser.find_element("id", "run").text)
    assert '"notebook"' in browser.find_element("id", "run").text
    assert console_errors(browser) == []


def test_a_pbt_study_shows_who_copied_whom_and_the_best_schedule(setup: Setup, browser: Any) -> None:
    from nestor import lineage

    study = setup.studies["pbt"]
    trials = {t.id: t.proto for t in study.trials()}
    copies = [(t.id, e.donor_trial_id, e.step) for t in trials.values() for e in t.lineage if e.donor_trial_id]
    assert len(trials) == 2 and copies, "the toy population copies weights at least once"
    console_errors(browser)
    open_page(browser, study_url(setup, "pbt"))
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    assert not browser.find_element("id", "lineage-card").get_attribute("hidden")
    # A line per member over its measured steps, and a copy marker (and an arrow) per donor entry.
    graph = plot(browser, "lineage")
    assert [t["name"].split(" (")[0] for t in graph[:-1]] == [f"trial {i}" for i in sorted(trials)]
    assert all(t["x"] == PBT_STEPS for t in graph[:-1]), graph
    assert graph[-1]["name"] == "copy" and graph[-1]["x"] == len(copies)
    arrows = browser.execute_script("return document.getElementById('lineage').layout.annotations"
                                    ".filter((a) => a.showarrow).map((a) => [a.x, a.y, a.ay])")
    row = {i: k for k, i in enumerate(sorted(trials))}
    assert sorted(arrows) == sorted([step, row[t], row[d]] for t, d, step in copies)
    hover = browser.execute_script("return document.getElementById('lineage').data.at(-1).text.join(' ')")
    assert "exploit" in hover, hover  # the decision's reason
    # The best member's schedule: h0 and h1 over the steps, a row per interval (its donors' included).
    best = study.best()
    steps = lineage.merged(lineage.schedule(trials, best.id))
    assert [(t["name"], t["x"]) for t in plot(browser, "schedule")] == [("h0", len(steps) + 1), ("h1", len(steps) + 1)]
    rows = browser.find_elements("css selector", "#schedule-table tr.interval")
    assert [int(r.find_element("css selector", "td").text) for r in rows] == [i.step for i in steps]
    assert f"trial {best.id}" in browser.find_element("id", "schedule-what").text
    assert console_errors(browser) == []

    # Nothing of it for another study.
    open_page(browser, study_url(setup, "asha"))
    wait_until(lambda: browser.execute_script("return document.body.dataset.complete === '1'"))
    assert browser.find_element("id", "lineage-card").get_attribute("hidden")
    assert browser.find_element("id", "schedule-card").get_attribute("hidden")


def test_a_one_shot_study_shows_its_phase_and_how_its_supernet_ranked(setup: Setup, browser: Any) -> None:
    """Driven by the client (ask/tell): a supernet, six scored architectures, four trained alone."""
    study = setup.client.create_study({
        "name": "oneshot", "seed": 3, "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "architecture": {"edge_cell": {"init_channels": 4, "num_nodes": 3}},
        "algorithm": {"name": "oneshot", "settings": {"evaluations": 6, "top_k": 2, "rank_check": 2,
                                                      "sampler": "random", "supernet_epochs": 1}},
        "budget": {"max_trials": 11}})
    while True:
        trials = study.suggest(2)
        if not trials:
            break
        for t in trials:
            convs = sum(v == "conv_3x3" for k, v in t.params.items() if k.startswith("arch."))
            bonus = 0.05 if t.params["oneshot_mode"] == "standalone" else 0.0
            t.complete({"val_accuracy": 0.5 + 0.1 * convs + bonus + 0.001 * t.id})
    console_errors(browser)
    open_page(browser, f"{setup.url}/studies/{study.id}")
    text = browser.find_element("id", "one-shot").text
    assert "phase done" in text and "6/6 architectures scored with it by random" in text, text
    assert "4/4 trained alone" in text and "Kendall tau" in text, text
    wait_until(lambda: sum(t["x"] or 0 for t in plot(browser, "one-shot-pairs")) == 4)
    assert "Kendall tau" in browser.find_element("id", "one-shot-what").text
    assert console_errors(browser) == []
