"""RL controller policy (ENAS / NASNet style): an LSTM emits the decisions, REINFORCE trains it.

Each suggestion is a sequence sampled from the policy (lstm.py): the
decisions of the space in order, architecture and hyperparameters alike
(numeric ones binned, choices.py), skipping those whose condition does not
hold. Each finished trial is one REINFORCE step on its own reward (the first
objective, negated when minimised), with advantage = reward - baseline, the
baseline an exponential moving average of the rewards so far, and an entropy
bonus that keeps the policy exploring. Failed trials teach nothing.

The policy's weights, its Adam moments, the baseline and which trials it has
learned from are the sampler state: committed with the trial events, so a
restarted controller continues the same policy. Weights and moments are kept
at float32 precision (and stored as base64 of their bytes), so the state
restored from JSON is bit for bit the one in memory.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nestor_controller.errors import SpecError
from nestor_controller.limits import MAX_POLICY_BINS, MAX_POLICY_LOGIT, MAX_POLICY_STEP, MAX_POLICY_WEIGHTS
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.choices import actions, categorical_view
from nestor_controller.samplers.lstm import Adam, LSTMPolicy
from nestor_controller.samplers.model_based import check_single_objective
from nestor_controller.samplers.sampling import rng_from_state, rng_state
from nestor_controller.space import Space


def _pack(x: np.ndarray) -> str:
    return base64.b64encode(x.astype("<f4").tobytes()).decode("ascii")


def _unpack(text: str, size: int, what: str) -> np.ndarray:
    x = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)
    if x.size != size:
        raise ValueError(f"rl state: {what} has {x.size} values, the policy needs {size}")
    return x


def _f32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).astype(np.float64)


class RLPolicySampler(Sampler):
    name = "rl"
    searches_architectures = True
    defaults: Mapping[str, Any] = {
        "hidden_size": 32, "learning_rate": 0.02, "baseline_decay": 0.8, "entropy_weight": 0.01,
        "temperature": 1.0, "tanh_constant": 2.5, "numeric_bins": 8,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.view = categorical_view(self.space, int(s["numeric_bins"]))
        sizes = [(c.name, len(c.values)) for c in self.view if len(c.values) > 1]
        self.policy = LSTMPolicy(sizes, int(s["hidden_size"]), float(s["temperature"]), float(s["tanh_constant"]))
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.policy.init(self.rng)
        self.policy.theta = _f32(self.policy.theta)
        self.adam = Adam(self.policy.layout.size, float(s["learning_rate"]))
        self.decay = float(s["baseline_decay"])
        self.entropy_weight = float(s["entropy_weight"])
        self.baseline: float | None = None
        self.seen: set[int] = set()
        self.suggested = 0

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        check_single_objective(cls.name, objectives)
        merged = {**cls.defaults, **settings}
        if setting(merged, "hidden_size", int, minimum=1) > 1024:
            raise SpecError(f"spec.algorithm.settings.hidden_size: at most 1024, got {merged['hidden_size']!r}")
        bins = setting(merged, "numeric_bins", int, minimum=2, maximum=MAX_POLICY_BINS)
        hidden = int(merged["hidden_size"])
        choices = sum(len(c.values) for c in categorical_view(space, bins) if len(c.values) > 1)
        # An embedding and an output row per choice, besides the LSTM itself.
        weights = 8 * hidden * hidden + choices * (2 * hidden + 1)
        if weights > MAX_POLICY_WEIGHTS:
            raise SpecError(f"spec.algorithm.settings: the policy would have {weights} weights ({choices} choices, "
                            f"hidden_size={hidden}), over the limit of {MAX_POLICY_WEIGHTS}; lower hidden_size or "
                            "numeric_bins")
        # Beyond these the policy's weights or Adam's moments overflow, and every later suggestion would fail.
        for name, most in (("learning_rate", MAX_POLICY_STEP), ("entropy_weight", MAX_POLICY_STEP),
                           ("tanh_constant", MAX_POLICY_LOGIT)):
            setting(merged, name, float, minimum=0.0, maximum=most)
        if setting(merged, "temperature", float, maximum=MAX_POLICY_LOGIT) <= 0:
            raise SpecError(f"spec.algorithm.settings.temperature: must be > 0, got {merged['temperature']!r}")
        decay = setting(merged, "baseline_decay", float, minimum=0.0)
        if decay >= 1:
            raise SpecError(f"spec.algorithm.settings.baseline_decay: must be < 1, got {decay!r}")

    # --- learning ---------------------------------------------------------------

    def reward(self, obs: Observation) -> float:
        assert obs.values is not None
        return -self.objectives[0].loss(obs.values[0])

    def learn(self, obs: Observation) -> None:
        """One REINFORCE step on a finished trial's own reward."""
        r = self.reward(obs)
        if self.baseline is None:
            self.baseline = r  # the first reward has nothing to compare with
        advantage = r - self.baseline
        self.baseline = self.decay * self.baseline + (1 - self.decay) * r
        sequence = [(c.name, i) for c, i in actions(self.view, self.space, obs.params)]
        if not sequence:
            return
        grad = self.policy.gradient(sequence, advantage, self.entropy_weight)
        self.policy.theta = _f32(self.adam.step(self.policy.theta, grad))
        self.adam.m, self.adam.v = _f32(self.adam.m), _f32(self.adam.v)

    def observe(self, history: Sequence[Observation]) -> None:
        for obs in history:
            if obs.trial_id in self.seen:
                continue
            self.seen.add(obs.trial_id)
            if obs.values is not None:
                self.learn(obs)

    # --- sampling ---------------------------------------------------------------

    def sample(self, fixed: Mapping[str, Any] | None = None) -> Assignment:
        """One assignment from the policy; `fixed` values are fed to it instead of sampled ones."""
        out: Assignment = {}
        x, h, c = self.policy.initial()
        for choice in self.view:
            if not self.space.is_active(choice.param, out):
                continue
            if len(choice.values) == 1:
                out[choice.name] = choice.values[0]
                continue
            step = self.policy.step(x, h, c, choice.name)
            if fixed and choice.name in fixed:
                # The exact value goes out; the policy goes on from its nearest bin.
                out[choice.name] = fixed[choice.name]
                a = choice.index(fixed[choice.name])
            else:
                a = int(self.rng.choice(len(step.p), p=step.p))
                out[choice.name] = choice.values[a]
            x, h, c = self.policy.embed(choice.name, a), step.h, step.c
        return out

    def probability(self, params: Mapping[str, Any]) -> float:
        """How likely the policy is to emit `params` (their binned decisions)."""
        sequence = [(c.name, i) for c, i in actions(self.view, self.space, params)]
        return float(np.exp(self.policy.log_prob(sequence)))

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        self.observe(history)
        out = []
        for _ in range(count):
            defaults = {p.name: p.default for p in self.space.params if p.default is not None}
            out.append(self.sample(defaults if self.suggested == 0 and defaults else None))
            self.suggested += 1
        return out

    # --- state ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "suggested": self.suggested, "baseline": self.baseline,
                "seen": sorted(self.seen), "theta": _pack(self.policy.theta), "adam_m": _pack(self.adam.m),
                "adam_v": _pack(self.adam.v), "adam_t": self.adam.t}

    def load_state(self, state: Mapping[str, Any]) -> None:
        size = self.policy.layout.size
        self.rng = rng_from_state(state["rng"])
        self.suggested = int(state["suggested"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.seen = {int(i) for i in state["seen"]}
        self.policy.theta = _unpack(state["theta"], size, "theta")
        self.adam.m = _unpack(state["adam_m"], size, "adam_m")
        self.adam.v = _unpack(state["adam_v"], size, "adam_v")
        self.adam.t = int(state["adam_t"])
