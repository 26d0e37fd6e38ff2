"""Search quality of Nestor's samplers against Optuna's: part (a) of bench/samplers.py, 100 evaluations.

    .venv/bin/python bench/quality.py [--quick] [--jobs N] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from samplers import main

if __name__ == "__main__":
    if "--quick" in sys.argv:  # the quick mode: 30 evaluations
        sys.argv.remove("--quick")
    else:
        sys.argv.append("--full")
    main(("quality",), __doc__ or "")
