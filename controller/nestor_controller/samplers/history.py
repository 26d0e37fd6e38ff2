"""What a sampler keeps of the study's history between suggestions, so that a suggestion costs the same at
100 results as at 100,000.

A sampler is handed the whole history on every call. The study only ever appends to it (a view that keeps
each trial's latest run drops an earlier run when its trial runs again, and appends the new one), so a sampler
keeps what it derived from the observations it saw (their encoded rows, their losses, a population) and only
adds what was appended since. Whether the history extends what was seen is checked on its first and last seen
observation (the same object, or an equal one) and its length; when it does not (another study's history, a
rewritten one) everything is derived again from scratch. Nothing of this is state(): a restarted controller
derives it again from the store's history, the same.

Why checking the last seen observation is enough for the study's views: a view is an ordered subsequence of an
append-only list in which an observation, once dropped, never comes back. If the observation seen last is still
at its position, none before it was dropped, so the prefix is the one seen; if an equal one (the same trial,
params and values) took its place, the rows derived from it are the same anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Observation
from nestor_controller.samplers.encoding import Encoder


class Appended:
    """Which observations of a history are new since the last call."""

    def __init__(self) -> None:
        self.seen = 0
        self._first: Observation | None = None
        self._last: Observation | None = None
        #: Times the history was not an extension of the one seen and was taken again from the start.
        self.rebuilds = 0

    def new(self, history: Sequence[Observation]) -> tuple[bool, Sequence[Observation]]:
        """(restart, observations to add): the appended tail, or (True, all of them) when the history does not
        extend the one seen, in which case the caller drops what it derived."""
        n, k = len(history), self.seen
        extends = k == 0 or (n >= k and _same(history[0], self._first) and _same(history[k - 1], self._last))
        restart = not extends
        if restart:
            self.rebuilds += 1
            k = 0
        if n:
            self._first, self._last = history[0], history[n - 1]
        else:
            self._first = self._last = None
        self.seen = n
        # A slice copies only the tail (a list's slice is O(tail)), never the whole history.
        return restart, history[k:]


def _same(a: Observation, b: Observation | None) -> bool:
    return a is b or (b is not None and a == b)


class Grow:
    """A 2-D array appended to in blocks, with room doubled as it fills: appends cost what they add."""

    def __init__(self, cols: int, dtype: type = float) -> None:
        self._buf = np.zeros((16, cols), dtype=dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self._buf):
            buf = np.zeros((max(need, 2 * len(self._buf)), self._buf.shape[1]), dtype=self._buf.dtype)
            buf[:self.n] = self._buf[:self.n]
            self._buf = buf
        self._buf[self.n:need] = rows
        self.n = need

    def view(self) -> np.ndarray:
        """The rows so far (a view: valid until the next extend)."""
        return self._buf[:self.n]


class EncodedHistory:
    """A history's observations as the model-based samplers use them, encoded once each.

    `X_all` holds every observation's row (failed ones too: they count as tried); `X`, `act`, the losses `F`
    (one column per objective, `y` the first), the total violations and the trial ids hold the observations
    with values, in history order, exactly as Encoder.encode, losses, loss_matrix and total_violation give them.
    """

    def __init__(self, enc: Encoder, objectives: Sequence[ObjectiveDef]) -> None:
        self.enc = enc
        self.objectives = list(objectives)
        self.cursor = Appended()
        #: Observations encoded so far (a test counts them: each is encoded once, unless the history is rebuilt).
        self.rows_encoded = 0
        self._reset()

    def _reset(self) -> None:
        m = len(self.objectives)
        self._X_all, self._X, self._act = Grow(self.enc.n_cols), Grow(self.enc.n_cols), Grow(self.enc.n_params, bool)
        self._F, self._viol, self._ids = Grow(m), Grow(1), Grow(1, int)
        #: Observations with values that carry constraint values (not only broken ones).
        self.with_violations = 0

    def update(self, history: Sequence[Observation]) -> EncodedHistory:
        restart, new = self.cursor.new(history)
        if restart:
            self._reset()
        if new:
            self._add(new)
        return self

    def _add(self, new: Sequence[Observation]) -> None:
        enc = self.enc
        X_new, act_new = enc.encode([o.params for o in new])
        self.rows_encoded += len(new)
        self._X_all.extend(X_new)
        ok = [r for r, o in enumerate(new) if o.values is not None]
        valid = [new[r] for r in ok]
        self._X.extend(X_new[ok])
        self._act.extend(act_new[ok])
        m = len(self.objectives)
        F = [[ob.loss(v) for ob, v in zip(self.objectives, o.values, strict=True)] for o in valid]  # type: ignore[arg-type]
        self._F.extend(np.asarray(F, dtype=float).reshape(len(valid), m))
        viol = [sum(max(0.0, v) for v in o.violations) for o in valid]
        self._viol.extend(np.asarray(viol, dtype=float).reshape(-1, 1))
        self._ids.extend(np.asarray([o.trial_id for o in valid], dtype=int).reshape(-1, 1))
        self.with_violations += sum(1 for o in valid if o.violations)

    # --- the arrays (views, valid until the next update) ---------------------------------

    @property
    def X_all(self) -> np.ndarray:
        return self._X_all.view()

    @property
    def X(self) -> np.ndarray:
        return self._X.view()

    @property
    def act(self) -> np.ndarray:
        return self._act.view()

    @property
    def F(self) -> np.ndarray:
        return self._F.view()

    @property
    def y(self) -> np.ndarray:
        """The first objective's losses (model_based.losses), contiguous as that gives them."""
        return np.ascontiguousarray(self._F.view()[:, 0])

    @property
    def violation(self) -> np.ndarray:
        """Total constraint violation of each (pareto.total_violation)."""
        return self._viol.view()[:, 0]

    @property
    def trial_ids(self) -> np.ndarray:
        return self._ids.view()[:, 0]

    @property
    def n_valid(self) -> int:
        return self._X.n
