"""`nestor demo`: a controller, N executors and a random search over a real PyTorch MLP, live.

Everything runs as child processes of this one, in a fresh temporary directory
that is kept afterwards (store, logs); every child is stopped on the way out,
whatever the way out is.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from nestor import progress
from nestor.client import Client
from nestor.errors import LaunchError
from nestor.processes import Child, Supervisor, console_script, terminate_as_interrupt
from nestor.tables import best_view

START_TIMEOUT_S = 120.0  # an executor imports torch before it listens
REGISTER_TIMEOUT_S = 60.0
#: Where the demo's dashboard listens (any free port when this one is taken).
DASHBOARD_PORT = 8080


def demo_spec(trials: int = 24, executors: int = 2, seed: int = 7) -> dict[str, Any]:
    """The demo study, in the study-file format (examples/digits_random.yaml is this with the defaults)."""
    return {
        "name": "digits-random",
        "trainable": "digits_mlp",
        "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "algorithm": "random",
        "budget": {"max_trials": trials, "max_parallel": executors},
        "fidelity": {"name": "epoch", "min": 1, "max": 20},
        "seed": seed,
        "space": {
            "lr": {"type": "double", "min": 3e-4, "max": 3e-2, "scale": "log"},
            "weight_decay": {"type": "double", "min": 1e-6, "max": 1e-2, "scale": "log"},
            "hidden": {"type": "int", "min": 32, "max": 256},
            "depth": {"type": "int", "min": 1, "max": 3},
            "dropout": {"type": "double", "min": 0.0, "max": 0.3},
            "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
            "optimizer": {"type": "categorical", "choices": ["adam", "adamw", "sgd"]},
        },
    }


def _wait_for_executors(client: Client, count: int, children: list[Child], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        healthy = sum(1 for e in client.executors() if e.healthy)
        if healthy >= count:
            return
        for c in children:
            if not c.alive():
                raise LaunchError(f"{c.name} exited; its log {c.log_path}:\n{c.log_tail()}")
        if time.monotonic() > deadline:
            raise LaunchError(f"only {healthy} of {count} executors registered with the controller within "
                              f"{timeout:.0f} s; see the logs in {children[0].log_path.parent}")
        time.sleep(0.2)


def _start_dashboard(supervisor: Supervisor, controller: str, workdir: Path, port: int) -> str | None:
    """nestor-dashboard on ``port`` (any free one if that is taken); None when it is not installed."""
    try:
        binary = console_script("nestor-dashboard")
    except LaunchError:
        return None
    for attempt, p in enumerate((port, 0) if port else (0,)):
        child = supervisor.start(f"dashboard-{attempt}", [binary, "--controller", controller, "--port", str(p)],
                                 "nestor-dashboard", workdir)
        try:
            return child.wait_listening(START_TIMEOUT_S)
        except LaunchError:
            continue  # most likely the port is in use
    return None


def run_demo(trials: int = 24, executors: int = 2, seed: int = 7, console: Console | None = None,
             dashboard_port: int | None = DASHBOARD_PORT) -> int:
    """``dashboard_port`` None: no dashboard; 0: any free port."""
    console = console or Console()
    controller_bin, executor_bin = console_script("nestor-controller"), console_script("nestor-executor")
    workdir = Path(tempfile.mkdtemp(prefix="nestor-demo-"))
    db = workdir / "demo.db"
    with terminate_as_interrupt(), Supervisor() as supervisor:
        console.print(f"[dim]working directory {workdir}[/dim]")
        controller = supervisor.start("controller", [controller_bin, "--port", "0", "--store", f"sqlite:///{db}"],
                                      "nestor-controller", workdir)
        address = controller.wait_listening(START_TIMEOUT_S)
        console.print(f"controller listening on [bold]{address}[/bold]")
        if dashboard_port is not None:
            url = _start_dashboard(supervisor, address, workdir, dashboard_port)
            console.print(f"dashboard: open [bold]{url}[/bold] to watch the study live" if url else
                          "[dim]no dashboard (install nestor-dashboard: pip install -e dashboard)[/dim]")
        # Started together: each spends seconds importing torch, no need to pay that N times in a row.
        # Executors share this machine: more torch threads than cores makes OpenMP spin instead of train.
        threads = max(1, (os.cpu_count() or 1) // executors)
        executor_cmd = [executor_bin, "--port", "0", "--controller", address, "--slots", "1",
                        "--torch-threads", str(threads)]
        workers = [supervisor.start(f"executor-{i + 1}", executor_cmd, "nestor-executor", workdir)
                   for i in range(executors)]
        for w in workers:
            console.print(f"{w.name} listening on [bold]{w.wait_listening(START_TIMEOUT_S)}[/bold]")
        with Client(address) as client:
            _wait_for_executors(client, executors, [controller, *workers], REGISTER_TIMEOUT_S)
            study = client.create_study(demo_spec(trials, executors, seed))
            console.print(f"study [bold]{study.id}[/bold]: {trials} trials of digits_mlp, random search, "
                          f"{executors} executors")
            progress.follow(study, console)
            final = study.info()
            best = study.best()
            console.print()
            if best is not None:
                console.print(best_view(best.proto, final.spec))
            else:
                console.print("no trial finished with a result")
        console.print()
        console.print(f"[dim]controller log {controller.log_path}[/dim]")
        console.print(f"[dim]store         {db}[/dim]")
        console.print(f"[dim]executor logs {workdir}/executor-*.log[/dim]")
    return 0
