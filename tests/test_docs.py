"""The documentation: the site builds in strict mode (a broken link fails), README stays short, and the
README's tour runs as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TOUR_HEADING = "## A five-minute tour"
#: What the tour leaves in the repository's directory.
TOUR_FILES = ("tour.db", "tour.db-wal", "tour.db-shm", "tour.db-lease", "tour.db.artifacts", "trials.csv")


def test_the_site_builds_strict(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "index.html").is_file() and (tmp_path / "running" / "index.html").is_file()


def test_readme_is_a_short_front_page() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README has {len(lines)} lines; the rest belongs in docs/"


def tour_blocks() -> list[str]:
    text = README.read_text()
    tour = text[text.index(TOUR_HEADING):]
    tour = tour[:tour.index("\n## ", len(TOUR_HEADING))]
    return re.findall(r"```sh\n(.*?)```", tour, flags=re.S)


def remove_tour_files() -> None:
    for name in TOUR_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def test_the_readme_tour_runs_as_written() -> None:
    blocks = tour_blocks()
    assert len(blocks) >= 4
    remove_tour_files()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NESTOR_")}
    try:
        # One shell, as a reader pasting the blocks in order: `. .venv/bin/activate` carries on.
        script = "set -euo pipefail\n" + "\n".join(blocks)
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO, env=env,
                                timeout=600)
        assert result.returncode == 0, f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        assert "best trial" in result.stdout
        rows = (REPO / "trials.csv").read_text().splitlines()
        assert rows[0].startswith("number,state,value,") and len(rows) == 1 + 12
        assert "tour.db.artifacts" in result.stdout  # the best checkpoint's folder
    finally:
        remove_tour_files()


@pytest.mark.parametrize("page", sorted(p.name for p in (REPO / "docs").glob("*.md")))
def test_every_page_is_in_the_navigation(page: str) -> None:
    assert f": {page}" in (REPO / "mkdocs.yml").read_text()
