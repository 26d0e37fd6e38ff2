"""What benchmarks share about their saved output: the --json line, and the runs of earlier invocations (--merge)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def merged_runs(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The runs recorded in the --json output (its last JSON line) of earlier invocations."""
    runs = []
    for path in paths:
        lines = [line for line in Path(path).read_text().splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"--merge {path}: no JSON line (run the bench with --json and keep its output)")
        runs += json.loads(lines[-1])["runs"]
    return runs


def json_line(figures: dict[str, Any]) -> str:
    """A benchmark's figures as the one JSON object it prints last with --json (floats to 4 decimals)."""
    return json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()})
