"""`python -m nestor`: the same as the `nestor` command."""

import sys

from nestor.cli import main

sys.exit(main())
