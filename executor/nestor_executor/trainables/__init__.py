"""Trainables every executor serves: digits_mlp, digits_nas, synthetic and noop."""
