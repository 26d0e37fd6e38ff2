"""CMA-ES over the numeric parameters, in the unit cube of their encoding.

A (mu/mu_w, lambda) evolution strategy that adapts a full covariance matrix
and a step size (cumulative step-size adaptation, rank-one and rank-mu
updates). The update is active: the worse half of a generation has negative
weights (Hansen's tutorial, as the `cmaes` package does), which measured
better than positive weights alone on bench/samplers.py's development split.
Unconditional double and int parameters (and ordered categoricals) form the
search vector, log-scaled ones in log space, integers rounded when
suggested; unordered categoricals and conditional parameters are drawn at
random for each candidate. The first mean is the cube's centre and the
first step 1/6 of each range, as the `cmaes` package starts; a candidate
outside the cube is drawn again (up to RESAMPLES times, then clipped), which
measured better than reflecting it back on the development split: a
reflected point is not a draw from the distribution the update assumes.
When the step size collapses, or the best 70% of a generation scored the
same (flat fitness: on integer spaces a converged search draws one point
again and again), the search restarts from a random mean with twice the
population (IPOP), which helps on multimodal objectives. Results
the study had before the first candidate (added or enqueued trials, a warm
start's top_k) place the first distribution on the best of them
(_warm_start).

Trials are matched to candidates by their parameters; a generation updates
the distribution once `lambda` of its candidates have finished (more may be
handed out while they run: stragglers from an old generation are ignored).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.blas import single_threaded
from nestor_controller.samplers.encoding import Encoder
from nestor_controller.samplers.model_based import check_single_objective
from nestor_controller.samplers.sampling import draw, rng_from_state, rng_state
from nestor_controller.space import ParamDef, Space

#: Restart when the largest standard deviation left (in the unit cube) is below this.
CONVERGED = 1e-7
MAX_POPULATION = 1024
RESAMPLES = 100
#: A warm start fits the first distribution to this fraction of the given results, widened by this step.
WARM_GAMMA, WARM_ALPHA = 0.1, 0.1


def numeric_params(space: Space) -> list[ParamDef]:
    return [p for p in space.params if not p.conditions and (p.kind != "categorical" or p.ordered)]


def flat_fitness(losses: np.ndarray) -> bool:
    """Whether the best 70% of a generation scored the same (Hansen's flat-fitness test): on integer and
    stepped spaces a converged search draws one point over and over, its step size shrinking too slowly to
    reach CONVERGED within any budget, so only this ends it."""
    ranked = np.sort(losses)
    return bool(ranked[0] == ranked[math.ceil(0.7 * len(ranked)) - 1])


def default_population(d: int) -> int:
    return 4 + int(3 * math.log(max(d, 1)))


class Strategy:
    """The CMA-ES constants and distribution for dimension d and population lam (plain floats and lists
    inside, so that the state is JSON)."""

    def __init__(self, d: int, lam: int, sigma: float, mean: np.ndarray) -> None:
        self.d, self.lam = d, lam
        self.mean = mean.astype(float)
        self.sigma = sigma
        self.C = np.eye(d)
        self.pc = np.zeros(d)
        self.ps = np.zeros(d)
        self.gen = 0
        self._constants()

    def _constants(self) -> None:
        """Hansen's 2016 tutorial defaults with active covariance adaptation: the better half of a generation
        pulls the covariance towards its steps, the worse half pushes it away from theirs (negative weights),
        which adapts to ill-conditioned objectives in fewer generations."""
        d, lam = self.d, self.lam
        mu = lam // 2
        raw = math.log((lam + 1) / 2) - np.log(np.arange(1, lam + 1))
        pos, neg = raw[:mu], raw[mu:]
        self.mueff = float(pos.sum() ** 2 / (pos ** 2).sum())
        me = self.mueff
        self.cs = (me + 2) / (d + me + 5)
        self.ds = 1 + 2 * max(0.0, math.sqrt((me - 1) / (d + 1)) - 1) + self.cs
        self.cc = (4 + me / d) / (d + 4 + 2 * me / d)
        self.c1 = 2 / ((d + 1.3) ** 2 + me)
        self.cmu = min(1 - self.c1, 2 * (me - 2 + 1 / me) / ((d + 2) ** 2 + me))
        self.chi = math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (21 * d * d))
        self.weights = np.concatenate([pos / pos.sum(), np.zeros(len(neg))])
        if self.cmu > 0 and (neg < 0).any():  # they act through the rank-mu update alone
            mueff_neg = float(neg.sum() ** 2 / (neg ** 2).sum())
            # The largest total negative weight that keeps C positive definite (the tutorial's three bounds).
            scale = min(1 + self.c1 / self.cmu, 1 + 2 * mueff_neg / (me + 2),
                        (1 - self.c1 - self.cmu) / (d * self.cmu))
            self.weights[mu:] = np.where(neg < 0, scale * neg / np.abs(neg[neg < 0]).sum(), 0.0)

    def eig(self) -> tuple[np.ndarray, np.ndarray]:
        vals, B = np.linalg.eigh(0.5 * (self.C + self.C.T))
        return np.sqrt(np.maximum(vals, 1e-20)), B

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        D, B = self.eig()
        for _ in range(RESAMPLES):
            x = self.mean + self.sigma * (B @ (D * rng.standard_normal(self.d)))
            if np.all((x >= 0.0) & (x <= 1.0)):
                return x
        return np.clip(x, 0.0, 1.0)

    def update(self, xs: np.ndarray, losses: np.ndarray) -> None:
        order = np.argsort(losses, kind="stable")[: self.lam]
        ys = (xs[order] - self.mean) / self.sigma
        w = self.weights[: len(ys)]
        step = np.maximum(w, 0.0) @ ys
        D, B = self.eig()
        inv_sqrt = B @ np.diag(1.0 / D) @ B.T
        self.mean = self.mean + self.sigma * step
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * (inv_sqrt @ step)
        self.gen += 1
        norm = float(np.linalg.norm(self.ps))
        hsig = norm / math.sqrt(1 - (1 - self.cs) ** (2 * self.gen)) / self.chi < 1.4 + 2 / (self.d + 1)
        self.pc = (1 - self.cc) * self.pc + hsig * math.sqrt(self.cc * (2 - self.cc) * self.mueff) * step
        # A negative weight is rescaled by the step's Mahalanobis length, so that a far-off bad step cannot
        # shrink the covariance more than a near one.
        lengths = np.sum((ys @ inv_sqrt) ** 2, axis=1)
        wo = np.where(w >= 0, w, w * self.d / np.maximum(lengths, 1e-20))
        rank_mu = (ys.T * wo) @ ys
        self.C = ((1 - self.c1 - self.cmu * float(w.sum())) * self.C
                  + self.c1 * (np.outer(self.pc, self.pc) + (not hsig) * self.cc * (2 - self.cc) * self.C)
                  + self.cmu * rank_mu)
        self.sigma *= math.exp(min(1.0, (self.cs / self.ds) * (norm / self.chi - 1)))

    def converged(self) -> bool:
        return self.sigma * float(self.eig()[0].max()) < CONVERGED

    def state(self) -> dict[str, Any]:
        return {"lam": self.lam, "mean": self.mean.tolist(), "sigma": self.sigma, "C": self.C.tolist(),
                "pc": self.pc.tolist(), "ps": self.ps.tolist(), "gen": self.gen}

    @classmethod
    def from_state(cls, d: int, s: Mapping[str, Any]) -> Strategy:
        out = cls(d, int(s["lam"]), float(s["sigma"]), np.asarray(s["mean"], dtype=float))
        out.C, out.pc, out.ps = (np.asarray(s[k], dtype=float) for k in ("C", "pc", "ps"))
        out.gen = int(s["gen"])
        return out


class CMAESSampler(Sampler):
    name = "cmaes"
    heavy: ClassVar[bool] = True
    defaults: Mapping[str, Any] = {"population_size": 0, "sigma0": 1 / 6, "restarts": True}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.params = numeric_params(self.space)
        self.encoder = Encoder(self.space, self.params)
        self.d = max(1, self.encoder.n_cols)
        self.lam0 = (setting(s, "population_size", int, minimum=0, maximum=MAX_POPULATION)
                     or default_population(self.d))
        self.sigma0 = setting(s, "sigma0", float, minimum=0.0)
        self.restarts = setting(s, "restarts", bool)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.es = Strategy(self.d, self.lam0, self.sigma0, self._start_mean())
        #: Candidates of the current generation not finished yet: [key, x]; finished ones: [x, loss].
        self.outstanding: list[list[Any]] = []
        self.results: list[list[Any]] = []
        self.consumed = 0

    def _start_mean(self) -> np.ndarray:
        defaults = {p.name: p.default for p in self.params if p.default is not None}
        mean = np.full(self.d, 0.5)
        if defaults:  # start from the user's defaults where given
            X, act = self.encoder.encode([defaults])
            mean = np.where(self.encoder.col_active(act)[0] * act[0][self.encoder.col_param] > 0, X[0], mean)
        return mean

    @classmethod
    def check(cls, space: Space, objectives: Sequence[Any], settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        check_single_objective(cls.name, objectives)
        if not numeric_params(space):
            raise SpecError("spec.space: algorithm 'cmaes' needs at least one double or int parameter without a "
                            "condition (it searches a continuous vector); use tpe, ga or gp for this space")
        sampler = cls(space, objectives, settings, 0)
        if sampler.sigma0 <= 0 or sampler.sigma0 > 1:
            raise SpecError(f"spec.algorithm.settings.sigma0: the initial step (a fraction of each range) must be "
                            f"in (0, 1], got {sampler.sigma0}")
        if sampler.lam0 < 2:
            raise SpecError(f"spec.algorithm.settings.population_size: must be >= 2 (or 0 for automatic), "
                            f"got {sampler.lam0}")
        if max_trials and sampler.lam0 > max_trials:
            raise SpecError(f"spec.algorithm.settings.population_size: a population of {sampler.lam0} is larger "
                            f"than the budget of max_trials={max_trials}, so not even one generation would "
                            "complete; lower population_size or raise max_trials")

    # --- suggesting -----------------------------------------------------------------

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        with single_threaded():
            self._tell(history)
            return [self._ask() for _ in range(count)]

    def _tell(self, history: Sequence[Observation]) -> None:
        o = self.objectives[0]
        # Results that were there before the first candidate (added or enqueued trials, a warm start's top_k)
        # place the first generation (_warm_start).
        fresh = self.es.gen == 0 and not self.outstanding and not self.results
        given = []
        for h in history[self.consumed:]:
            k = json.dumps(h.params, sort_keys=True)
            match = next((i for i, (key, _) in enumerate(self.outstanding) if key == k), None)
            if match is None:
                if fresh and h.values is not None:
                    given.append((o.loss(h.values[0]), h.params))
                continue  # a straggler of an older generation, or not ours
            _, x = self.outstanding.pop(match)
            if h.values is not None:  # a failed candidate is simply replaced by a new one
                self.results.append([x, o.loss(h.values[0])])
            if len(self.results) >= self.es.lam:
                self._next_generation()
        self.consumed = len(history)
        if given:
            self._warm_start(given)

    def _warm_start(self, given: list[tuple[float, Assignment]]) -> None:
        """The first distribution fitted to the best WARM_GAMMA of the given results (at least one), as
        WS-CMA-ES does (Nomura et al. 2021): their mean, and their covariance plus WARM_ALPHA^2 I split into a
        step size and a shape, so the first generation searches where they are and as widely as they spread."""
        top = sorted(given, key=lambda lp: lp[0])[:max(1, math.ceil(WARM_GAMMA * len(given)))]
        X, act = self.encoder.encode([params for _, params in top])
        X = np.where(self.encoder.col_active(act) > 0, X, self.es.mean)  # an absent column keeps the centre
        self.es.mean = X.mean(axis=0)
        if len(X) > 1:
            dev = X - self.es.mean
            cov = WARM_ALPHA ** 2 * np.eye(self.d) + dev.T @ dev / len(X)
            sigma = float(np.exp(np.linalg.slogdet(cov)[1] / (2 * self.d)))
            self.es.sigma, self.es.C = sigma, cov / sigma ** 2

    def _next_generation(self) -> None:
        xs = np.asarray([x for x, _ in self.results], dtype=float)
        losses = np.asarray([loss for _, loss in self.results], dtype=float)
        self.es.update(xs, losses)
        self.outstanding, self.results = [], []
        if self.restarts and (self.es.converged() or flat_fitness(losses)):
            lam = min(MAX_POPULATION, 2 * self.es.lam)
            self.es = Strategy(self.d, lam, self.sigma0, self.rng.random(self.d))

    def _ask(self) -> Assignment:
        x = self.es.sample(self.rng)
        X, act = self.encoder.repair(x[None, :])
        numeric = self.encoder.decode(X, act)[0]
        out: Assignment = {}
        for p in self.space.params:
            if not self.space.is_active(p, out):
                continue
            out[p.name] = numeric[p.name] if p.name in numeric else draw(p, self.rng)
        self.outstanding.append([json.dumps(out, sort_keys=True), x.tolist()])
        return out

    # --- state -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "es": self.es.state(), "outstanding": self.outstanding,
                "results": self.results, "consumed": self.consumed}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_state(state["rng"])
        self.es = Strategy.from_state(self.d, state["es"])
        self.outstanding = [list(x) for x in state["outstanding"]]
        self.results = [list(x) for x in state["results"]]
        self.consumed = int(state["consumed"])
