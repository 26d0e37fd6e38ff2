"""The aiohttp application: pages (Jinja2 templates), their JSON, downloads and the live event stream."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp_sse import sse_response
from nestor.client import Client
from nestor.errors import FailedPrecondition, NestorError, NotFound
from nestor.records import executor_to_dict
from nestor.study import STUDY_STATE_NAMES
from nestor.v1 import study_pb2

from nestor_dashboard import payloads
from nestor_dashboard.cache import Caches

CLIENT = web.AppKey("client", Client)
CACHES = web.AppKey("caches", Caches)
ALLOW_WRITE = web.AppKey("allow_write", bool)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
BACKGROUND = web.AppKey("background", set)
#: A table page never holds more rows than this, whatever the browser asks.
MAX_PAGE = 500
#: The table's search box: longer text is cut (each term scans every trial).
MAX_QUERY_CHARS = 1000
#: How often an event stream with nothing to send checks that its page is still there.
SSE_WAKE_S = 5.0


def plotly_js() -> Path:
    """plotly.js as the plotly Python package ships it: served from here, so no page needs the internet."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def render(request: web.Request, template: str, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(allow_write=request.app[ALLOW_WRITE],
                                             controller=request.app[CLIENT].address, **context)
    return web.Response(text=html, content_type="text/html")


def json_response(data: Any) -> web.Response:
    # allow_nan=False: a NaN that slipped through must fail here, not as a parse error in the browser.
    return web.Response(text=json.dumps(data, allow_nan=False), content_type="application/json")


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Controller errors as HTTP ones, with the controller's message."""
    try:
        return await handler(request)
    except NotFound as e:
        raise web.HTTPNotFound(text=str(e)) from None
    except NestorError as e:
        raise web.HTTPBadGateway(text=str(e)) from None


# --- pages ---------------------------------------------------------------------------


async def studies_page(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    studies = await asyncio.to_thread(client.list_studies, True)
    state = request.query.get("state", "").upper()
    label = request.query.get("label", "")
    key, _, value = label.partition("=")
    shown = []
    for s in studies:
        proto = s.proto
        if state and STUDY_STATE_NAMES.get(proto.state) != state:
            continue
        if key and (key not in proto.spec.labels or (value and proto.spec.labels[key] != value)):
            continue
        shown.append(payloads.study_summary(proto))
    shown.sort(key=lambda s: s["created"] or "", reverse=True)
    best = await asyncio.gather(*(asyncio.to_thread(_best_value, client, s["id"]) for s in shown[:100]))
    for s, b in zip(shown, best, strict=False):
        s["best"] = b
    return render(request, "studies.html", studies=shown, state=state, label=label,
                  states=[n for n in STUDY_STATE_NAMES.values() if n != "STATE_UNSPECIFIED"])


def _best_value(client: Client, study_id: str) -> str:
    best = client.study(study_id).best_trials(1)
    if not best:
        return ""
    return ", ".join(f"{k}={v:.6g}" for k, v in sorted(best[0].proto.final_measurement.metrics.items()))


async def study_page(request: web.Request) -> web.Response:
    study_id = request.match_info["study_id"]
    info = await asyncio.to_thread(request.app[CLIENT].study(study_id).info)
    # Loading every trial takes seconds at 100,000: it starts now, while the browser loads the page and
    # plotly.js, instead of before the page is sent; the page's data request waits for the same load.
    caches = request.app[CACHES]
    request.app[BACKGROUND].add(task := asyncio.create_task(caches.get(study_id)))
    task.add_done_callback(request.app[BACKGROUND].discard)
    return render(request, "study.html", study=payloads.study_summary(info))


async def trial_page(request: web.Request) -> web.Response:
    study_id = request.match_info["study_id"]
    return render(request, "trial.html", study_id=study_id, trial_id=int(request.match_info["trial_id"]))


async def executors_page(request: web.Request) -> web.Response:
    executors = await asyncio.to_thread(request.app[CLIENT].executors)
    return render(request, "executors.html", executors=[executor_to_dict(e) for e in executors])


# --- data ------------------------------------------------------------------------------


async def study_data(request: web.Request) -> web.Response:
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    pareto: list[int] = []
    if len(cache.metrics) > 1:
        front = await asyncio.to_thread(cache.study.best_trials, 0)
        pareto = [t.id for t in front]
    cached = cache.data_json
    if cached is None or cached[0] != cache.version:
        cached = cache.data_json = await asyncio.to_thread(payloads.study_data, cache, pareto)
    return web.Response(body=cached[1], content_type="application/json")


async def study_importance(request: web.Request) -> web.Response:
    """Parameter importance (nestor.importance), for ``objective`` (an index; default the first)."""
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    try:
        objective = int(request.query.get("objective", 0))
    except ValueError:
        raise web.HTTPBadRequest(text="objective must be an integer (the objective's index)") from None
    if cache.importance is None or cache.importance[0] != (cache.version, objective):
        version = cache.version
        shares = await asyncio.to_thread(payloads.study_importance, cache, objective) \
            if 0 <= objective < len(cache.metrics) else {}
        cache.importance = ((version, objective), shares)
    return json_response(cache.importance[1])


async def study_table(request: web.Request) -> web.Response:
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    q = request.query
    try:
        offset = max(0, int(q.get("offset", 0)))
        limit = min(MAX_PAGE, max(1, int(q.get("limit", 50))))
    except ValueError:
        raise web.HTTPBadRequest(text="offset and limit must be integers") from None
    try:
        total, rows = await asyncio.to_thread(cache.page, offset=offset, limit=limit,
                                              sort=q.get("sort", "id"), descending=q.get("desc", "") == "1",
                                              state=q.get("state", ""), text=q.get("q", "")[:MAX_QUERY_CHARS])
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"q: {e}") from None
    return json_response({"total": total, "offset": offset, "rows": rows})


async def study_curves(request: web.Request) -> web.Response:
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    metric = request.query.get("metric") or (cache.metrics[0] if cache.metrics else "")
    trials = await asyncio.to_thread(cache.study.trials, None, True)
    data = await asyncio.to_thread(payloads.curves, [t.proto for t in trials], metric, cache)
    return json_response(data)


async def study_lineage(request: web.Request) -> web.Response:
    """Population-based studies (pbt, pb2): who copied whom at which step, and the best member's schedule."""
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    metric = cache.metrics[0] if cache.metrics else ""
    trials = await asyncio.to_thread(cache.study.trials, None, True)
    if not any(t.proto.lineage for t in trials):
        return json_response(payloads.lineage([], cache.info.spec, metric, None))
    best = await asyncio.to_thread(cache.study.best)
    data = await asyncio.to_thread(payloads.lineage, [t.proto for t in trials], cache.info.spec, metric,
                                   best.id if best is not None else None)
    return json_response(data)


#: A bilevel trial's history is thinned to about this many steps for its plots.
OUTER_HISTORY_POINTS = 200


async def study_outer(request: web.Request) -> web.Response:
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    try:
        current = await asyncio.to_thread(cache.study.outer_state)
    except FailedPrecondition:
        return json_response([])  # not a bilevel study: it has no outer variables
    every = max([1, *(st.values.step // OUTER_HISTORY_POINTS for st in current)])
    states = await asyncio.to_thread(cache.study.outer_state, 0, history=True, every=every) if current else []
    return json_response(payloads.outer(states))


async def trial_data(request: web.Request) -> web.Response:
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    trial_id = int(request.match_info["trial_id"])
    cache.served.set()  # its events come from the replay: no study page is drawing
    trial = await asyncio.to_thread(cache.study.trial, trial_id)
    return json_response(payloads.trial_detail(trial.proto, cache.info.spec, cache.trial_events(trial_id)))


async def download(request: web.Request) -> web.Response:
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    rows = await asyncio.to_thread(cache.rows)
    names = [p.name for p in cache.info.spec.space.parameters]
    fmt = request.match_info["fmt"]
    if fmt == "csv":
        body, kind = await asyncio.to_thread(payloads.csv_text, rows, names, cache.metrics), "text/csv"
    else:
        body, kind = await asyncio.to_thread(payloads.json_text, rows, cache.metrics), "application/json"
    return web.Response(text=body, content_type=kind, headers={
        "Content-Disposition": f'attachment; filename="{cache.info.id}-trials.{fmt}"'})


async def study_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every trial that changes and the study's end, as they happen."""
    cache = await request.app[CACHES].get(request.match_info["study_id"])
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    cache.subscribers.add(queue)
    # A page follows the study once its first render is done: the replay of the past may take the CPU now.
    cache.served.set()
    try:
        async with sse_response(request) as sse:
            await sse.send(json.dumps({"kind": "hello", "version": cache.version}), event="hello")
            while sse.is_connected():
                # A closed page ends its ping task; waking up now and then notices that and lets go.
                try:
                    message = await asyncio.wait_for(queue.get(), SSE_WAKE_S)
                except TimeoutError:
                    continue
                await sse.send(json.dumps(message), event=message["kind"])
        return sse
    finally:
        cache.subscribers.discard(queue)


# --- writes (only with --allow-write) ------------------------------------------------------


async def stop_study(request: web.Request) -> web.Response:
    _require_write(request)
    study_id = request.match_info["study_id"]
    await asyncio.to_thread(request.app[CLIENT].study(study_id).stop, "stopped from the dashboard")
    raise web.HTTPSeeOther(f"/studies/{study_id}")


async def delete_study(request: web.Request) -> web.Response:
    _require_write(request)
    study_id = request.match_info["study_id"]
    await asyncio.to_thread(request.app[CLIENT].study(study_id).delete)
    request.app[CACHES].forget(study_id)
    raise web.HTTPSeeOther("/")


def _require_write(request: web.Request) -> None:
    if not request.app[ALLOW_WRITE]:
        raise web.HTTPForbidden(text="this dashboard is read-only (start it with --allow-write)")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(client: Client, allow_write: bool = False) -> web.Application:
    app = web.Application(middlewares=[errors])
    app[CLIENT] = client
    app[CACHES] = Caches(client)
    app[ALLOW_WRITE] = allow_write
    app[BACKGROUND] = set()  # tasks the event loop must keep a reference to until they end
    app[TEMPLATES] = jinja2.Environment(loader=jinja2.PackageLoader("nestor_dashboard"),
                                        autoescape=jinja2.select_autoescape())
    app[TEMPLATES].globals["state_names"] = study_pb2.StudyState.keys()
    app[TEMPLATES].globals["plotly_version"] = importlib.metadata.version("plotly")
    static = Path(__file__).parent / "static"
    app.router.add_get("/", studies_page)
    app.router.add_get("/executors", executors_page)
    app.router.add_get("/studies/{study_id}", study_page)
    app.router.add_get("/studies/{study_id}/trials/{trial_id:\\d+}", trial_page)
    app.router.add_get("/studies/{study_id}/trials.{fmt:csv|json}", download)
    app.router.add_post("/studies/{study_id}/stop", stop_study)
    app.router.add_post("/studies/{study_id}/delete", delete_study)
    app.router.add_get("/api/studies/{study_id}/data", study_data)
    app.router.add_get("/api/studies/{study_id}/table", study_table)
    app.router.add_get("/api/studies/{study_id}/importance", study_importance)
    app.router.add_get("/api/studies/{study_id}/curves", study_curves)
    app.router.add_get("/api/studies/{study_id}/outer", study_outer)
    app.router.add_get("/api/studies/{study_id}/lineage", study_lineage)
    app.router.add_get("/api/studies/{study_id}/events", study_events)
    app.router.add_get("/api/studies/{study_id}/trials/{trial_id:\\d+}", trial_data)
    app.router.add_get("/healthz", healthz)
    # Versioned in the page's URL: a browser keeps the 4.8 MB it compiled for as long as plotly is the same.
    app.router.add_get("/static/plotly.min.js", lambda r: web.FileResponse(
        plotly_js(), headers={"Cache-Control": "public, max-age=31536000, immutable"}))
    app.router.add_static("/static", static)
    return app
