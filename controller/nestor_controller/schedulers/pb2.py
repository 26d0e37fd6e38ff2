"""PB2: Population Based Bandits (Parker-Holder et al. 2020). PBT's generations and exploit, with the explore
step chosen by a time-varying GP bandit instead of random perturbation.

Every interval a member trained is one observation: its numeric mutable parameters (scaled to [0, 1], on a log
scale where the space says so), the generation it ended at, and how much the objective improved over it
(from the value of the weights it started from: its own, or its donor's). A GP whose kernel is a squared
exponential over the parameters times (1 - eps)^(|t - t'| / 2) over generations, so that old improvements
count less, is fitted to them (length scale and eps by marginal likelihood over a small grid), and each
exploiting member takes the parameters that maximise the upper confidence bound at the current generation.
Members placed in the same generation are added as pending observations at the predicted mean, so they
spread out. Categorical parameters are perturbed as in PBT; with fewer than two observations, so is
everything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from nestor.values import ParamValue

from nestor_controller.samplers.sampling import snap
from nestor_controller.schedulers.base import CurveView
from nestor_controller.schedulers.pbt import PBT, TOLERANCE, changes
from nestor_controller.space import ParamDef

LENGTH_SCALES = (0.1, 0.2, 0.4, 0.8, 1.6)
FORGETTING = (0.0, 0.01, 0.05, 0.15, 0.4)
NOISE = 0.1  # in units of the standardised improvements: one interval's improvement is a noisy measure
MAX_OBSERVATIONS = 256  # the most recent; older ones count little under the forgetting factor anyway
RANDOM_CANDIDATES = 512
LOCAL_CANDIDATES = 128


class PB2(PBT):
    name = "pb2"

    def explore(self, params: Mapping[str, ParamValue], rng: np.random.Generator, view: CurveView,
                alive: Sequence[int], b: float, chosen: Sequence[Mapping[str, ParamValue]]
                ) -> tuple[dict[str, ParamValue], str]:
        numeric = [n for n in self.mutable if n in params and self.param(n).kind != "categorical"]
        x, t, y = self.observations(view, b, numeric)
        if not numeric or len(y) < 2:
            out, how = super().explore(params, rng, view, alive, b, chosen)
            return out, f"{how} (perturbed: too few observed intervals for the bandit)"
        out = dict(params)
        for name in self.mutable:
            if name in out and name not in numeric:
                out[name] = self.perturb(self.param(name), out[name], rng)
        now = b / self.interval
        pending = np.array([[self.encode(self.param(n), c[n]) for n in numeric] for c in chosen
                            if all(n in c for n in numeric)]).reshape(-1, len(numeric))
        donor = np.array([self.encode(self.param(n), params[n]) for n in numeric])
        best, mean, sd = ucb_choice(x, t, y, now, pending, donor, rng)
        for n, u in zip(numeric, best, strict=True):
            out[n] = self.decode(self.param(n), float(u))
        out = self.settle(out, rng)
        return out, f"{changes(params, out)} (GP-UCB over {len(y)} intervals: predicted improvement " \
                    f"{mean:+.3g} ± {sd:.3g} in standard units)"

    def observations(self, view: CurveView, b: float, names: Sequence[str]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(parameters, generation, improvement) of every interval that ended by step b and has a start value."""
        rows: list[tuple[float, list[float], float]] = []
        for m in view.members():
            lineage = view.lineage(m)
            for i, entry in enumerate(lineage):
                start = float(entry["step"])
                end = float(lineage[i + 1]["step"]) if i + 1 < len(lineage) else view.budget_of(m)
                if start <= 0 or end > b * (1 + TOLERANCE) or end <= start:
                    continue
                before = self.loss_at(view, int(entry["donor"]) or m, start)
                after = self.loss_at(view, m, end)
                if not (math.isfinite(before) and math.isfinite(after)) or any(n not in entry["params"]
                                                                               for n in names):
                    continue
                rows.append((end / self.interval, [self.encode(self.param(n), entry["params"][n]) for n in names],
                             before - after))
        rows = sorted(rows, key=lambda r: r[0])[-MAX_OBSERVATIONS:]
        x = np.array([r[1] for r in rows], dtype=float).reshape(-1, len(names))
        return x, np.array([r[0] for r in rows]), np.array([r[2] for r in rows])

    @staticmethod
    def encode(p: ParamDef, value: ParamValue) -> float:
        lo, hi, v = p.low, p.high, float(value)  # type: ignore[arg-type]
        if hi <= lo:
            return 0.5
        if p.log and lo > 0:
            lo, hi, v = math.log(lo), math.log(hi), math.log(max(v, p.low))
        return min(max((v - lo) / (hi - lo), 0.0), 1.0)

    @staticmethod
    def decode(p: ParamDef, u: float) -> ParamValue:
        lo, hi = p.low, p.high
        if p.log and lo > 0:
            return snap(p, math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
        return snap(p, lo + u * (hi - lo))


def kernel(a: np.ndarray, ta: np.ndarray, b: np.ndarray, tb: np.ndarray, length: float, eps: float) -> np.ndarray:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    decay = (1.0 - eps) ** (np.abs(ta[:, None] - tb[None, :]) / 2.0)
    return np.exp(-0.5 * d2 / length**2) * decay


def fit(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The (length scale, forgetting) of the grid with the highest marginal likelihood."""
    best = (-math.inf, LENGTH_SCALES[0], FORGETTING[0])
    for length in LENGTH_SCALES:
        for eps in FORGETTING:
            k = kernel(x, t, x, t, length, eps) + NOISE * np.eye(len(y))
            try:
                chol = np.linalg.cholesky(k)
            except np.linalg.LinAlgError:
                continue
            alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
            lml = -0.5 * float(y @ alpha) - float(np.log(np.diag(chol)).sum())
            if lml > best[0]:
                best = (lml, length, eps)
    return best[1], best[2]


def posterior(x: np.ndarray, t: np.ndarray, y: np.ndarray, cand: np.ndarray, now: float, length: float,
              eps: float) -> tuple[np.ndarray, np.ndarray]:
    k = kernel(x, t, x, t, length, eps) + NOISE * np.eye(len(y))
    chol = np.linalg.cholesky(k)
    ks = kernel(cand, np.full(len(cand), now), x, t, length, eps)
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
    v = np.linalg.solve(chol, ks.T)
    var = np.clip(1.0 - (v**2).sum(axis=0), 1e-12, None)
    return ks @ alpha, np.sqrt(var)


def ucb_choice(x: np.ndarray, t: np.ndarray, y: np.ndarray, now: float, pending: np.ndarray, donor: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
    """The candidate in [0, 1]^d with the highest upper confidence bound at generation `now`, with its
    predicted (mean, sd)."""
    sd_y = float(y.std()) or 1.0
    ys = (y - y.mean()) / sd_y
    length, eps = fit(x, t, ys)
    d = x.shape[1]
    cand = np.vstack([rng.random((RANDOM_CANDIDATES, d)),
                      np.clip(donor + 0.1 * rng.standard_normal((LOCAL_CANDIDATES, d)), 0.0, 1.0), donor[None, :]])
    if len(pending):
        # Kriging believer: the pending choices as if observed at their predicted mean, so the bound shrinks there.
        mean_p, _ = posterior(x, t, ys, pending, now, length, eps)
        x, t, ys = np.vstack([x, pending]), np.concatenate([t, np.full(len(pending), now)]), np.concatenate([ys,
                                                                                                          mean_p])
    mean, sd = posterior(x, t, ys, cand, now, length, eps)
    beta = max(0.5, 0.2 * d * math.log(2.0 * len(ys)))
    i = int(np.argmax(mean + math.sqrt(beta) * sd))
    return cand[i], float(mean[i]), float(sd[i])
