"""The peers of bench/multifidelity.py on the synthetic function, in-process, one worker each.

- DEHB (pip `dehb`): differential evolution over Hyperband's brackets, by ask/tell.
- Optuna: TPESampler with HyperbandPruner; a trial reports every step and is pruned at its rungs.
- HpBandSter's BOHB (pip `hpbandster`, unmaintained): its own name server and one worker thread; it hangs
  after its first job unless Pyro4 is told to pickle (see run_hpbandster).

Each charges what it evaluates: DEHB and HpBandSter train a configuration at a
budget from scratch (cost = the budget), Optuna one step per report. A run
stops once the total budget is spent; a peer that is not installed or that
fails is reported as unavailable with the reason.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
import threading
import time
from typing import Any

import numpy as np

from mflib.problem import Spent, SyntheticProblem


class BudgetSpent(Exception):
    """Raised inside a peer's evaluation to end its run at the total budget."""


class Ledger:
    """Charges evaluations against the total budget and logs them."""

    def __init__(self, problem: SyntheticProblem, total: int, seed: int) -> None:
        self.problem, self.total, self.seed = problem, total, seed
        self.log: list[Spent] = []
        self.cost = 0.0
        self.t0 = time.monotonic()

    def charge(self, unit: np.ndarray, budget: float, cost: float) -> float:
        if self.cost >= self.total:
            raise BudgetSpent
        x = self.problem.point(unit)
        value = self.problem.regret(x, max(1, round(budget)), self.seed)
        self.cost += cost
        self.log.append(Spent(self.cost, time.monotonic() - self.t0, budget, value))
        return value


def run_dehb(problem: SyntheticProblem, total: int, seed: int) -> list[Spent]:
    from dehb import DEHB

    ledger = Ledger(problem, total, seed)
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(io.StringIO()):
        dehb = DEHB(f=None, dimensions=problem.dim, configspace=False, min_fidelity=1,
                    max_fidelity=problem.max_budget, eta=3, n_workers=1, seed=seed, output_path=out,
                    log_level="ERROR")
        with contextlib.suppress(BudgetSpent):
            while True:
                job = dehb.ask()
                fidelity = float(job["fidelity"])
                value = ledger.charge(np.asarray(job["config"], dtype=float), fidelity, fidelity)
                dehb.tell(job, {"fitness": value, "cost": fidelity})
    return ledger.log


def run_optuna(problem: SyntheticProblem, total: int, seed: int) -> list[Spent]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ledger = Ledger(problem, total, seed)
    steps = int(problem.max_budget)

    def objective(trial: optuna.Trial) -> float:
        unit = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(problem.dim)])
        value = math.inf
        for step in range(1, steps + 1):
            value = ledger.charge(unit, step, 1.0)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned
        return value

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=steps,
                                                                      reduction_factor=3))
    with contextlib.suppress(BudgetSpent):
        study.optimize(objective, catch=(), callbacks=[lambda st, tr: ledger.cost >= total and st.stop()])
    return ledger.log


def run_hpbandster(problem: SyntheticProblem, total: int, seed: int, timeout: float = 120.0) -> list[Spent]:
    import ConfigSpace as CS
    import Pyro4

    # HpBandSter's default serializer (serpent) cannot send the numpy values today's ConfigSpace gives it:
    # the call to the worker fails silently and the run hangs after dispatching its first job. Pickle works.
    Pyro4.config.SERIALIZER = "pickle"
    Pyro4.config.SERIALIZERS_ACCEPTED.add("pickle")
    import hpbandster.core.nameserver as hpns
    from hpbandster.core.worker import Worker
    from hpbandster.optimizers import BOHB

    logging.getLogger("hpbandster").setLevel(logging.ERROR)
    ledger = Ledger(problem, total, seed)
    lock = threading.Lock()

    class Unit(Worker):  # type: ignore[misc]
        def compute(self, config: dict[str, float], budget: float, **kwargs: Any) -> dict[str, Any]:
            unit = np.array([config[f"x{i}"] for i in range(problem.dim)])
            with lock:
                try:
                    return {"loss": ledger.charge(unit, budget, budget), "info": {}}
                except BudgetSpent:
                    return {"loss": math.inf, "info": {}}

    cs = CS.ConfigurationSpace(seed=seed)
    for i in range(problem.dim):
        cs.add(CS.UniformFloatHyperparameter(f"x{i}", 0.0, 1.0))
    run_id = f"mf-{seed}-{time.monotonic_ns()}"
    ns = hpns.NameServer(run_id=run_id, host="127.0.0.1", port=None)
    host, port = ns.start()
    worker = Unit(nameserver=host, nameserver_port=port, run_id=run_id, host="127.0.0.1")
    worker.run(background=True)
    bohb = BOHB(configspace=cs, run_id=run_id, nameserver=host, nameserver_port=port, host="127.0.0.1", min_budget=1,
                max_budget=problem.max_budget, eta=3)
    done = threading.Event()
    error: list[BaseException] = []

    def go() -> None:
        try:
            # Brackets until the budget is spent: each round of 4 brackets costs about 4 * 4 * max_budget.
            bohb.run(n_iterations=max(4, math.ceil(total / problem.max_budget / 4) * 4 + 4))
        except BaseException as e:  # reported as the peer's failure
            error.append(e)
        done.set()

    threading.Thread(target=go, daemon=True).start()
    finished = done.wait(timeout)
    with contextlib.suppress(Exception):
        bohb.shutdown(shutdown_workers=True)
        ns.shutdown()
    if not finished:
        raise TimeoutError(f"HpBandSter's BOHB did not finish within {timeout:g} s "
                           f"after {len(ledger.log)} evaluations")
    if error:
        raise error[0]
    return ledger.log


PEERS = {"dehb": run_dehb, "optuna_tpe_hyperband": run_optuna, "hpbandster_bohb": run_hpbandster}
