import sys

from nestor_dashboard.cli import main

sys.exit(main())
