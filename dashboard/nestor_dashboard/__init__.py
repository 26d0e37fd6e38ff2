"""Nestor's web dashboard: studies, trials and executors of a controller, live, in the browser."""

__version__ = "0.1.0"
