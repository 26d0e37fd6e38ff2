"""GP Bayesian optimisation: a Matern-5/2 GP on the encoded space, log EI, parallel-aware.

The first `n_initial` trials come from a scrambled Sobol design. After that,
each suggestion fits (or reuses) the GP hyperparameters, conditions the GP on
every finished trial and on a fantasy value for every trial still running
(kriging believer: the GP's own mean there; constant liar: the mean of the
observations), and maximises log EI. Several suggestions in one call are
chosen one after another, each a fantasy for the next, so that eight free
executors get eight different, spread-out points.

Hyperparameters are refitted by MAP when the number of observations grew by
5% since the last fit (every observation early on), warm-started from the
last fit; the fit is kept in the sampler state, so a restarted controller
continues with exactly the same numbers.

With several objectives or with constraints the suggestions come from
gp/many.py instead (a GP per output, log EHVI times the probability of
feasibility), with the same design, optimiser and batch handling.

Warm started in the "transfer" mode (one objective, no constraints), the GP
models its residuals against a stack of GPs fitted on the prior studies
(gp/transfer.py) and skips the Sobol design: the priors replace it. After
`transfer_trials` results of its own (default 20; 0: never) it models them
alone, the trials the priors steered serving as its initial design.

Past `max_gp_observations` results (default 2,000) the single-objective GP
conditions on a subset of them (observed_subset), so a suggestion costs
about what it costs at the cap however long the study runs; the trials it
suggests then say so in decision_note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_GP_CANDIDATES, MAX_GP_COLUMNS, MAX_GP_RESTARTS
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.blas import single_threaded
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.gp.acquisition import log_ei
from nestor_controller.samplers.gp.fit import Prior, fit_map_value
from nestor_controller.samplers.gp.kernel import Geometry
from nestor_controller.samplers.gp.many import ManyOutputs
from nestor_controller.samplers.gp.model import GPModel
from nestor_controller.samplers.gp.optimize import maximize
from nestor_controller.samplers.gp.transfer import PriorStack, build_stack, regress
from nestor_controller.samplers.history import EncodedHistory
from nestor_controller.samplers.model_based import (
    DesignedSampler,
    check_candidates,
    check_initial,
    distinct_pick,
    losses,
    smallest,
    standardize,
    warp,
    warp_with_log_jacobian,
)
from nestor_controller.samplers.priors import TOP_K, TRANSFER
from nestor_controller.space import Space

#: Above this many observations the hyperparameters are fitted on the best and the most recent of them.
FIT_MAX = 300
FIT_BEST = 60
#: Above this many observations fewer random candidates are scored (their cost grows with n^2).
SCAN_FULL = 300
PARALLEL = ("believer", "liar")
#: Suggestions made while others are pending keep this many lengthscales (kernel distance) from them.
SPREAD = 0.2
SPREAD_CANDIDATES = 1024
#: Own results from which a transfer study may find its priors contradicted (see _contradicted).
CONTRADICTED = 3
#: The most max_gp_observations may be: the factor W is n x n doubles (800 MB at 10,000).
MAX_GP_OBSERVATIONS = 10_000
#: Past max_gp_observations, the subset is chosen again each time this fraction of the cap more results came
#: in; in between the new results join it (each an appended row of the factor, not a new factorisation).
SUBSET_STEP = 20


def observed_subset(y: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """The rows (of y, the losses in finishing order) the GP conditions on when there are more than `cap`:
    the cap // 4 best (ties: the earlier), the cap // 4 most recent of the others, and the rest of the cap
    drawn without replacement from the remaining ones by a generator seeded with (the study's seed, len(y)).
    In finishing order; the same history and seed give the same subset."""
    n = len(y)
    if n <= cap:
        return np.arange(n)
    quarter = cap // 4
    chosen = np.zeros(n, dtype=bool)
    chosen[smallest(y, quarter)] = True
    others = np.flatnonzero(~chosen)
    chosen[others[len(others) - quarter:]] = True
    others = np.flatnonzero(~chosen)
    rng = np.random.Generator(np.random.PCG64([seed, n]))
    chosen[rng.choice(others, size=cap - 2 * quarter, replace=False)] = True
    return np.flatnonzero(chosen)


class GPSampler(ManyOutputs, DesignedSampler):
    name = "gp"
    heavy: ClassVar[bool] = True
    accepts_constraints = True
    warm_modes: ClassVar[tuple[str, ...]] = (TOP_K, TRANSFER)
    # Architecture decisions are conditional categorical parameters, which the encoding already models.
    searches_architectures = True
    defaults: Mapping[str, Any] = {"n_initial": 10, "parallel": "believer", "candidates": 2048, "restarts": 10,
                                   "warp_outputs": True, "transfer_trials": 20, "max_gp_observations": 2000}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.n_initial = setting(s, "n_initial", int, minimum=1)
        self.parallel = s["parallel"]
        self.candidates = setting(s, "candidates", int, minimum=1)
        self.restarts = setting(s, "restarts", int, minimum=1)
        self.warp_outputs = setting(s, "warp_outputs", bool)
        self.transfer_trials = setting(s, "transfer_trials", int, minimum=0)
        self.max_gp_observations = setting(s, "max_gp_observations", int, minimum=8, maximum=MAX_GP_OBSERVATIONS)
        self.encoder = Encoder(self.space)
        self.geometry = Geometry(self.encoder)
        self.prior = Prior.for_dimension(self.encoder.n_params)
        self.theta: np.ndarray | None = None
        self.n_fit = 0
        #: Whether theta was fitted to the warped outputs (or to them standardised alone).
        self.warped = self.warp_outputs
        # The fits of the path for several outputs (objectives and constraints), one per output.
        self.thetas: list[np.ndarray] | None = None
        self.n_fit_many = 0
        #: A warm start in the transfer mode that the study's results contradicted: it goes on cold.
        self.transfer_off = False
        # Derived from (theta, n_fit, history) alone; kept only to skip refactorising.
        self._model: GPModel | None = None
        self._model_key: tuple = ()
        # The transfer stack over the priors: derived from them alone, so fitted once per instance, not stored.
        self._stack: PriorStack | None = None
        self._stack_built = False
        # The history encoded once per observation: derived from it alone (again after a restart), not stored.
        self._history = EncodedHistory(self.encoder, self.objectives)
        #: ((n_sub, history rebuilds), observed_subset of the first n_sub results) past max_gp_observations;
        #: derived, not stored.
        self._subset: tuple[tuple[int, int], np.ndarray] | None = None

    def set_priors(self, priors: Sequence[Any], mode: str, decay: float) -> None:
        super().set_priors(priors, mode, decay)
        self._stack, self._stack_built = None, False

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        merged = {**cls.defaults, **settings}
        setting(merged, "n_initial", int, minimum=1)
        setting(merged, "restarts", int, minimum=1, maximum=MAX_GP_RESTARTS)
        check_candidates(space, merged, MAX_GP_CANDIDATES, max_columns=MAX_GP_COLUMNS)
        setting(merged, "warp_outputs", bool)
        setting(merged, "transfer_trials", int, minimum=0)
        setting(merged, "max_gp_observations", int, minimum=8, maximum=MAX_GP_OBSERVATIONS)
        if merged["parallel"] not in PARALLEL:
            raise SpecError(f"spec.algorithm.settings.parallel: expected one of {', '.join(PARALLEL)}, "
                            f"got {merged['parallel']!r}")
        check_initial(settings, max_trials)

    # --- suggesting ---------------------------------------------------------------

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        with single_threaded():
            return self._suggest(count, history, running)

    def _suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        self.decision_note = ""
        h = self._history.update(history)
        valid: Sequence[Observation] = []
        if (self.warm_mode == TRANSFER and self.priors and not self.transfer_off) or len(self.objectives) > 1 \
                or h.with_violations:
            valid = [o for o in history if o.values is not None]
        # Otherwise (the common case) no path below reads `valid`: the encoded history has what they need, and
        # a list of every result would cost a pass over the whole history per suggestion.
        stack = self._transfer_stack(valid)
        if stack is not None and self._contradicted(valid, stack):
            # The study's results say the priors point the wrong way: from now on it is a cold study, its
            # design included (the trials the priors steered count toward it).
            self.transfer_off, stack = True, None
        out = [] if stack is not None else self.initial(count, h.n_valid, self.n_initial)
        if len(out) < count and (len(self.objectives) > 1 or h.with_violations):
            out.extend(self._many_suggestions(count - len(out), history, valid, [*running, *out]))
        elif stack is not None:
            out.extend(self._transfer_suggestions(count, history, valid, running, stack))
        elif len(out) < count:
            out.extend(self._model_suggestions(count - len(out), h, [*running, *out]))
        return out

    def _observed(self, h: EncodedHistory) -> tuple[np.ndarray | None, int]:
        """(rows of h's results the GP conditions on, None for all of them; n_sub, 0 for all).

        Up to max_gp_observations: all of them. Past it: observed_subset of the first n_sub results, n_sub the
        cap plus whole steps of cap // SUBSET_STEP (so a restart finds the same n_sub), and every result since:
        between two steps the subset only grows, so the cached factor is extended, not rebuilt."""
        n, cap = h.n_valid, self.max_gp_observations
        if n <= cap:
            return None, 0
        step = max(1, cap // SUBSET_STEP)
        n_sub = cap + step * ((n - cap) // step)
        key = (n_sub, h.cursor.rebuilds)
        if self._subset is None or self._subset[0] != key:
            # The same until the next step (or a history that is not an extension): chosen once per step.
            self._subset = key, observed_subset(h.y[:n_sub], cap, self.seed)
        idx = np.concatenate([self._subset[1], np.arange(n_sub, n)])
        self.decision_note = (
            f"gp: conditioned on {len(idx)} of {n} results (max_gp_observations={cap}): the {cap // 4} best, "
            f"the {cap // 4} most recent and {cap - 2 * (cap // 4)} drawn with the study's seed of the first "
            f"{n_sub}, and the {n - n_sub} since")
        return idx, n_sub

    def _factor_base(self, n_sub: int) -> int:
        """How many of the observed rows the factor is built from at once (the rest are appended): those of the
        last refit (n_fit); past the cap, the subset's and the results of the last refit if it came later."""
        if not n_sub:
            return self.n_fit
        return self.max_gp_observations + max(0, self.n_fit - n_sub)

    def _model_suggestions(self, count: int, h: EncodedHistory, running: Sequence[Assignment]) -> list[Assignment]:
        """Suggestions of the GP on the results of `h` (the encoded history, already brought up to date)."""
        enc = self.encoder
        idx, n_sub = self._observed(h)
        if idx is None:  # every result, as they are
            X, act, y_raw, ids = h.X, h.act, h.y, h.trial_ids
        else:
            X, act, y_raw, ids = h.X[idx], h.act[idx], h.y[idx], h.trial_ids[idx]
        colact = enc.col_active(act)
        if self._needs_fit(h.n_valid):
            # Fitted on the rows the GP conditions on; n_fit counts every result (the count the 5% rule reads).
            y = self._fit_outputs(X, colact, y_raw, h.n_valid)
        else:
            y = warp(y_raw) if self.warped else standardize(y_raw)
        model = self._base_model(tuple(ids.tolist()), X, colact, self._factor_base(n_sub))
        n_obs = len(X)
        fantasy = model.fork(len(running) + count)
        ys = list(y)
        best = float(y.min())
        # Every tried point, failed ones included, whether the GP conditions on it or not.
        taken = [h.X_all]

        def add_fantasy(z: np.ndarray, za: np.ndarray) -> None:
            nonlocal best
            fantasy.set_targets(np.asarray(ys))
            value = float(fantasy.predict(z[None], za[None])[0][0]) if self.parallel == "believer" else float(y.mean())
            fantasy.append(z, za)
            ys.append(value)
            best = min(best, value)

        if running:
            Xp, Ap = enc.encode(running)
            for z, za in zip(Xp, enc.col_active(Ap), strict=True):
                add_fantasy(z, za)
            taken.append(Xp)
        fantasy.set_targets(np.asarray(ys))
        centers = X[np.argsort(y, kind="stable")[:5]]
        out = []
        for _ in range(count):
            cand = maximize(enc, self._acquisition(fantasy, lambda: best), self.rng, centers,
                            raw=self._raw_count(n_obs), starts=self.restarts, local=20)
            z, zact = self._choose(enc, fantasy, cand, n_obs, taken)
            out.append(enc.decode(z[None], zact[None])[0])
            taken.append(z[None])
            add_fantasy(z, enc.col_active(zact[None])[0])
            fantasy.set_targets(np.asarray(ys))
            self.suggested += 1
        return out

    def _choose(self, enc: Any, model: GPModel, cand: Any, n_observed: int,
                taken: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(point, active mask) of the candidate to suggest: the best spread from pending points, else the
        best not tried yet, else (a small discrete space tried out) a fresh random point."""
        i = self._spread_pick(model, cand.X, cand.act, n_observed) if model.n > n_observed else None
        if i is None:
            i = distinct_pick(cand.X, np.vstack(taken))
        if i is None:
            z, za = enc.from_cube(self.rng.random((1, enc.n_params)))
            return z[0], za[0]
        return cand.X[i], cand.act[i]

    @staticmethod
    def _spread_pick(model: GPModel, X: np.ndarray, act: np.ndarray, n_observed: int) -> int | None:
        """The best candidate at least SPREAD lengthscales from every pending point and no observed one.

        Deep in exploitation EI is flat and tiny everywhere but next to the predicted optimum, so even with
        fantasies a batch would huddle within a hair of one point: busy executors then measure the same
        thing eight times. The radius is in lengthscales, so it means "a point the model cannot predict
        from the pending one". None when every candidate is that close (a small space)."""
        Xc = X[:SPREAD_CANDIDATES]
        A = model.geo.enc.col_active(act[: len(Xc)])
        r2 = model.geo.sq_dist(Xc, A, model.X[n_observed:model.n], model.Ax[n_observed:model.n], model.wc)
        far = r2.min(axis=1) > SPREAD**2
        seen = np.ones(len(Xc), dtype=bool)
        if n_observed:  # a warm study's first batch has pending points and no result yet
            seen = model.geo.sq_dist(Xc, A, model.X[:n_observed], model.Ax[:n_observed], model.wc).min(axis=1) > 0
        ok = np.flatnonzero(far & seen)
        return int(ok[0]) if len(ok) else None

    @staticmethod
    def _acquisition(model: GPModel, best: Any) -> Any:
        def acq(Z: np.ndarray, colact: np.ndarray, cols: np.ndarray | None) -> tuple[np.ndarray, ...]:
            if cols is None:
                mu, var = model.predict(Z, colact)
                return log_ei(mu, var, best())
            mu, var, dmu, dvar = model.predict(Z, colact, cols)
            return log_ei(mu, var, best(), dmu, dvar)

        return acq

    # --- transfer from prior studies ------------------------------------------------------

    def _transfer_stack(self, valid: Sequence[Observation]) -> PriorStack | None:
        """The priors' stack when this study transfers from them, else None (cold, or a case the stack does
        not model: several objectives or constraints, or no prior with two results)."""
        if self.warm_mode != TRANSFER or not self.priors or len(self.objectives) > 1 or self.transfer_off:
            return None
        if self.transfer_trials and len(valid) >= self.transfer_trials:
            # From here on the study's own results decide: where the priors steered the first trials is its
            # initial design. A stack that fits the priors' tasks keeps pulling towards their optima; on a task
            # whose optimum lies elsewhere, or whose priors mislead, the residual GP alone could not leave them.
            return None
        if any(o.violations for o in valid) or any(o.violations for p in self.priors for o in p.observations):
            return None
        if not self._stack_built:
            scale = warp if self.warp_outputs else standardize
            self._stack = build_stack(self.priors, self.objectives, self.encoder, self.geometry, self.prior, scale)
            self._stack_built = True
        return self._stack

    def _residual_model(self, valid: Sequence[Observation], X: np.ndarray, colact: np.ndarray,
                        m_own: np.ndarray) -> tuple[GPModel, np.ndarray, float, float]:
        """(residual GP, its targets, a, b). Before two results the study's scale is unknown: the stack as it
        is (a = 0, b = 1), every own result where it predicts, and the last prior's hyperparameters."""
        if len(valid) < 2:
            model = GPModel(self.geometry, self._stack_theta(), X, colact, capacity=len(X) + 16)
            return model, np.zeros(len(valid)), 0.0, 1.0
        y = losses(self.objectives, valid)
        z = warp(y) if self.warp_outputs else standardize(y)
        a, b = regress(z, m_own)
        r = z - a - b * m_own
        if self._needs_fit(len(valid)):
            self._fit(X, colact, r)
        return self._base_model(tuple(o.trial_id for o in valid), X, colact, self.n_fit), r, a, b

    def _contradicted(self, valid: Sequence[Observation], stack: PriorStack) -> bool:
        """The study has CONTRADICTED results or more and its regression on the stack has no positive slope."""
        if len(valid) < CONTRADICTED:
            return False
        X, act = self.encoder.encode([o.params for o in valid])
        y = losses(self.objectives, valid)
        z = warp(y) if self.warp_outputs else standardize(y)
        return regress(z, stack.mean(X, self.encoder.col_active(act))[0])[1] <= 0.0

    def _stack_theta(self) -> np.ndarray:
        assert self._stack is not None
        return self._stack.theta

    def _transfer_suggestions(self, count: int, history: Sequence[Observation], valid: Sequence[Observation],
                              running: Sequence[Assignment], stack: PriorStack) -> list[Assignment]:
        """Like _model_suggestions, with the mean a + b m(x) under the residual GP's."""
        enc = self.encoder
        X, act = enc.encode([o.params for o in valid])
        colact = enc.col_active(act)
        m_own = stack.mean(X, colact)[0]
        model, r, a, b = self._residual_model(valid, X, colact, m_own)
        z_own = a + b * m_own + r
        best = float(z_own.min()) if len(valid) >= 2 else min([stack.best, *m_own.tolist()])
        liar = float(z_own.mean()) if len(valid) >= 2 and self.parallel == "liar" else None

        def base(Z: np.ndarray, za: np.ndarray, cols: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
            m, g = stack.mean(Z, za, cols)
            return a + b * m, None if g is None else b * g

        fantasy = model.fork(len(running) + count)
        ys = list(r)
        taken = [X, enc.encode([o.params for o in history if o.values is None])[0]]

        def add_fantasy(x: np.ndarray, xa: np.ndarray) -> None:
            # Believer: the residual GP's mean there; liar: the mean of the results (residual 0 before two).
            nonlocal best
            fantasy.set_targets(np.asarray(ys))
            at = float(base(x[None], xa[None], None)[0][0])
            res = float(fantasy.predict(x[None], xa[None])[0][0]) if liar is None else liar - at
            fantasy.append(x, xa)
            ys.append(res)
            best = min(best, at + res)

        if running:
            Xp, Ap = enc.encode(running)
            for x, xa in zip(Xp, enc.col_active(Ap), strict=True):
                add_fantasy(x, xa)
            taken.append(Xp)
        fantasy.set_targets(np.asarray(ys))
        centers = np.vstack([X[np.argsort(z_own, kind="stable")[:5]], stack.centers])
        out = []
        for _ in range(count):
            cand = maximize(enc, self._shifted_acquisition(fantasy, base, lambda: best), self.rng, centers,
                            raw=self._raw_count(len(valid)), starts=self.restarts, local=20)
            x, xact = self._choose(enc, fantasy, cand, len(valid), taken)
            out.append(enc.decode(x[None], xact[None])[0])
            taken.append(x[None])
            add_fantasy(x, enc.col_active(xact[None])[0])
            fantasy.set_targets(np.asarray(ys))
            self.suggested += 1
        return out

    @staticmethod
    def _shifted_acquisition(model: GPModel, base: Any, best: Any) -> Any:
        """log EI of the residual GP's posterior shifted by the mean `base` (the stack, rescaled)."""
        def acq(Z: np.ndarray, colact: np.ndarray, cols: np.ndarray | None) -> tuple[np.ndarray, ...]:
            shift, dshift = base(Z, colact, cols)
            if cols is None:
                mu, var = model.predict(Z, colact)
                return log_ei(shift + mu, var, best())
            mu, var, dmu, dvar = model.predict(Z, colact, cols)
            return log_ei(shift + mu, var, best(), dmu + dshift, dvar)

        return acq

    def _raw_count(self, n: int) -> int:
        if n <= SCAN_FULL:
            return self.candidates
        return max(256, int(self.candidates * (SCAN_FULL / n) ** 2))

    # --- the model ------------------------------------------------------------------

    def _needs_fit(self, n: int) -> bool:
        return self.theta is None or n - self.n_fit >= max(1, self.n_fit // 20) or n < self.n_fit

    def _fit_outputs(self, X: np.ndarray, colact: np.ndarray, y_raw: np.ndarray, n_results: int) -> np.ndarray:
        """Fits the GP to the losses y_raw standardised and, with warp_outputs, warped too, keeps the one of
        the two with the higher evidence (the warped one's posterior times its Jacobian), and returns its
        targets: a warp spreads out the low values of a loss with a heavy upper tail, and on a rippled one
        (Levy's, Rastrigin's) it makes the ripples near the best values look like the whole landscape."""
        z = standardize(y_raw)
        if not self.warp_outputs:  # then warped is False from the start
            self._fit(X, colact, z, n_results)
            return z
        t, log_slope = warp_with_log_jacobian(y_raw)
        if np.array_equal(t, z):
            self._fit(X, colact, z, n_results)
            return z
        before, fits = self.theta, {}
        for warped, y in ((True, t), (False, z)):
            self.theta = before
            value, idx = self._fit(X, colact, y, n_results)
            fits[warped] = (value - float(log_slope[idx].sum()) if warped else value, self.theta, y)
        self.warped = fits[True][0] < fits[False][0]
        self.theta = fits[self.warped][1]
        return fits[self.warped][2]

    def _fit(self, X: np.ndarray, colact: np.ndarray, y: np.ndarray,
             n_results: int | None = None) -> tuple[float, np.ndarray]:
        """Hyperparameters by MAP on rows X; n_fit becomes n_results (default: every row of X). Returns the
        negative log posterior and the rows it was fitted on."""
        n = len(X)
        idx = np.arange(n)
        if n > FIT_MAX:
            best = np.argsort(y, kind="stable")[:FIT_BEST]
            idx = np.union1d(best, np.arange(n - (FIT_MAX - FIT_BEST), n))
        S = self.geometry.param_sq_dists(X[idx], colact[idx])
        starts = [self.prior.mode(self.encoder.n_params)]
        if self.theta is not None:
            starts = [self.theta, *starts] if len(idx) <= 150 else [self.theta]
        self.theta, value = fit_map_value(S, y[idx], starts, self.prior)
        self.n_fit = n if n_results is None else n_results
        return value, idx

    def _base_model(self, ids: tuple[int, ...], X: np.ndarray, colact: np.ndarray, base: int) -> GPModel:
        """The factor of the observations (trial ids `ids`, rows X): the cached one extended, or rebuilt the
        canonical way, one factorisation of the first `base` rows and the others appended."""
        assert self.theta is not None
        key = (tuple(self.theta.tolist()), base)
        m = self._model
        if m is None or self._model_key[:2] != key or ids[:m.n] != self._model_key[2]:
            m = GPModel(self.geometry, self.theta, X[:base], colact[:base], capacity=len(X) + 16)
        for r in range(m.n, len(X)):
            m.append(X[r], colact[r])
        self._model, self._model_key = m, (*key, ids)
        return m

    # --- state ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        many = {"thetas": [t.tolist() for t in self.thetas], "n_fit_many": self.n_fit_many} if self.thetas else {}
        off = {"transfer_off": True} if self.transfer_off else {}
        return {**super().state(), "theta": None if self.theta is None else self.theta.tolist(), "n_fit": self.n_fit,
                "warped": self.warped, **many, **off}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.theta = None if state["theta"] is None else np.asarray(state["theta"], dtype=float)
        self.n_fit = int(state["n_fit"])
        self.warped = bool(state.get("warped", self.warp_outputs))
        self._model = None
        thetas = state.get("thetas")
        self.thetas = None if thetas is None else [np.asarray(t, dtype=float) for t in thetas]
        self.n_fit_many = int(state.get("n_fit_many", 0))
        self.transfer_off = bool(state.get("transfer_off", False))
