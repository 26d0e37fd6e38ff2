"""GP-BO with several objectives or with constraints: one GP per output, log EHVI times the probability of
feasibility.

Each objective (as a loss) and each constraint (its signed violation) gets
its own GP, hyperparameters fitted apart on the same inputs. The acquisition
is log EHVI over the objectives (samplers/multiobjective/ehvi.py: exact, with
a front of feasible results and a reference point a tenth of the range past
the worst feasible value of each objective) plus, for each constraint, log P
(violation <= 0). Before any feasible result it is the probability of
feasibility alone. A batch is chosen like the single-objective GP: every
pending point gets a believed value (each GP's mean) and joins the front when
believed feasible, so the next pick looks elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nestor_controller.samplers.base import Assignment, Observation
from nestor_controller.samplers.gp.fit import fit_map
from nestor_controller.samplers.gp.model import GPModel
from nestor_controller.samplers.gp.optimize import maximize
from nestor_controller.samplers.multiobjective.ehvi import Boxes, decompose, ehvi, thin
from nestor_controller.samplers.multiobjective.hypervolume import reference_point
from nestor_controller.samplers.multiobjective.pareto import loss_matrix, pareto_mask

#: Observations the hyperparameters are fitted on: the most recent ones.
FIT_MAX = 300
#: Front points whose neighbourhoods seed the acquisition's local candidates.
CENTERS = 8
TINY = 1e-300


class ManyOutputs:
    """The GPSampler's path for several objectives or constraints (mixed into it)."""

    thetas: list[np.ndarray] | None
    n_fit_many: int

    def _many_suggestions(self: Any, count: int, history: Sequence[Observation], valid: Sequence[Observation],
                          running: Sequence[Assignment]) -> list[Assignment]:
        enc, m = self.encoder, len(self.objectives)
        X, act = enc.encode([o.params for o in valid])
        colact = enc.col_active(act)
        L = loss_matrix(self.objectives, valid)
        V = np.asarray([o.violations for o in valid], dtype=float).reshape(len(valid), -1)
        Y = np.hstack([L, V])
        mean = Y.mean(axis=0)
        sd = np.where(Y.std(axis=0) > 0, Y.std(axis=0), 1.0)
        Z = (Y - mean) / sd
        thresholds = -mean[m:] / sd[m:]
        n = len(valid)
        if self.thetas is None or len(self.thetas) != Z.shape[1] or n - self.n_fit_many >= max(
                1, self.n_fit_many // 20) or n < self.n_fit_many:
            idx = np.arange(max(0, n - FIT_MAX), n)
            S = self.geometry.param_sq_dists(X[idx], colact[idx])
            mode = self.prior.mode(enc.n_params)
            old = self.thetas if self.thetas is not None and len(self.thetas) == Z.shape[1] else None
            self.thetas = [fit_map(S, Z[idx, j], [old[j], mode] if old is not None else [mode], self.prior)
                           for j in range(Z.shape[1])]
            self.n_fit_many = n
        models = [GPModel(self.geometry, t, X, colact, capacity=n + len(running) + count + 1) for t in self.thetas]
        targets = [list(Z[:, j]) for j in range(Z.shape[1])]
        feasible = (V <= 0).all(axis=1)
        front = [row for row in Z[feasible, :m]]
        ref = reference_point(Z[feasible, :m]) if feasible.any() else None
        taken = [X, enc.encode([o.params for o in history if o.values is None])[0]]
        for model, t in zip(models, targets, strict=True):
            model.set_targets(np.asarray(t))

        def believe(z: np.ndarray, za: np.ndarray) -> None:
            """A pending point: each GP's mean there becomes its value; on the front if believed feasible."""
            values = [float(model.predict(z[None], za[None])[0][0]) for model in models]
            for model, t, v in zip(models, targets, values, strict=True):
                model.append(z, za)
                t.append(v)
                model.set_targets(np.asarray(t))
            if all(v <= c for v, c in zip(values[m:], thresholds, strict=True)):
                front.append(np.asarray(values[:m]))

        if running:
            Xp, Ap = enc.encode(running)
            for z, za in zip(Xp, enc.col_active(Ap), strict=True):
                believe(z, za)
            taken.append(Xp)
        centers = self._front_centers(X, Z[:, :m], feasible)
        out = []
        for _ in range(count):
            boxes = decompose(thin(np.asarray(front), ref), ref) if ref is not None and front else None
            acq = many_acquisition(models, m, boxes, thresholds)
            cand = maximize(enc, acq, self.rng, centers, raw=self._raw_count(n), starts=self.restarts, local=20)
            z, zact = self._choose(enc, models[0], cand, n, taken)
            out.append(enc.decode(z[None], zact[None])[0])
            taken.append(z[None])
            believe(z, enc.col_active(zact[None])[0])
            self.suggested += 1
        return out

    @staticmethod
    def _front_centers(X: np.ndarray, F: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        """Up to CENTERS feasible front points, spread along the first objective."""
        rows = np.flatnonzero(feasible)
        if not len(rows):
            return X[:0]
        rows = rows[pareto_mask(F[rows])]
        rows = rows[np.argsort(F[rows, 0], kind="stable")]
        pick = np.unique(np.linspace(0, len(rows) - 1, min(CENTERS, len(rows))).round().astype(int))
        return X[rows[pick]]


def many_acquisition(models: Sequence[GPModel], m: int, boxes: Boxes | None, thresholds: np.ndarray) -> Any:
    """log EHVI (over the first m models) + sum of log P(feasible) (the others), with gradients."""

    def acq(Z: np.ndarray, colact: np.ndarray, cols: np.ndarray | None) -> tuple[np.ndarray, ...]:
        from scipy import special  # here, not at the top: a fifth of a second off every controller start
        preds = [model.predict(Z, colact, cols) if cols is not None else model.predict(Z, colact)
                 for model in models]
        value = np.zeros(len(Z))
        grad = np.zeros((len(Z), len(cols))) if cols is not None else None
        if boxes is not None:
            mu = np.column_stack([p[0] for p in preds[:m]])
            sigma = np.sqrt(np.column_stack([p[1] for p in preds[:m]]))
            if grad is None:
                value += np.log(np.maximum(ehvi(mu, sigma, boxes)[0], TINY))
            else:
                e, de_mu, de_sig = ehvi(mu, sigma, boxes, grad=True)
                safe = np.maximum(e, TINY)
                value += np.log(safe)
                for j, p in enumerate(preds[:m]):
                    dsig = p[3] / (2.0 * sigma[:, j:j + 1])
                    grad += (de_mu[:, j:j + 1] * p[2] + de_sig[:, j:j + 1] * dsig) / safe[:, None]
        for p, c in zip(preds[m:], thresholds, strict=True):
            sigma = np.sqrt(p[1])
            z = (c - p[0]) / sigma
            log_cdf = special.log_ndtr(z)
            value += log_cdf
            if grad is not None:
                ratio = np.exp(-0.5 * z * z - 0.5 * np.log(2 * np.pi) - log_cdf)
                dsig = p[3] / (2.0 * sigma[:, None])
                grad += ratio[:, None] * (-p[2] / sigma[:, None] - z[:, None] * dsig / sigma[:, None])
        return (value,) if grad is None else (value, grad)

    return acq
