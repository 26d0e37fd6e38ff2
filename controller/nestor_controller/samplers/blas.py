"""One BLAS thread for the samplers' numerics, in the thread that runs them.

The matrices a sampler handles (a thousand rows at most, a few dozen columns)
are too small for threaded BLAS to pay: its threads spin and wait for each
other, and on a two-core machine they also take the core the controller's
event loop needs. Measured here, GP suggestions run 2-3x faster with one
thread. OpenBLAS (bundled with numpy and scipy wheels, each its own copy)
can limit the calling thread only; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy
import scipy


@functools.cache
def _setters() -> tuple[Callable[[int], int], ...]:
    found = []
    for package in (numpy, scipy):
        libs = os.path.join(os.path.dirname(os.path.dirname(package.__file__ or "")), f"{package.__name__}.libs")
        for path in sorted(glob.glob(os.path.join(libs, "*openblas*.so*"))):
            try:
                fn = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            found.append(fn)
    return tuple(found)


@contextmanager
def single_threaded() -> Iterator[None]:
    previous = [fn(1) for fn in _setters()]
    try:
        yield
    finally:
        for fn, n in zip(_setters(), previous, strict=True):
            fn(n)
