"""One-shot NAS in one study: a weight-sharing supernet trained once, architectures scored with its weights, the
best trained alone.

The study's trials go through three phases, each trial saying its own by the reserved parameter `oneshot_mode`:

1. `train`: a trial trains the supernet of the study's architecture space (the trainable's train mode; its
   space travels as the `edge_cell` parameter for an edge-op cell space, else as `arch_space`, the space's
   JSON). One that fails is replaced.
2. `evaluate`: architectures proposed by an inner architecture sampler (`sampler`, any that searches
   architectures: random, regularized_evolution, rl, tpe, gp) are each scored with the supernet's weights.
   Each starts from the supernet's checkpoint (Sampler.restores: the executor links it into the trial's own
   folder), so the supernet is never written again. The inner sampler learns from these scores only, and its
   state is kept inside this one's.
3. `standalone`: once every evaluation ended, the `top_k` distinct architectures by supernet score, and
   `rank_check` more spread evenly over the rest of the ranking, are trained from scratch. Only these trials
   are candidate results: the study's best is a trained network, not a supernet score.

With `rounds` R > 1, phases 1 and 2 alternate as in ENAS: round r's supernet trial continues the previous
one's weights (restored from its checkpoint) up to epoch r/R of `supernet_epochs`, training on `policy_paths`
paths the inner sampler proposes from what it learnt so far (its policy, for `rl`) instead of uniform ones,
then 1/R of the evaluations score architectures with it. Only the last round's scores rank the architectures:
earlier ones were made with other weights.

The study reports (Study.one_shot) the Kendall tau between supernet score and standalone result over the
architectures trained both ways; the rank-check ones keep it from being measured on the top alone.
Which architectures go on to phase 3 is a function of the stored results, so a restarted controller picks the
same ones. Ordinary parameters of the space (a learning rate) are drawn once, for the supernet, and inherited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from google.protobuf import json_format
from nestor import architecture as arch
from nestor.v1 import study_pb2
from nestor.values import ParamValue

from nestor_controller.errors import SpecError
from nestor_controller.objectives import ObjectiveDef
from nestor_controller.samplers.base import Assignment, Observation, Sampler, setting
from nestor_controller.samplers.history import Appended
from nestor_controller.samplers.sampling import draw_assignment, rng_from_state, rng_state
from nestor_controller.space import Space

MODE = "oneshot_mode"
TRAIN, EVALUATE, STANDALONE = "train", "evaluate", "standalone"
#: Parameters the phases add to a trial: its mode, the supernet's space (train), the supernet a score came from
#: (evaluate, standalone) and the evaluation a standalone trial retrains.
#: A supernet trial carries its round, the epoch it trains to and every round's epochs (a learning-rate schedule
#: spans them all); a later round's, the paths it trains on.
#: A standalone trial carries which of the architecture's `standalone_seeds` trainings it is.
RESERVED = (MODE, "edge_cell", "arch_space", "supernet_trial", "evaluate_trial", "round", "until_epoch",
            "supernet_epochs", "paths", "repeat")
ARCH_PREFIX = "arch."
#: Evaluations that must have ended before tau is worth printing.
MIN_PAIRS = 3
MAX_EPOCHS = 10_000
#: Paths a later round's supernet trains on, at most (they travel as one parameter).
MAX_PATHS = 1000
MAX_SEEDS = 10


def mode_of(params: Mapping[str, ParamValue]) -> str:
    return str(params.get(MODE, ""))


def arch_key(params: Mapping[str, ParamValue]) -> tuple[tuple[str, ParamValue], ...]:
    return tuple(sorted((k, v) for k, v in params.items() if k.startswith(ARCH_PREFIX)))


def supernet_space(space: Space) -> dict[str, str]:
    """The supernet's space as the trainable's parameter: an edge-op cell space as `edge_cell` (its settings,
    defaults filled in), any other as `arch_space` (the space's JSON)."""
    a = space.architecture
    assert a is not None
    if a.HasField("edge_cell"):
        e = a.edge_cell
        return {"edge_cell": json.dumps({"num_nodes": int(e.num_nodes or arch.DEFAULT_NUM_NODES),
                                         "operations": list(e.operations or arch.DEFAULT_EDGE_OPS),
                                         "num_cells": int(e.num_cells or arch.DEFAULT_NUM_CELLS),
                                         "init_channels": int(e.init_channels or arch.DEFAULT_INIT_CHANNELS)},
                                        sort_keys=True)}
    return {"arch_space": json.dumps(json_format.MessageToDict(a), sort_keys=True)}


def score_objective(objective: ObjectiveDef, settings: Mapping[str, Any]) -> ObjectiveDef:
    """What ranks the architectures by their supernet evaluation: score_metric and score_goal, else the objective."""
    metric = str(settings.get("score_metric") or objective.metric)
    goal = str(settings.get("score_goal") or "")
    return ObjectiveDef(metric, goal == "maximize" if goal else objective.maximize)


class OneShotSampler(Sampler):
    name = "oneshot"
    searches_architectures = True
    waits_for_running = True
    #: Trials of a one-shot study start from one another's checkpoints, so each has a named folder.
    shares_checkpoints: ClassVar[bool] = True
    defaults: Mapping[str, Any] = {"evaluations": 100, "top_k": 5, "rank_check": 5,
                                   "sampler": "regularized_evolution", "sampler_settings": {},
                                   "rounds": 1, "supernet_epochs": 20, "policy_paths": 100,
                                   "score_metric": "", "score_goal": "", "standalone_seeds": 1}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.evaluations, self.top_k, self.rank_check = int(s["evaluations"]), int(s["top_k"]), int(s["rank_check"])
        self.rounds, self.supernet_epochs = int(s["rounds"]), int(s["supernet_epochs"])
        self.policy_paths, self.seeds = int(s["policy_paths"]), int(s["standalone_seeds"])
        self.ordinary = Space([p for p in self.space.params if not p.name.startswith(ARCH_PREFIX)])
        self.arch_space = Space([p for p in self.space.params if p.name.startswith(ARCH_PREFIX)],
                                self.space.architecture)
        self.score = score_objective(self.objectives[0], s)
        from nestor_controller.samplers import make_sampler

        self.inner = make_sampler(str(s["sampler"]), self.arch_space, [self.score],
                                  dict(s["sampler_settings"]), self.seed)
        self.rng = np.random.Generator(np.random.PCG64([self.seed, 1]))
        self.done = False
        # The evaluations as the inner sampler sees them, kept as the history grows (derived, not state).
        self._cursor = Appended()
        self._evaluated: list[Observation] = []
        self._supernet_of: dict[int, int] = {}

    @classmethod
    def check(cls, space: Space, objectives: Sequence[ObjectiveDef], settings: Mapping[str, Any],
              max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        merged = {**cls.defaults, **settings}
        evaluations = setting(merged, "evaluations", int, minimum=1)
        top_k = setting(merged, "top_k", int, minimum=1)
        rank_check = setting(merged, "rank_check", int, minimum=0)
        rounds = setting(merged, "rounds", int, minimum=1, maximum=evaluations)
        epochs = setting(merged, "supernet_epochs", int, minimum=1, maximum=MAX_EPOCHS)
        setting(merged, "policy_paths", int, minimum=1, maximum=MAX_PATHS)
        seeds = setting(merged, "standalone_seeds", int, minimum=1, maximum=MAX_SEEDS)
        if rounds > epochs:
            raise SpecError(f"spec.algorithm.settings.rounds: {rounds} rounds need at least as many supernet_epochs, "
                            f"got {epochs}")
        if len(objectives) != 1:
            raise SpecError("spec.objectives: algorithm 'oneshot' ranks architectures by one objective")
        if merged["score_goal"] not in ("", "minimize", "maximize"):
            raise SpecError(f"spec.algorithm.settings.score_goal: 'minimize' or 'maximize', got "
                            f"{merged['score_goal']!r:.100}")
        if not isinstance(merged["score_metric"], str) or len(merged["score_metric"]) > 200:
            raise SpecError(f"spec.algorithm.settings.score_metric: a metric name, got {merged['score_metric']!r:.100}")
        score = score_objective(objectives[0], merged)
        a = space.architecture
        if a is None:
            raise SpecError("spec.space.architecture: algorithm 'oneshot' searches an architecture space (chain, "
                            "multi_branch, cell or edge_cell); the space has none")
        clash = [p.name for p in space.params if p.name in RESERVED]
        if clash:
            raise SpecError(f"spec.space: parameter {clash[0]!r} is reserved by algorithm 'oneshot'")
        inner = merged["sampler"]
        if not isinstance(merged["sampler_settings"], Mapping):
            raise SpecError("spec.algorithm.settings.sampler_settings: expected a mapping of the inner "
                            f"sampler's settings, got {merged['sampler_settings']!r:.100}")
        from nestor_controller.samplers import SAMPLERS

        cls_ = SAMPLERS.get(inner) if isinstance(inner, str) else None
        if cls_ is None or not cls_.searches_architectures or getattr(cls_, "shares_checkpoints", False) \
                or inner in ("darts", "auto"):
            known = sorted(n for n, c in SAMPLERS.items() if c.searches_architectures
                           and n not in ("darts", "auto", cls.name))
            raise SpecError(f"spec.algorithm.settings.sampler: {inner!r:.100} is not an architecture sampler "
                            f"(one of {', '.join(known)})")
        arch_space = Space([p for p in space.params if p.name.startswith(ARCH_PREFIX)], a)
        try:
            cls_.check(arch_space, [score], dict(merged["sampler_settings"]), evaluations)
        except SpecError as e:
            raise SpecError(f"spec.algorithm.settings.sampler_settings: {e}") from None
        total = rounds + evaluations + (top_k + rank_check) * seeds
        if max_trials and max_trials < total:
            raise SpecError(f"spec.budget.max_trials: algorithm 'oneshot' runs {rounds} supernet trial(s), "
                            f"{evaluations} evaluation(s) and up to {(top_k + rank_check) * seeds} standalone "
                            f"trainings ((top_k + rank_check) x standalone_seeds), {total} trials; got {max_trials}")

    @property
    def heavy(self) -> bool:  # type: ignore[override]
        return bool(self.inner.heavy)

    # --- what a trial is ------------------------------------------------------------------------

    def scored(self, params: Mapping[str, ParamValue]) -> bool:
        return mode_of(params) not in (TRAIN, EVALUATE)

    def objectives_for(self, params: Mapping[str, ParamValue]) -> Sequence[ObjectiveDef] | None:
        """An evaluation is measured by its score (score_metric), which may not be the study's objective."""
        return [self.score] if mode_of(params) == EVALUATE else None

    def restores(self, params: Mapping[str, ParamValue]) -> int:
        """An evaluation starts from the checkpoint of the supernet it is scored with; a later round's supernet from
        the previous round's."""
        return int(params.get("supernet_trial", 0)) if mode_of(params) in (EVALUATE, TRAIN) else 0

    # --- phases -----------------------------------------------------------------------------------

    def evaluated(self, history: Sequence[Observation]) -> list[Observation]:
        """Every ended evaluation, in the order they ended, its parameters those of the architecture alone."""
        restart, new = self._cursor.new(history)
        if restart:
            self._evaluated, self._supernet_of = [], {}
        for o in new:
            if mode_of(o.params) == EVALUATE:
                self._evaluated.append(Observation(o.trial_id, {k: v for k, v in o.params.items()
                                                                if k.startswith(ARCH_PREFIX)},
                                                   o.values, o.budget, o.violations))
                self._supernet_of[o.trial_id] = int(o.params["supernet_trial"])
        return self._evaluated

    def supernets(self, history: Sequence[Observation]) -> list[Observation]:
        """The supernet trials that completed, one per round so far, in order."""
        return [o for o in history if mode_of(o.params) == TRAIN and o.values is not None]

    def supernet(self, history: Sequence[Observation]) -> Observation | None:
        """The latest supernet: the one the current round's evaluations use."""
        done = self.supernets(history)
        return done[-1] if done else None

    def quota(self, round_: int) -> int:
        """Evaluations of round `round_` (1-based): the evaluations split as evenly as they go."""
        return self.evaluations * round_ // self.rounds - self.evaluations * (round_ - 1) // self.rounds

    def scored_by(self, evaluated: Sequence[Observation], supernet: Observation | None) -> list[Observation]:
        """The evaluations made with this supernet: of self.evaluated, or of the history as it is."""
        if supernet is None:
            return []
        return [o for o in evaluated
                if int(o.params.get("supernet_trial", self._supernet_of.get(o.trial_id, 0))) == supernet.trial_id]

    def ranking(self, evaluated: Sequence[Observation]) -> list[Observation]:
        """Distinct architectures, best supernet score first (ties: the earlier evaluation); each by its first
        evaluation."""
        first: dict[tuple, Observation] = {}
        for o in evaluated:
            if o.values is not None:
                first.setdefault(arch_key(o.params), o)
        return sorted(first.values(), key=lambda o: (self.score.loss(o.values[0]), o.trial_id))  # type: ignore[index]

    def chosen(self, evaluated: Sequence[Observation]) -> list[tuple[Observation, str]]:
        """What phase 3 trains alone: the top_k, then rank_check spread evenly over the rest of the ranking."""
        ranked = self.ranking(evaluated)
        top, rest = ranked[:self.top_k], ranked[self.top_k:]
        out = [(o, "top_k") for o in top]
        if rest and self.rank_check:
            picks = np.unique(np.round(np.linspace(0, len(rest) - 1, min(self.rank_check, len(rest))))).astype(int)
            out += [(rest[int(i)], "rank_check") for i in picks]
        return out

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        evaluated = self.evaluated(history)
        supernets = self.supernets(history)
        if any(mode_of(a) == TRAIN for a in running) or count < 1:
            return []
        latest = supernets[-1] if supernets else None
        if latest is None:
            return [self.next_supernet(None, evaluated)]
        inherited = {k: v for k, v in latest.params.items() if k not in RESERVED}
        current = [a for a in running if mode_of(a) == EVALUATE]
        mine = self.scored_by(evaluated, latest)
        launched = len(mine) + sum(int(a["supernet_trial"]) == latest.trial_id for a in current)
        wanted = self.quota(len(supernets))
        if launched < wanted:
            proposed = self.inner.suggest(min(count, wanted - launched), evaluated,
                                          [{k: v for k, v in a.items() if k.startswith(ARCH_PREFIX)} for a in current])
            note = f"; {self.inner.decision_note}" if self.inner.decision_note else ""
            self.decision_note = (f"oneshot: proposed by {self.inner.name} and scored with the supernet of trial "
                                  f"{latest.trial_id}{note}")
            return [{**inherited, **a, MODE: EVALUATE, "supernet_trial": latest.trial_id} for a in proposed]
        if current:
            return []  # the next phase waits for every score of this one
        if len(supernets) < self.rounds:
            return [self.next_supernet(latest, evaluated)]
        chosen = self.chosen(mine)
        started = {(int(a["evaluate_trial"]), int(a.get("repeat", 0)))
                   for a in [*(o.params for o in history), *running] if mode_of(a) == STANDALONE}
        todo = [(o, k) for o, _ in chosen for k in range(self.seeds) if (o.trial_id, k) not in started]
        self.done = len(todo) <= count
        self.decision_note = (f"oneshot: trained alone, the top {self.top_k} of {len(self.ranking(mine))} "
                              f"architectures by supernet score and {self.rank_check} across the rest of the "
                              "ranking (rank check)" + (f", each {self.seeds} times" if self.seeds > 1 else ""))
        return [{**inherited, **o.params, MODE: STANDALONE, "supernet_trial": latest.trial_id,
                 "evaluate_trial": o.trial_id, **({"repeat": k} if self.seeds > 1 else {})} for o, k in todo[:count]]

    def next_supernet(self, previous: Observation | None, evaluated: Sequence[Observation]) -> Assignment:
        """The supernet trial of the next round: the first draws the ordinary parameters and trains on uniform
        paths; a later one continues the previous weights on paths the inner sampler proposes."""
        space = {MODE: TRAIN, **supernet_space(self.space)}
        if previous is None:
            fixed = {p.name: p.default for p in self.ordinary.params if p.default is not None}
            self.decision_note = "oneshot: trains the supernet every architecture of the space is a path of"
            return {**draw_assignment(self.ordinary, self.rng, fixed), **space, "round": 1,
                    "until_epoch": self.supernet_epochs // self.rounds, "supernet_epochs": self.supernet_epochs}
        r = int(previous.params.get("round", 1)) + 1
        proposed = self.inner.suggest(self.policy_paths, evaluated, [])
        # Each path as the values of the space's decisions in order (null: inactive), far shorter than named.
        names = [d.name for d in arch.decisions(self.space.architecture)]  # type: ignore[arg-type]
        paths = [[a.get(n) for n in names] for a in proposed]
        self.decision_note = (f"oneshot: round {r} of {self.rounds}: continues the supernet of trial "
                              f"{previous.trial_id} on {len(paths)} paths proposed by {self.inner.name}")
        inherited = {k: v for k, v in previous.params.items() if k not in RESERVED}
        return {**inherited, **space, "round": r, "until_epoch": self.supernet_epochs * r // self.rounds,
                "supernet_epochs": self.supernet_epochs,
                "supernet_trial": previous.trial_id, "paths": json.dumps(paths)}

    def exhausted(self) -> bool:
        return self.done

    # --- what the study shows ---------------------------------------------------------------------

    def describe(self, study: study_pb2.Study, history: Sequence[Observation]) -> None:
        # Read from the history alone: a suggestion may be updating this sampler's own view in another thread.
        supernets = self.supernets(history)
        supernet = supernets[-1] if supernets else None
        evaluated = [o for o in history if mode_of(o.params) == EVALUATE]
        final = self.scored_by(evaluated, supernet) if len(supernets) >= self.rounds else []
        standalone: dict[int, list[Observation]] = {}
        for o in history:
            if mode_of(o.params) == STANDALONE and o.values is not None:
                standalone.setdefault(int(o.params["evaluate_trial"]), []).append(o)
        ranked = self.ranking(final)
        rank = {o.trial_id: i + 1 for i, o in enumerate(ranked)}
        complete = len(supernets) >= self.rounds and len(final) >= self.quota(self.rounds)
        reasons = {o.trial_id: why for o, why in self.chosen(final)} if complete else {}
        s = study.one_shot
        s.sampler = self.inner.name
        s.supernet_trial = supernet.trial_id if supernet else 0
        s.evaluated, s.evaluations, s.distinct = len(evaluated), self.evaluations, len(ranked)
        s.standalone = sum(mode_of(o.params) == STANDALONE for o in history)
        s.standalone_planned = (self.top_k + self.rank_check) * self.seeds
        s.rounds, s.round = self.rounds, len(supernets)
        s.phase = ("train" if supernet is None else "evaluate" if not complete else
                   "done" if self.done and s.standalone >= len(reasons) else "standalone")
        by_id = {o.trial_id: o for o in ranked}
        for eid, runs in sorted(standalone.items(), key=lambda kv: rank.get(kv[0], 0)):
            e = by_id.get(eid)
            if e is None:
                continue
            # Trained several times (standalone_seeds): the mean, steadier than one training's result.
            s.pairs.add(evaluate_trial=eid, standalone_trial=runs[0].trial_id, supernet_score=e.values[0],  # type: ignore[index]
                        standalone_value=float(np.mean([o.values[0] for o in runs])),  # type: ignore[index]
                        supernet_rank=rank[eid], reason=reasons.get(eid, ""), trained=len(runs))
        if len(s.pairs) >= MIN_PAIRS:
            from scipy.stats import kendalltau  # here: loading scipy.stats costs every controller start a second

            # Both as "higher is better", so that 1 means the same order whatever the metrics' goals.
            tau = kendalltau([-self.score.loss(p.supernet_score) for p in s.pairs],
                             [-self.objectives[0].loss(p.standalone_value) for p in s.pairs]).statistic
            if np.isfinite(tau):
                s.kendall_tau = float(tau)

    # --- state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "done": self.done, "inner": self.inner.state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_state(state["rng"])
        self.done = bool(state["done"])
        self.inner.load_state(state["inner"])
