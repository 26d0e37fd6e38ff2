"""Ray Tune's side of bench/pbt.py: its PopulationBasedTraining on the same toy and the same digits_mlp.

The trainables are in-process Ray function trainables doing what Nestor's built-in ones do: the toy's update
rule (pbt_toy's START and q), and digits_mlp's data, model and optimizer (load_data, settings, build_model,
build_optimizer) with trainables/epochs.py's seeded shuffling and evaluate(), one epoch per report and a Ray
Checkpoint each epoch. A member restored from a checkpoint (its own or a donor's) takes its config's lr,
momentum and weight_decay into the optimizer, as digits_mlp does on resume. Each member's seed is Nestor's
trial seed for the same study seed and trial number, so member i shuffles as Nestor's trial i does.

Every report carries `run_start` (when this call of the trainable began, after its imports) and `run_s`
(seconds since then), so a trial's training seconds are counted as Nestor's elapsed_s are: each run's last
run_s, summed. PBT runs synchronously (synch=True), as Nestor's generations do, with `time_attr` the
trainable's own step count and reuse_actors on (a paused member's actor is kept for the next); Ray's explore
multiplies without bounds, so a custom_explore_fn clips each value to its range (Nestor snaps to the space).
The run stops a member at the last step (the stop criterion, so no decision there).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pbtlib.nestor_runs import DIGITS_RANGES, TOY_LR, TOY_START, PBTSettings, Run


def installed() -> bool:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        return False
    return True


def start(slots: int) -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Workers import this module (the trainables) by name.
    here = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH", "")]))
    import ray

    ray.init(num_cpus=slots, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)


def stop() -> None:
    import ray

    ray.shutdown()


def trial_seed(study_seed: int, trial_number: int) -> int:
    """Nestor's seed of trial `trial_number` (1, 2, ...) of a study with `study_seed` (engine.py)."""
    return (study_seed * 1_000_003 + trial_number) % (2**31 - 1)


def member_number() -> int:
    """1, 2, ...: Ray's trial ids end in the trial's index (_00000 for the first)."""
    from ray import tune

    return int(tune.get_context().get_trial_id().rsplit("_", 1)[1]) + 1


# --- trainables -------------------------------------------------------------------------------------------


def toy_trainable(config: dict[str, Any]) -> None:
    from nestor_executor.trainables.pbt_toy import START, q
    from ray import tune
    from ray.tune import Checkpoint

    run_start = time.time()
    steps, interval = int(config["steps"]), int(config["interval"])
    theta, done = START, 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            saved = json.loads((Path(d) / "theta.json").read_text())
        theta, done = (saved["theta"][0], saved["theta"][1]), int(saved["step"])
    h0, h1 = float(config["h0"]), float(config["h1"])
    for step in range(done + 1, steps + 1):
        theta = (theta[0] - TOY_LR * 2 * h0 * theta[0], theta[1] - TOY_LR * 2 * h1 * theta[1])
        metrics = {"q": q(theta), "step": step, "run_start": run_start, "run_s": time.time() - run_start}
        if step % interval and step != steps:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "theta.json").write_text(json.dumps({"theta": list(theta), "step": step}))
            tune.report(metrics, checkpoint=Checkpoint.from_directory(d))


def digits_trainable(config: dict[str, Any]) -> None:
    import torch
    from nestor_executor.trainables import digits_mlp
    from nestor_executor.trainables.epochs import evaluate, train_epoch
    from ray import tune
    from ray.tune import Checkpoint

    run_start = time.time()
    torch.set_num_threads(1)  # as the executors run (--torch-threads 1)
    seed = trial_seed(int(config["study_seed"]), member_number())
    epochs = int(config["epochs"])
    s = digits_mlp.settings({k: config[k] for k in ("lr", "momentum", "weight_decay", "optimizer")})
    x_tr, y_tr, x_va, y_va = digits_mlp.load_data(0, "cpu")
    torch.manual_seed(seed)
    model = digits_mlp.build_model(s)
    opt = digits_mlp.build_optimizer(s, model)
    done = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            state = torch.load(Path(d) / "state.pt", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        for group in opt.param_groups:
            group.update(lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"])
        done = int(state["epoch"])
    batch_size = s["batch_size"]
    for epoch in range(done + 1, epochs + 1):
        train_loss = train_epoch(model, opt, x_tr, y_tr, batch_size=batch_size, seed=seed, epoch=epoch)
        accuracy, val_loss = evaluate(model, x_va, y_va)
        metrics = {"val_accuracy": accuracy, "val_loss": val_loss, "train_loss": train_loss, "epoch": epoch,
                   "run_start": run_start}
        with tempfile.TemporaryDirectory() as d:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch},
                       Path(d) / "state.pt")
            metrics["run_s"] = time.time() - run_start
            tune.report(metrics, checkpoint=Checkpoint.from_directory(d))


# --- runs ---------------------------------------------------------------------------------------------------


def clipper(ranges: dict[str, tuple[float, float]]) -> Any:
    def clip(config: dict[str, Any]) -> dict[str, Any]:
        for name, (lo, hi) in ranges.items():
            config[name] = min(max(float(config[name]), lo), hi)
        return config

    return clip


def run(work: Path, trainable: Any, param_space: dict[str, Any], mutations: dict[str, Any],
        ranges: dict[str, tuple[float, float]], metric: str, time_attr: str, top: int, pbt: PBTSettings,
        num_samples: int, seed: int) -> Run:
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    class Counting(PopulationBasedTraining):  # type: ignore[misc]
        decisions = 0

        def _checkpoint_or_exploit(self, trial: Any, *args: Any, **kwargs: Any) -> None:
            self.decisions += 1
            super()._checkpoint_or_exploit(trial, *args, **kwargs)

    class Results(tune.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        def on_trial_result(self, iteration: int, trials: Any, trial: Any, result: dict[str, Any],
                            **info: Any) -> None:
            self.seen.append(result)

    random.seed(seed)
    np.random.seed(seed)
    scheduler = Counting(time_attr=time_attr, perturbation_interval=pbt.interval, hyperparam_mutations=mutations,
                         quantile_fraction=pbt.quantile_fraction, resample_probability=pbt.resample_probability,
                         perturbation_factors=tuple(pbt.perturbation_factors), custom_explore_fn=clipper(ranges),
                         synch=True)
    results = Results()
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}), param_space=param_space,
        tune_config=tune.TuneConfig(metric=metric, mode="max", scheduler=scheduler, num_samples=num_samples,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=f"pbt-{seed}", storage_path=str(work / "ray"), verbose=0,
                                  stop={time_attr: top}, callbacks=[results]))
    t0 = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    if grid.errors:
        print(f"  ray tune: {len(grid.errors)} trials failed: {grid.errors[0]}", file=sys.stderr, flush=True)
    finals = [r[metric] for r in results.seen if r.get(time_attr) == top and metric in r]
    return Run("ERRORS" if grid.errors else "COMPLETED", wall, max(finals) if finals else math.nan,
               training_seconds(results.seen), len(results.seen),
               scheduler.decisions, scheduler._num_perturbations)


def training_seconds(seen: list[dict[str, Any]]) -> float:
    """Each run's (call of the trainable's) last run_s, summed over runs."""
    runs: dict[tuple[str, float], float] = {}
    for r in seen:
        key = (str(r["trial_id"]), float(r["run_start"]))
        runs[key] = max(runs.get(key, 0.0), float(r["run_s"]))
    return sum(runs.values())


def toy(work: Path, seed: int, steps: int, pbt: PBTSettings) -> Run:
    from ray import tune

    member = tune.grid_search(list(range(len(TOY_START))))
    space = {"member": member, "steps": steps, "interval": pbt.interval,
             **{h: tune.sample_from(lambda spec, h=h: TOY_START[spec.config.member][h]) for h in ("h0", "h1")}}
    mutations = {"h0": tune.uniform(0.0, 1.0), "h1": tune.uniform(0.0, 1.0)}
    return run(work, toy_trainable, space, mutations, {"h0": (0.0, 1.0), "h1": (0.0, 1.0)}, "q", "step", steps,
               pbt, 1, seed)


def digits(work: Path, seed: int, epochs: int, pbt: PBTSettings) -> Run:
    from ray import tune

    def domain(lo: float, hi: float, log: bool) -> Any:
        return tune.loguniform(lo, hi) if log else tune.uniform(lo, hi)

    mutations = {name: domain(*r) for name, r in DIGITS_RANGES.items()}
    space = {**mutations, "optimizer": "sgd", "epochs": epochs, "study_seed": seed}
    ranges = {name: (lo, hi) for name, (lo, hi, _) in DIGITS_RANGES.items()}
    return run(work, digits_trainable, space, mutations, ranges, "val_accuracy", "epoch", epochs, pbt,
               pbt.population, seed)
