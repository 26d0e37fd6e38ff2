"""The parts of bench/multifidelity.py: the shared problem, Nestor's runs and the peers' runs (not scripts)."""
