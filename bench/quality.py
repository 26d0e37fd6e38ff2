"""Search quality of Nestor's samplers against Optuna's: part (a) of bench/samplers.py.

    .venv/bin/python bench/quality.py [--split dev|held|all] [--seeds N] [--jobs N] [--results F] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from samplers import main

if __name__ == "__main__":
    main(("quality",), __doc__ or "")
