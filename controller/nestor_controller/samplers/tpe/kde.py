"""A multivariate Parzen estimator over encoded rows: the density TPE and BOHB compare.

One component per observation plus a prior component. A component is a
product over parameters: a Gaussian truncated to [0, 1] on a numeric column,
and on a categorical one its own choice with probability 1 - eps and the
others sharing eps. Sampling picks a component and draws every parameter
from it, which keeps the correlations between parameters that a product of
one-dimensional estimators loses. A parameter inactive in the component's
centre (a conditional one) is drawn from, and scored by, the prior.

Bandwidths follow Scott's rule per numeric parameter, on a spread that
blends the centres with the prior's (a uniform), so few points do not give
a needle, and is capped, so scattered points do not give a blanket. With
`local` (MOTPE's good density) each centre has its own bandwidth per numeric
parameter instead, the wider of its gaps to its neighbours (local_bandwidths).
"""

from __future__ import annotations

import math

import numpy as np

from nestor_controller.samplers.encoding import Encoder

MIN_BANDWIDTH = 1e-3
#: Candidate rows x mixture components scored at once.
SCORE_BLOCK = 2**20
UNIFORM_VAR = 1.0 / 12.0


#: The spread is capped at this fraction of the range: good points scattered over several basins would
#: otherwise give kernels as wide as the prior, and the search would stop concentrating.
SPREAD_CAP = 0.2


def bandwidth(col: np.ndarray, prior_weight: float, d: int, factor: float, w: np.ndarray | None = None) -> float:
    """Scott's rule, n^(-1/(d+4)) times the spread of the centres blended with the prior's (capped).

    With weights `w` (a warm start's prior observations weigh less than the study's own) n is their sum and
    the spread weighted: down-weighted centres should not narrow the kernels as full ones would."""
    if w is not None:
        return _weighted_bandwidth(col, w, prior_weight, d, factor)
    m = len(col)
    spread = (float(((col - col.mean()) ** 2).sum()) if m else 0.0) + prior_weight * UNIFORM_VAR
    sd = min(math.sqrt(spread / (m + prior_weight)), SPREAD_CAP)
    return max(MIN_BANDWIDTH, factor * sd * (m + 1) ** (-1.0 / (d + 4)))


def _weighted_bandwidth(col: np.ndarray, w: np.ndarray, prior_weight: float, d: int, factor: float) -> float:
    m = float(w.sum())
    spread = (float((w * (col - (w @ col) / m) ** 2).sum()) if m > 0 else 0.0) + prior_weight * UNIFORM_VAR
    sd = min(math.sqrt(spread / (m + prior_weight)), SPREAD_CAP)
    return max(MIN_BANDWIDTH, factor * sd * (m + 1) ** (-1.0 / (d + 4)))


def local_bandwidths(col: np.ndarray) -> np.ndarray:
    """One bandwidth per centre: the wider of its gaps to the neighbouring centres (the range's ends count
    only for a lone centre), at least 1 / min(100, m + 2) and at most the range."""
    m = len(col)
    order = np.argsort(col, kind="stable")
    edges = np.concatenate([[0.0], col[order], [1.0]])
    gaps = np.diff(edges)
    h = np.maximum(gaps[:-1], gaps[1:])
    if m >= 2:  # the outermost centres: the gap inwards, not the one to the range's end
        h[0], h[-1] = gaps[1], gaps[-2]
    out = np.empty(m)
    out[order] = np.clip(h, 1.0 / min(100.0, m + 2.0), 1.0)
    return out


class ParzenEstimator:
    def __init__(self, enc: Encoder, X: np.ndarray, act: np.ndarray, *, prior_weight: float = 1.0,
                 bandwidth_factor: float = 1.0, weights: np.ndarray | None = None, local: bool = False) -> None:
        """Centres X (encoded rows) with activity act; `weights` (default equal) are relative.

        `local`: each centre's bandwidth on a numeric parameter is set by its neighbours (local_bandwidths)
        instead of one bandwidth per parameter."""
        self.enc = enc
        n = len(X)
        self.n = n
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        self.log_weights = np.log(np.append(w, prior_weight) / (w.sum() + prior_weight))
        self.act = np.vstack([act, np.zeros((1, enc.n_params), dtype=bool)])  # the prior: every parameter "inactive"
        self.centres: dict[int, np.ndarray] = {}
        #: Per parameter: one bandwidth, or (local) one per component, the prior's unused.
        self.bandwidth: dict[int, float | np.ndarray] = {}
        self.eps: dict[int, float] = {}
        d = max(1, enc.n_params)
        for i, c in enc.numeric_col.items():
            col = X[act[:, i], c]
            m = len(col)
            self.bandwidth[i] = bandwidth(col, prior_weight, d, bandwidth_factor,
                                          None if weights is None else w[act[:, i]])
            if local and m:
                h = np.full(n + 1, self.bandwidth[i])
                h[np.flatnonzero(act[:, i])] = local_bandwidths(col)
                self.bandwidth[i] = h
            self.centres[i] = np.append(X[:, c], 0.5)
        for i in enc.onehot:
            k = enc.onehot[i].stop - enc.onehot[i].start
            m = int(act[:, i].sum()) if weights is None else float(w[act[:, i]].sum())
            self.eps[i] = (k - 1) / k * min(1.0, bandwidth_factor / (1.0 + m) ** 0.5) if k > 1 else 0.0
            self.centres[i] = np.append(enc.choice_index(i, X), 0)

    # --- density ---------------------------------------------------------------

    def log_pdf(self, X: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log density at rows X (activity act): a mixture over components, each a product over active parameters."""
        # Rows are independent: scoring them in blocks bounds the (rows, components) arrays however many
        # observations the study has, and gives the same numbers.
        rows = max(1, SCORE_BLOCK // (self.n + 1))
        if len(X) <= rows:
            return self._log_pdf(X, act)
        return np.concatenate([self._log_pdf(X[i:i + rows], act[i:i + rows]) for i in range(0, len(X), rows)])

    def _log_pdf(self, X: np.ndarray, act: np.ndarray) -> np.ndarray:
        from scipy import special  # here, not at the top: a fifth of a second off every controller start
        enc = self.enc
        total = np.tile(self.log_weights, (len(X), 1))  # (m, components)
        for i in range(enc.n_params):
            on = act[:, i]
            if not on.any():
                continue
            here = self.act[:, i]
            if i in enc.onehot:
                k = enc.onehot[i].stop - enc.onehot[i].start
                x = enc.choice_index(i, X)
                same = x[:, None] == self.centres[i][None, :]
                eps = self.eps[i]
                p = np.where(same, 1.0 - eps, eps / max(1, k - 1))
                lp = np.where(here[None, :], np.log(np.maximum(p, 1e-300)), -math.log(k))
            else:
                x = X[:, enc.numeric_col[i]]
                h = self.bandwidth[i]
                c = self.centres[i]
                mass = special.ndtr((1.0 - c) / h) - special.ndtr(-c / h)
                z = (x[:, None] - c[None, :]) / h
                norm = (np.log(h * math.sqrt(2 * math.pi))[None, :] if isinstance(h, np.ndarray)
                        else math.log(h * math.sqrt(2 * math.pi)))
                lp = -0.5 * z * z - norm - np.log(mass)[None, :]
                lp = np.where(here[None, :], lp, 0.0)  # the prior's density on [0, 1] is 1
            total += np.where(on[:, None], lp, 0.0)
        return special.logsumexp(total, axis=1)

    # --- sampling ----------------------------------------------------------------

    def sample(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        from scipy import special  # here, not at the top: a fifth of a second off every controller start
        enc = self.enc
        comp = rng.choice(self.n + 1, size=count, p=np.exp(self.log_weights - special.logsumexp(self.log_weights)))
        X = np.zeros((count, enc.n_cols))
        for i in range(enc.n_params):
            here = self.act[comp, i]
            if i in enc.onehot:
                sl = enc.onehot[i]
                k = sl.stop - sl.start
                own = self.centres[i][comp].astype(int)
                other = rng.integers(k, size=count)
                keep = here & (rng.random(count) >= self.eps[i] * k / max(1, k - 1))
                choice = np.where(keep, own, other)
                X[np.arange(count), sl.start + choice] = 1.0
            else:
                h = self.bandwidth[i]
                drawn = self._truncated_normal(rng, self.centres[i][comp], h[comp] if isinstance(h, np.ndarray) else h)
                X[:, enc.numeric_col[i]] = np.where(here, drawn, rng.random(count))
        return enc.repair(X)

    @staticmethod
    def _truncated_normal(rng: np.random.Generator, c: np.ndarray, h: float | np.ndarray) -> np.ndarray:
        from scipy import special  # here, not at the top: a fifth of a second off every controller start
        lo, hi = special.ndtr(-c / h), special.ndtr((1.0 - c) / h)
        u = lo + rng.random(len(c)) * (hi - lo)
        return np.clip(c + h * special.ndtri(np.clip(u, 1e-300, 1 - 1e-16)), 0.0, 1.0)
