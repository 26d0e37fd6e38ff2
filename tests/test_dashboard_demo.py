"""`nestor demo` prints the dashboard's URL and serves it while the demo runs; it goes when the demo ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_the_demo_serves_the_dashboard_while_it_runs(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if k != "NESTOR_CONTROLLER"}, "TMPDIR": str(tmp_path),
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nestor", "demo", "--trials", "4", "--dashboard-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    assert proc.stdout is not None
    url, seen = None, []
    try:
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if found := re.search(r"dashboard: open (http://\S+)", line):
                url = found.group(1)
        assert url, "".join(seen)
        page = urllib.request.urlopen(url + "/", timeout=30).read().decode()
        assert "<h1>Studies</h1>" in page
        out = proc.communicate(timeout=240)[0]
        assert proc.returncode == 0, "".join(seen) + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/healthz", timeout=5)  # stopped with the demo
