"""Time per GP suggestion, Nestor against Optuna's GPSampler: part (b) of bench/samplers.py.

    .venv/bin/python bench/latency.py [--sizes 50,100,250,500,1000] [--dims 6,20] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from samplers import main

if __name__ == "__main__":
    main(("latency",), __doc__ or "")
