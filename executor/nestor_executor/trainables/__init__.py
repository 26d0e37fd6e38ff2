"""Trainables every executor serves: digits_mlp, synthetic and noop."""
