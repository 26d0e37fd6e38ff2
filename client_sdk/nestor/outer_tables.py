"""The CLI's view of outer variables: DARTS softmax(alpha) as a heat map per cell, tuned hyperparameters,
and the history of outer steps."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nestor.outer import values_dict
from nestor.records import fmt_value
from nestor.v1 import controller_pb2

#: History rows shown at most; the controller thins the rest (`--every`).
HISTORY_ROWS = 30


def outer_to_dict(state: controller_pb2.TrialOuterState) -> dict[str, Any]:
    return {
        "trial_id": state.trial_id, "strategy": state.strategy, "step": state.values.step,
        "values": values_dict(state.values.values), "summary": json_format.MessageToDict(state.summary),
        "history": [{"step": h.step, "gradient_step": h.gradient_step, "attempt": h.attempt,
                     "metrics": dict(h.metrics), "values": values_dict(h.values)} for h in state.history],
    }


def heat(w: float) -> str:
    """White to deep blue as an operation's weight grows."""
    w = min(max(w, 0.0), 1.0)
    return f"black on rgb({int(255 - 200 * w)},{int(255 - 170 * w)},255)"


def _node(j: int) -> str:
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(j, str(j))


def alpha_heatmap(cell: str, summary: dict[str, Any]) -> Table:
    return edge_heatmap(f"softmax(alpha_{cell}) per edge; chosen operations underlined", cell, summary,
                        summary["softmax"][cell])


def perturbation_heatmap(cell: str, summary: dict[str, Any]) -> Table:
    scores = summary["perturbation"][cell]
    return edge_heatmap(f"{cell} cell: loss rise when an operation (or the whole edge) is removed; chosen ones "
                        "underlined", cell, summary, scores["op"], scores["edge"])


def edge_heatmap(title: str, cell: str, summary: dict[str, Any], rows: list[list[float]],
                 edge_scores: list[float] | None = None) -> Table:
    """One row per edge, one column per operation (and one for the edge's own score), shaded by value
    relative to the largest; the genotype's edges and operations underlined."""
    ops: list[str] = summary["operations"]
    chosen = {(2 + k // 2, int(j), op) for k, (op, j) in enumerate(summary["genotype"][cell])}
    kept_edges = {(node, j) for node, j, _ in chosen}
    # Scores leave `none` out (removing nothing changes nothing): its column would be all zeros.
    shown = [k for k, op in enumerate(ops) if edge_scores is None or op != "none"]
    top = max([1e-12, *(float(v) for row in rows for v in row), *(float(v) for v in edge_scores or [])])
    digits = 3 if top > 0.5 else 5  # softmax weights, or loss rises that can be small
    table = Table(title=title, show_edge=False, pad_edge=False, title_justify="left")
    table.add_column("edge", no_wrap=True, min_width=len("5 <- c_{k-2}"))
    for op in [*(ops[k] for k in shown), *(["whole edge"] if edge_scores is not None else [])]:
        table.add_column(op, justify="right", no_wrap=True)
    for k, ((node, j), row) in enumerate(zip(summary["edges"], rows, strict=True)):
        node, j = int(node), int(j)
        cells = [Text(f"{float(row[k]):.{digits}f}", style=heat(float(row[k]) / top) + (
            " bold underline" if (node, j, ops[k]) in chosen else "")) for k in shown]
        if edge_scores is not None:
            cells.append(Text(f"{float(edge_scores[k]):.{digits}f}", style=heat(float(edge_scores[k]) / top) + (
                " bold underline" if (node, j) in kept_edges else "")))
        table.add_row(f"{node} <- {_node(j)}", *cells)
    return table


def history_table(state: controller_pb2.TrialOuterState) -> Table:
    names = sorted({k for h in state.history for k in h.metrics})
    table = Table(title="outer steps", show_edge=False, pad_edge=False, title_justify="left")
    for col in ("step", "gradient at", "attempt", *names):
        table.add_column(col, justify="right", no_wrap=True)
    rows = list(state.history)
    if len(rows) > HISTORY_ROWS:
        stride = -(-len(rows) // HISTORY_ROWS)
        rows = [*rows[:-1:stride], rows[-1]]
    for h in rows:
        table.add_row(str(h.step), str(h.gradient_step), str(h.attempt),
                      *(fmt_value(h.metrics[n]) if n in h.metrics else "-" for n in names))
    return table


def outer_view(state: controller_pb2.TrialOuterState) -> RenderableType:
    summary = json_format.MessageToDict(state.summary)
    parts: list[RenderableType] = [Text.assemble((f"trial {state.trial_id}", "bold"),
                                                 f" ({state.strategy}, {state.values.step} outer steps)")]
    if "softmax" in summary:
        phase = summary.get("phase", "")
        parts.append(Text(f"phase: {phase}" + (f" ({summary['stopped']})" if summary.get("stopped") else "")))
        for cell in ("normal", "reduce"):
            parts.append(alpha_heatmap(cell, summary))
        for cell in ("normal", "reduce"):
            if cell in (summary.get("perturbation") or {}):
                parts.append(perturbation_heatmap(cell, summary))
        by = summary.get("selected_by", "alpha")
        parts.append(Text(f"genotype (selected by {by}):\n" + summary.get("genotype_text", ""), style="bold"))
    if "hyperparameters" in summary:
        grid = Table(show_edge=False, pad_edge=False)
        grid.add_column("hyperparameter")
        grid.add_column("value", justify="right")
        for name, value in summary["hyperparameters"].items():
            grid.add_row(name, fmt_value(value))
        parts.append(grid)
    if state.history:
        parts.append(history_table(state))
    return Group(*parts, Text(""))
