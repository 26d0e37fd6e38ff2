"""Synchronous successive halving and Hyperband.

New trials fill brackets one after the other. A bracket's rung is complete when
every trial sent to it has reported there (or failed, or was stopped); then
the best floor(n / eta) go on to the next rung and the others stop. A free slot
never waits for a rung to complete: while a bracket waits, new trials open the
next one (as HpBandSter runs iterations side by side).

`hyperband` cycles through its brackets from the most exploratory (many
trials at the lowest budget) to the one that runs every trial at the full
budget. `successive_halving` repeats its most exploratory bracket, which
starts `n_configs` trials (default eta^K, so that one reaches the top).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nestor_controller.objectives import ObjectiveDef
from nestor_controller.schedulers.base import ACTIVE, PAUSED, CurveView, FidelityDef, Plan, Promotion, scheduler_setting
from nestor_controller.schedulers.ladder import bracket_size, survivors
from nestor_controller.schedulers.rungs import RungScheduler, ordinal


class Hyperband(RungScheduler):
    name = "hyperband"

    def __init__(self, objective: ObjectiveDef, fidelity: FidelityDef | None, settings: Mapping[str, Any],
                 seed: int) -> None:
        super().__init__(objective, fidelity, settings, seed)
        #: Opened brackets: {"s": s, "size": trials it starts, "trials": [ids]}; the last one is being filled.
        self.brackets: list[dict[str, Any]] = []
        self.bracket_of: dict[int, int] = {}
        self.opened = 0

    def cycle(self) -> list[int]:
        """The brackets' s, in the order they open (repeated)."""
        return list(range(self.top, -1, -1))

    def size(self, s: int) -> int:
        return bracket_size(self.top + 1, s, self.eta)

    def budget_for_new_trial(self, trial_id: int, view: CurveView) -> float:
        if not self.brackets or len(self.brackets[-1]["trials"]) >= self.brackets[-1]["size"]:
            cycle = self.cycle()
            s = cycle[self.opened % len(cycle)]
            self.opened += 1
            size = self.size(s)
            remaining = view.remaining_trials()
            if remaining is not None:  # the budget cuts the last bracket short: it must still complete
                size = max(1, min(size, remaining))
            self.brackets.append({"s": s, "size": size, "trials": []})
        bracket = self.brackets[-1]
        bracket["trials"].append(trial_id)
        self.bracket_of[trial_id] = len(self.brackets) - 1
        return self.budgets[self.top - bracket["s"]]

    def peers(self, trial_id: int) -> Sequence[int] | None:
        b = self.bracket_of.get(trial_id)
        return None if b is None else self.brackets[b]["trials"]

    def plan(self, view: CurveView, free: int) -> Plan:
        found: list[tuple[int, int, int, Promotion]] = []
        drop: list[tuple[int, str]] = []
        for b, bracket in enumerate(self.brackets):
            members: list[int] = bracket["trials"]
            if len(members) < bracket["size"]:
                continue  # its first rung is still being filled
            for rung in range(self.top - bracket["s"], self.top):
                entrants = [t for t in members if self.rung_of(view, t) >= rung]
                if any(view.phase(t) == ACTIVE and self.rung_of(view, t) == rung for t in entrants):
                    break  # incomplete: someone is still on its way there
                ranked = self.ranked(rung, entrants)
                going = min(len(ranked), max(1, survivors(len(entrants), self.eta)))
                waiting = False
                for place, (_, t) in enumerate(ranked, 1):
                    if view.phase(t) != PAUSED or self.rung_of(view, t) != rung:
                        continue
                    if place <= going:
                        waiting = True
                        found.append((-rung, b, place, self.promotion(
                            t, rung, place, len(ranked), going, f"bracket {b + 1} (s={bracket['s']}): the best")))
                    else:
                        drop.append((t, f"{self.name}: not promoted from {self.where(rung)} in bracket {b + 1}: "
                                        f"{ordinal(place)} of {len(ranked)}, the best {going} go on"))
                if waiting:
                    break  # the next rung fills once these are promoted
        found.sort(key=lambda x: x[:3])
        return Plan(tuple(p for *_, p in found[:max(0, free)]), tuple(drop))

    def state(self) -> dict[str, Any]:
        return {**super().state(), "brackets": self.brackets, "opened": self.opened}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.brackets = [{"s": int(b["s"]), "size": int(b["size"]), "trials": [int(t) for t in b["trials"]]}
                         for b in state.get("brackets", [])]
        self.opened = int(state.get("opened", 0))
        self.bracket_of = {t: i for i, b in enumerate(self.brackets) for t in b["trials"]}


class SuccessiveHalving(Hyperband):
    name = "successive_halving"
    #: n_configs: trials each round starts at the lowest budget (0: eta^K, so that one reaches the top).
    defaults: ClassVar[Mapping[str, Any]] = {**Hyperband.defaults, "n_configs": 0}

    @classmethod
    def check(cls, objectives: Sequence[ObjectiveDef], fidelity: FidelityDef | None,
              settings: Mapping[str, Any]) -> None:
        super().check(objectives, fidelity, settings)
        scheduler_setting({**cls.defaults, **settings}, "n_configs", int, minimum=0)

    def cycle(self) -> list[int]:
        return [self.top]

    def size(self, s: int) -> int:
        n = int(scheduler_setting(self.settings, "n_configs", int))
        return n or round(self.eta ** self.top)
