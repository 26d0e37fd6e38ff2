"""Multi-fidelity search: random search with full budgets against successive halving, Hyperband, ASHA, BOHB
and the median rule on digits_mlp (real training) and on a multi-fidelity synthetic function; on the
synthetic function also against DEHB, Optuna's TPE with its HyperbandPruner, and HpBandSter's BOHB.

Real processes: one controller and two executors (one slot each, `--slots` in all) run every Nestor
study; each method runs one study per seed until it has spent the same total budget (epochs, or
steps of the synthetic function), which is then stopped. A promoted trial resumes from its
checkpoint, so every measurement is one new epoch. Peers run in-process on the same function
(same bias and noise) with one worker, as the synthetic studies do (max_parallel 1), and are
charged for what they evaluate (DEHB and HpBandSter train each configuration at its budget from
scratch; Optuna's trials report every step and are pruned at rungs).

The result of a run at any moment is its incumbent: the best error among full-budget measurements
(validation error after the last epoch; the synthetic function's regret at the full budget).
Printed per method (medians over seeds; "-" when most seeds never got there): the budget spent
(and wall time) until the incumbent first reached the target, how many times fewer than random
search, and the incumbent at fixed shares of the budget; for the peers, their incumbent divided
by Nestor's BOHB and ASHA (above 1: Nestor is better). `--logs FILE` keeps every run's log and
`--from-logs FILE` prints the tables again from one without running anything.

    .venv/bin/python bench/multifidelity.py [--seeds 10] [--digits-seeds 5] [--json] [--skip-digits] [--peers dehb,...]
                                            [--logs FILE | --from-logs FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The bench's helpers live outside bench/, where every file is a script of its own.
sys.path.insert(0, str(REPO / "benchlib"))

from mflib import nestor_runs as mf_nestor  # noqa: E402
from mflib.peers import PEERS  # noqa: E402
from mflib.problem import Spent, SyntheticProblem, incumbent_at, reached  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))

from cluster import controller_stub, start_controller, start_executor, wait_for_executors  # noqa: E402

SHARES = (0.125, 0.25, 0.5, 1.0)


def summarise(logs: list[list[Spent]], max_budget: float, total: int, target: float) -> dict[str, Any]:
    hits = [reached(log, max_budget, target) for log in logs]
    costs = sorted(h[0] for h in hits)
    walls = sorted(h[1] for h in hits)
    anytime = [statistics.median(incumbent_at(log, max_budget, share * total) for log in logs) for share in SHARES]
    return {"cost_to_target": statistics.median(costs), "wall_to_target_s": statistics.median(walls),
            "seeds_reaching_target": sum(math.isfinite(c) for c in costs), "seeds": len(logs),
            "best_error_at": {f"{share:g}": v for share, v in zip(SHARES, anytime, strict=True)},
            "final_error": anytime[-1]}


def finite(x: Any) -> Any:
    """JSON has no infinity: a target never reached is null."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    return x if not isinstance(x, float) or math.isfinite(x) else None


def fmt(x: float, digits: int = 4) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}g}"


def table(title: str, unit: str, rows: dict[str, dict[str, Any]], total: int, wall: bool) -> list[str]:
    base = rows.get("random", {}).get("cost_to_target", math.inf)
    head = f"{'method':<22}{unit + ' to target':>17}{'x fewer':>9}" + (f"{'s to target':>13}" if wall else "")
    head += "  " + "".join(f"{f'best @ {s:g}':>12}" for s in SHARES)
    out = [title, head, "-" * len(head)]
    for name, r in rows.items():
        cost = r["cost_to_target"]
        ratio = base / cost if math.isfinite(cost) and cost > 0 else math.nan
        if not math.isfinite(base) and math.isfinite(cost):
            ratio = total / cost  # random never reached it: at least this many times fewer
        line = f"{name:<22}{fmt(cost, 6):>17}{fmt(ratio, 3):>9}"
        line += f"{fmt(r['wall_to_target_s'], 3):>13}" if wall else ""
        line += "  " + "".join(f"{fmt(v):>12}" for v in r["best_error_at"].values())
        out.append(line)
    out.append(f"({total} {unit} per run; 'x fewer' = random search's {unit} to target / the method's; "
               f"'>' when random never got there counts the whole budget)")
    return out


def peer_ratios(rows: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Each peer's incumbent over Nestor's BOHB and ASHA at each share of the budget (> 1: Nestor better)."""
    ours = {name: rows[name] for name in ("bohb", "asha", "asha_tpe") if name in rows}
    out, data = ["peer / nestor incumbent (> 1: Nestor better)"], {}
    head = f"{'peer':<22}{'vs':<8}" + "".join(f"{f'@ {s:g}':>10}" for s in SHARES) + f"{'to target':>11}"
    out += [head, "-" * len(head)]
    for peer in PEERS:
        if peer not in rows:
            continue
        for name, r in ours.items():
            ratios = [rows[peer]["best_error_at"][k] / v if v > 0 else math.nan
                      for k, v in r["best_error_at"].items()]
            cost = rows[peer]["cost_to_target"] / r["cost_to_target"] if math.isfinite(r["cost_to_target"]) \
                else math.nan
            data[f"{peer}_over_{name}"] = {"best_error_at": dict(zip(r["best_error_at"], ratios, strict=True)),
                                           "cost_to_target": cost}
            out.append(f"{peer:<22}{name:<8}" + "".join(f"{fmt(x, 3):>10}" for x in ratios) + f"{fmt(cost, 3):>11}")
    return out, data


def run_nestor(stub: Any, methods: list[str], seeds: int, total: int, target: float,
               spec: Callable[[str, int], dict[str, Any]],
               error: Callable[[dict[str, float]], float]) -> dict[str, list[list[Spent]]]:
    logs: dict[str, list[list[Spent]]] = {m: [] for m in methods}
    for seed in range(1, seeds + 1):
        for m in methods:
            logs[m].append(mf_nestor.run_study(stub, spec(m, seed), total, error))
            log = logs[m][-1]
            full = max(e.budget for e in log)
            note(f"{m} seed {seed}: {len(log)} spent in {fmt(log[-1].wall, 3)} s, incumbent "
                 f"{fmt(incumbent_at(log, full, total))}, target reached after {fmt(reached(log, full, target)[0])}")
    return logs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="seeds on the synthetic function")
    p.add_argument("--digits-seeds", type=int, default=5, help="seeds on digits_mlp")
    p.add_argument("--methods", default=",".join(mf_nestor.METHODS))
    p.add_argument("--digits-methods", default=",".join(mf_nestor.METHODS), help="on digits_mlp")
    p.add_argument("--peers", default=",".join(PEERS), help="comma-separated; empty for none")
    p.add_argument("--slots", type=int, default=2, help="executor slots (one executor per slot)")
    p.add_argument("--epochs", type=int, default=81, help="digits_mlp's full budget")
    p.add_argument("--min-epochs", type=int, default=1, help="digits_mlp's lowest budget")
    p.add_argument("--digits-budget", type=int, default=81 * 60, help="epochs per run")
    p.add_argument("--digits-target", type=float, default=0.02, help="validation error")
    p.add_argument("--function", default="hartmann6")
    p.add_argument("--steps", type=int, default=27, help="the synthetic function's full budget")
    p.add_argument("--synthetic-budget", type=int, default=27 * 32, help="steps per run")
    p.add_argument("--synthetic-target", type=float, default=0.3, help="regret")
    p.add_argument("--skip-digits", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--logs", default="", help="write every run's log (cost, wall, budget, error) to this JSON file")
    p.add_argument("--from-logs", default="", help="print the tables from a --logs file instead of running")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    if args.from_logs:
        data = json.loads(Path(args.from_logs).read_text())
        unavailable = data.pop("unavailable_peers", {})
        raw = {k: {m: [[Spent(*e) for e in log] for log in runs] for m, runs in v.items()} for k, v in data.items()}
    else:
        raw, unavailable = collect(args)
        if args.logs:
            Path(args.logs).write_text(json.dumps({
                **{k: {m: [[[e.cost, e.wall, e.budget, e.value] for e in log] for log in runs]
                       for m, runs in v.items()} for k, v in raw.items()},
                "unavailable_peers": unavailable}))
    lines, result = report(args, raw, unavailable)
    print("\n".join(lines))
    if args.json:
        print(json.dumps(finite(result), allow_nan=False))


def note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def collect(args: argparse.Namespace) -> tuple[dict[str, dict[str, list[list[Spent]]]], dict[str, str]]:
    """Runs every method (Nestor's through a real controller, then the peers): the logs by problem and method."""
    methods = [m for m in args.methods.split(",") if m]
    digits_methods = [m for m in args.digits_methods.split(",") if m]
    raw: dict[str, dict[str, list[list[Spent]]]] = {}
    with tempfile.TemporaryDirectory(prefix="nestor-bench-mf-") as tmp:
        work = Path(tmp)
        ctl = start_controller(work, "--log-level", "WARNING", "--durability", "off")
        executors = [start_executor(work, ctl.address, "--torch-threads", "1", "--log-level", "WARNING",
                                    name=f"executor{i}") for i in range(args.slots)]
        try:
            stub = controller_stub(ctl.address)
            wait_for_executors(stub, args.slots)
            if not args.skip_digits:
                print("digits_mlp ...", file=sys.stderr, flush=True)
                raw["digits_mlp"] = run_nestor(
                    stub, digits_methods, args.digits_seeds, args.digits_budget, args.digits_target,
                    lambda m, seed: mf_nestor.digits_spec(m, seed, args.epochs, args.min_epochs),
                    lambda metrics: 1.0 - metrics["val_accuracy"])
            problem = SyntheticProblem(args.function, args.steps)
            print(f"{args.function} ...", file=sys.stderr, flush=True)
            raw["synthetic"] = run_nestor(stub, methods, args.seeds, args.synthetic_budget, args.synthetic_target,
                                          lambda m, seed: mf_nestor.synthetic_spec(
                                              m, seed, args.function, problem.dim, problem.bounds.tolist(),
                                              args.steps),
                                          lambda metrics: metrics["regret"])
        finally:
            for e in executors:
                e.stop()
            ctl.stop()
    unavailable = {}
    for peer in [x for x in args.peers.split(",") if x]:
        try:
            raw["synthetic"][peer] = [PEERS[peer](problem, args.synthetic_budget, seed)
                                      for seed in range(1, args.seeds + 1)]
        except Exception as e:  # a peer that cannot run is reported, not fatal
            unavailable[peer] = f"{type(e).__name__}: {e}"
            note(f"{peer}: unavailable ({unavailable[peer]})")
            continue
        note(f"{peer}: done")
    return raw, unavailable


def report(args: argparse.Namespace, raw: dict[str, dict[str, list[list[Spent]]]],
           unavailable: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    result: dict[str, Any] = {"seeds": args.seeds, "digits_seeds": args.digits_seeds, "slots": args.slots}
    lines: list[str] = []
    if "digits_mlp" in raw:
        rows = {m: summarise(logs, args.epochs, args.digits_budget, args.digits_target)
                for m, logs in raw["digits_mlp"].items()}
        result["digits_mlp"] = {"target_error": args.digits_target, "budget_epochs": args.digits_budget,
                                "max_epochs": args.epochs, "methods": rows}
        lines += [*table(f"digits_mlp: validation error after {args.epochs} epochs, target {args.digits_target:g}",
                         "epochs", rows, args.digits_budget, True), ""]
    rows = {m: summarise(logs, args.steps, args.synthetic_budget, args.synthetic_target)
            for m, logs in raw["synthetic"].items()}
    lines += table(f"{args.function} (multi-fidelity synthetic): regret at the full budget, target "
                   f"{args.synthetic_target:g}", "steps", rows, args.synthetic_budget, False)
    ratio_lines, ratios = peer_ratios(rows)
    lines += ["", *ratio_lines, *(f"unavailable: {k}: {v}" for k, v in unavailable.items())]
    result["synthetic"] = {"function": args.function, "target_regret": args.synthetic_target,
                           "budget_steps": args.synthetic_budget, "max_steps": args.steps, "methods": rows,
                           "peer_ratios": ratios, "unavailable_peers": unavailable}
    return lines, result


if __name__ == "__main__":
    main()
