"""What a controller start imports: every start pays for it (a restart after a crash, each of the many
controllers the tests start), so the heavy parts of scipy load only when a sampler first needs them."""

from __future__ import annotations

import json
import subprocess
import sys

#: Each of these costs a fifth of a second to a second to import.
HEAVY = ("scipy.stats", "scipy.optimize", "scipy.special", "scipy.spatial", "torch", "pandas", "sklearn")


def test_a_controller_start_imports_no_heavy_module() -> None:
    code = ("import json, sys; import nestor_controller.cli, nestor_controller.server; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at a controller start: {loaded}"
