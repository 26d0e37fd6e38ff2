"""DARTS with alpha held by the controller.

A study runs `searches` search trials (no `genotype` parameter: the trainable trains the weight-sharing
network and streams dL_val/dalpha), then, for each search that ended, `evaluations` evaluation trials of
each genotype derived from that search's alpha (the trainable trains that discrete network from scratch
and reports the objective, so the best trial is an evaluated genotype). With `candidates` > 1 a search
offers more than its capped genotype: the same alpha derived with the parameter-free cap raised one at a
time, so the evaluations, not a fixed cap, decide how many skips and pools the normal cell keeps. Ordinary
parameters of the space (say a learning rate) are drawn at random per search and inherited by its evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from nestor import genotype as gt
from nestor.genotype import SCORES_PREFIX, SELECTIONS
from nestor.values import ParamValue

from nestor_controller.bilevel.base import Applied, BilevelStrategy, check_arrays
from nestor_controller.bilevel.derive import SKIP, derive, derive_scored, softmax
from nestor_controller.bilevel.optim import Arrays, OuterSet
from nestor_controller.errors import SpecError
from nestor_controller.samplers.base import Assignment, Observation, setting
from nestor_controller.samplers.sampling import draw_assignment, rng_from_state, rng_state
from nestor_controller.space import Space

RESERVED = ("genotype", "search_trial", "selection")
#: Decisions of an architecture space (nestor.architecture): DARTS searches the cell by alpha, not by them.
ARCH_PREFIX = "arch."
DARTS_OPERATIONS = frozenset(gt.PRIMITIVES) - {"none"}


def cell_steps(space: Space) -> int:
    """Intermediate nodes per cell: the cell space's num_nodes, else the paper's 4."""
    arch = space.architecture
    if arch is not None and arch.HasField("cell") and arch.cell.num_nodes:
        return int(arch.cell.num_nodes)
    return gt.STEPS


def is_search(params: Mapping[str, ParamValue]) -> bool:
    return "genotype" not in params


class DartsStrategy(BilevelStrategy):
    name = "darts"
    waits_for_running = True
    takes_architecture = True
    defaults: Mapping[str, Any] = {
        "searches": 1, "evaluations": 1, "candidates": 1,
        # How the genotype is read off a search: from alpha's magnitudes, or from how much the weight-sharing
        # network's loss rises when each operation and edge is removed (scored by the trainable at its end).
        "selection": "alpha",
        # The DARTS paper's architecture optimizer.
        "learning_rate": 3e-4, "beta1": 0.5, "beta2": 0.999, "weight_decay": 1e-3,
        "init_scale": 1e-3,
        # Skip-connection guards: keep at most `max_skips` in the derived normal cell (0: no cap), and end
        # the search once the uncapped normal cell has `stop_at_skips` of them (0: never), after
        # `guard_after` of the search (the trainable's `progress` metric). `max_parameter_free` caps skips and
        # pools together in the derived normal cell (0: no cap): the same collapse, into the pools.
        "max_skips": 2, "max_parameter_free": 2, "stop_at_skips": 0, "guard_after": 0.5,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.searches, self.evaluations, self.steps = int(s["searches"]), int(s["evaluations"]), cell_steps(self.space)
        # Ordinary hyperparameters only: they are drawn per search, the cell is alpha's business.
        self.ordinary = Space([p for p in self.space.params if not p.name.startswith(ARCH_PREFIX)])
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.launched = 0
        self.evaluated: dict[int, int] = {}
        self.done = False

    @classmethod
    def check(cls, space: Any, objectives: Any, settings: Mapping[str, Any], max_trials: int) -> None:
        super().check(space, objectives, settings, max_trials)
        merged = {**cls.defaults, **settings}
        setting(merged, "searches", int, minimum=1)
        setting(merged, "candidates", int, minimum=1)
        if merged["selection"] not in SELECTIONS:
            raise SpecError(f"spec.algorithm.settings.selection: algorithm 'darts' selects by "
                            f"{' or '.join(map(repr, SELECTIONS))}, got {merged['selection']!r}")
        for name in ("evaluations", "max_skips", "max_parameter_free", "stop_at_skips"):
            setting(merged, name, int, minimum=0)
        for name in ("init_scale", "guard_after"):
            setting(merged, name, float, minimum=0.0)
        arch = space.architecture
        if arch is not None:
            if not arch.HasField("cell"):
                raise SpecError("spec.space.architecture: algorithm 'darts' searches a cell space (architecture.cell)")
            ops = set(arch.cell.operations)
            if ops and ops != DARTS_OPERATIONS:
                raise SpecError(f"spec.space.architecture.cell.operations: algorithm 'darts' searches the DARTS "
                                f"operations {', '.join(sorted(DARTS_OPERATIONS))} (and none); got "
                                f"{', '.join(arch.cell.operations)}")
        clash = [p.name for p in space.params if p.name in RESERVED]
        if clash:
            raise SpecError(f"spec.space: parameter {clash[0]!r} is reserved by algorithm 'darts'")
        per_search = int(merged["evaluations"]) * int(merged["candidates"])
        total = int(merged["searches"]) * (1 + per_search)
        if max_trials and max_trials < total:
            raise SpecError(f"spec.budget.max_trials: algorithm 'darts' runs {merged['searches']} search(es) "
                            f"and up to {per_search} evaluation(s) of each ({merged['evaluations']} of each of "
                            f"up to {merged['candidates']} candidate genotype(s)), {total} trials; got {max_trials}")

    # --- trials -----------------------------------------------------------------------------------

    def scored(self, params: Mapping[str, ParamValue]) -> bool:
        return not is_search(params)

    def searched(self, o: Observation) -> bool:
        """A search that ended having done its job: told so by its trainable, or with a result."""
        s = self.sets.get(o.trial_id)
        return o.values is not None or (s is not None and bool(s.info.get("done")))

    def suggest(self, count: int, history: Sequence[Observation], running: Sequence[Assignment]) -> list[Assignment]:
        ended = [o for o in history if is_search(o.params)]
        good = [o for o in ended if self.searched(o)]
        active = self.launched - len(ended)
        out: list[Assignment] = []
        wanted: dict[int, int] = {}
        for o in good:
            offered = self.candidates(o.trial_id, o.params)
            wanted[o.trial_id] = len(offered) * self.evaluations
            while self.evaluated.get(o.trial_id, 0) < wanted[o.trial_id] and len(out) < count:
                k = self.evaluated.get(o.trial_id, 0)
                self.evaluated[o.trial_id] = k + 1
                inherited = {n: v for n, v in o.params.items() if n != "selection"}
                out.append({**inherited, "genotype": gt.to_json(offered[k // self.evaluations]),
                            "search_trial": o.trial_id})
        # A search that failed (its executor did not finish it) is replaced by a new one.
        while len(good) + active < self.searches and len(out) < count:
            defaults = {p.name: p.default for p in self.space.params if p.default is not None}
            drawn = draw_assignment(self.ordinary, self.rng, defaults if self.launched == 0 else None)
            if self.settings["selection"] != "alpha":
                drawn["selection"] = str(self.settings["selection"])
            out.append(drawn)
            self.launched += 1
            active += 1
        self.done = len(good) >= self.searches and all(
            self.evaluated.get(o.trial_id, 0) >= wanted[o.trial_id] for o in good)
        return out

    def exhausted(self) -> bool:
        return self.done

    # --- alpha ----------------------------------------------------------------------------------------

    def initial_values(self, trial_id: int, params: Mapping[str, ParamValue]) -> Arrays | None:
        if not is_search(params):
            return None
        # Small random alpha as in the paper, from the study's seed and the trial: the same on every restart.
        rng = np.random.Generator(np.random.PCG64([self.seed, trial_id]))
        shape = (gt.edge_count(self.steps), len(gt.PRIMITIVES))
        scale = float(self.settings["init_scale"])
        return {f"alpha_{cell}": scale * rng.standard_normal(shape) for cell in gt.CELLS}

    def candidates(self, trial_id: int, params: Mapping[str, ParamValue]) -> list[gt.Genotype]:
        """The genotypes a search offers for evaluation, `candidates` at most, repeats dropped: the one of its
        perturbation scores first when it has them, then alpha's under the parameter-free cap, then alpha's
        with that cap raised by one, two, ... (a cap that does not bind adds nothing)."""
        s = self.outer_set(trial_id, params)
        assert s is not None
        wanted = int(self.settings["candidates"])
        scores = self.scores(s)
        out: list[gt.Genotype] = [derive_scored(scores, self.steps)] if scores else []
        max_skips, max_free = self.caps()
        for extra in range(wanted if max_free else 1):
            g = derive(s.values, self.steps, max_skips, max_free + extra)
            if g not in out:
                out.append(g)
        return out[:wanted]

    @staticmethod
    def scores(s: OuterSet) -> dict[str, np.ndarray]:
        return {name: np.asarray(v, dtype=np.float64) for name, v in s.info.get("perturbation", {}).items()}

    def apply(self, trial_id: int, params: Mapping[str, ParamValue], grads: Mapping[str, np.ndarray],
              metrics: Mapping[str, float], where: str) -> Applied:
        scored = [n for n in grads if n.startswith(SCORES_PREFIX)]
        if not scored:
            return super().apply(trial_id, params, grads, metrics, where)
        s = self.outer_set(trial_id, params)
        if s is None or "selection" not in params:
            raise SpecError(f"{where} sent perturbation scores, but the study does not select by them "
                            "(spec.algorithm.settings.selection)")
        edges = gt.edge_count(self.steps)
        expected = {f"{SCORES_PREFIX}{kind}_{cell}": shape for cell in gt.CELLS
                    for kind, shape in (("op", (edges, len(gt.PRIMITIVES))), ("edge", (edges,)))}
        if set(grads) != set(expected):
            raise SpecError(f"{where}: perturbation scores must be exactly {', '.join(sorted(expected))} "
                            f"(sent alone, not with gradients); got {', '.join(sorted(grads))}")
        check_arrays(grads, expected, where, "perturbation score")
        # Scores do not move alpha: they are kept (with the state, so a restart keeps them) for derivation.
        s.info["perturbation"] = {n[len(SCORES_PREFIX):]: np.asarray(grads[n], dtype=np.float64).tolist()
                                  for n in expected}
        # A search sends its scores as its last message and ends: nothing to answer.
        return Applied(self.exported(s.values), s.step, reply=False)

    def caps(self) -> tuple[int, int]:
        return int(self.settings["max_skips"]), int(self.settings["max_parameter_free"])

    def after_step(self, trial_id: int, outer: OuterSet, metrics: Mapping[str, float]) -> str:
        progress = float(metrics.get("progress", 1.0))
        if progress >= 1.0:
            outer.info["done"] = True
        limit = int(self.settings["stop_at_skips"])
        if limit and not outer.info.get("done") and progress >= float(self.settings["guard_after"]):
            skips = gt.count_op(derive(outer.values, self.steps), "skip_connect")
            if skips >= limit:
                outer.info["done"] = True
                outer.info["stopped"] = (f"skip-connection guard: the normal cell has {skips} skip connections "
                                         f"(stop_at_skips={limit}) at {progress:.0%} of the search")
                return str(outer.info["stopped"])
        return ""

    def summary(self, trial_id: int, outer: OuterSet) -> dict[str, Any]:
        scores = self.scores(outer)
        g = derive_scored(scores, self.steps) if scores else derive(outer.values, self.steps, *self.caps())
        weights = {cell: softmax(outer.values[f"alpha_{cell}"]) for cell in gt.CELLS}
        return {
            "genotype": g, "genotype_text": gt.describe(g),
            "softmax": {cell: np.round(w, 5).tolist() for cell, w in weights.items()},
            "operations": list(gt.PRIMITIVES),
            "edges": [[node, j] for node, j in gt.edges(self.steps)],
            "skip_share": float(weights["normal"][:, SKIP].mean()),
            "phase": "done" if outer.info.get("done") else "search",
            "stopped": outer.info.get("stopped", ""),
            # What the genotype above was read from: "perturbation" once the search has sent its scores.
            "selected_by": "perturbation" if scores else "alpha",
            # The loss increases the search measured (see nestor_executor.darts.perturbation), per cell.
            "perturbation": {cell: {kind: scores[f"{kind}_{cell}"].tolist() for kind in ("op", "edge")}
                             for cell in gt.CELLS} if scores else {},
        }

    # --- state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng), "launched": self.launched, "done": self.done,
                "evaluated": {str(k): v for k, v in self.evaluated.items()}, **self.outer_state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_state(state["rng"])
        self.launched = int(state["launched"])
        self.done = bool(state["done"])
        self.evaluated = {int(k): int(v) for k, v in state["evaluated"].items()}
        self.load_outer_state(state)
