"""The `nestor` command line.

Every command takes ``--controller ADDR`` (default ``$NESTOR_CONTROLLER`` or
localhost:50051) and ``--timeout SECONDS``, before or after the command name.
Failures print ``error: <message>`` on stderr and exit 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from nestor import __version__, progress
from nestor.client import Client
from nestor.connection import default_address
from nestor.errors import NestorError
from nestor.records import executor_to_dict, study_to_dict, trial_to_dict
from nestor.spec import load_spec
from nestor.study import Study, trial_state
from nestor.tables import (
    best_view,
    executors_table,
    hypervolume_text,
    studies_table,
    study_view,
    trials_table,
)
from nestor.v1 import study_pb2

Handler = Callable[[argparse.Namespace, Console], int]
#: Tables written to a pipe or a log are not squeezed into rich's default 80 columns.
PIPE_WIDTH = 160


# --- commands ----------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Client:
    address = getattr(args, "controller", None) or default_address()
    return Client(address, timeout=getattr(args, "timeout", 30.0))


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def _show_best(study: Study, console: Console) -> None:
    info = study.info()
    best = study.best()
    console.print()
    if best is None:
        console.print("no trial has a result")
    else:
        console.print(best_view(best.proto, info.spec))


def cmd_study_create(args: argparse.Namespace, console: Console) -> int:
    spec = load_spec(args.file)  # a bad file fails here, before any connection is made
    with _client(args) as client:
        study = client.create_study(spec)
        print(study.id, flush=True)
        if args.watch:
            progress.follow(study, console)
            _show_best(study, console)
    return 0


def cmd_study_list(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        studies = [s.proto for s in client.list_studies(include_finished=args.all)]
    if args.json:
        _print_json([study_to_dict(s) for s in studies])
    elif studies:
        console.print(studies_table(studies))
    else:
        console.print("no studies" if args.all else "no running studies (--all shows finished ones)")
    return 0


def cmd_study_get(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        info = client.study(args.id).info()
    if args.json:
        _print_json(study_to_dict(info))
    else:
        console.print(study_view(info))
    return 0


def cmd_study_watch(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.study(args.id)
        progress.follow(study, console)
        _show_best(study, console)
    return 0


def cmd_study_best(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.study(args.id)
        info = study.info()
        spec = info.spec
        best = [t.proto for t in study.best_trials(args.n)]
    if args.json:
        if args.n == 1 and len(spec.objectives) <= 1:
            _print_json(trial_to_dict(best[0], spec) if best else None)
        else:
            _print_json([trial_to_dict(t, spec) for t in best])
    elif not best:
        console.print("no trial has a result yet")
    elif len(best) == 1:
        console.print(best_view(best[0], spec))
    else:
        title = "Pareto front" if len(spec.objectives) > 1 else f"best {len(best)} trials"
        console.print(trials_table(best, spec, title=title))
    if info.HasField("hypervolume") and not args.json:
        console.print(f"hypervolume {hypervolume_text(info)}")
    return 0


def cmd_study_importance(args: argparse.Namespace, console: Console) -> int:
    from nestor.importance import study_importance

    with _client(args) as client:
        shares = study_importance(client.study(args.id), args.metric)
    if args.json:
        _print_json(shares)
    elif shares:
        for rank, (name, share) in enumerate(shares.items(), 1):
            console.print(f"{rank:>3}  {name:<24} {100 * share:6.1f}%")
    else:
        console.print("no parameters")
    return 0


def cmd_study_trials(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.study(args.id)
        spec = study.info().spec
        trials = [t.proto for t in study.trials(states=args.state, measurements=args.measurements)]
    if args.json:
        _print_json([trial_to_dict(t, spec) for t in trials])
    elif trials:
        console.print(trials_table(trials, spec))
    else:
        console.print("no trials")
    return 0


def cmd_study_outer(args: argparse.Namespace, console: Console) -> int:
    from nestor.outer_tables import outer_to_dict, outer_view

    with _client(args) as client:
        states = client.study(args.id).outer_state(args.trial, history=args.history, every=args.every)
    if args.json:
        _print_json([outer_to_dict(st) for st in states])
    elif not states:
        console.print("no trial has outer variables yet")
    else:
        for st in states:
            console.print(outer_view(st))
    return 0


def cmd_study_stop(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        info = client.study(args.id).stop(args.reason)
    console.print(f"study {info.id} {study_pb2.StudyState.Name(info.state).removeprefix('STUDY_')}")
    return 0


def cmd_study_delete(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        client.study(args.id).delete()
    console.print(f"study {args.id} deleted")
    return 0


def cmd_executors(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        executors = client.executors()
    if args.json:
        _print_json([executor_to_dict(e) for e in executors])
    elif executors:
        console.print(executors_table(executors))
    else:
        console.print("no executors")
    return 0


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from nestor.demo import run_demo  # process management is only needed here

    return run_demo(trials=args.trials, executors=args.executors, seed=args.seed, console=console)


# --- parsing -------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _state(text: str) -> int:
    try:
        return trial_state(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _connection_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's parser must not overwrite a value given before the subcommand with its default.
    parser.add_argument("--controller", metavar="ADDR", default=argparse.SUPPRESS,
                        help="controller address host:port (default: $NESTOR_CONTROLLER or localhost:50051)")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=argparse.SUPPRESS,
                        help="limit for each call to the controller, retries included (default 30)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nestor", description="Nestor: hyperparameter optimization and "
                                     "architecture search as a service.")
    parser.add_argument("--version", action="version", version=f"nestor {__version__}")
    _connection_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(group: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
        _connection_options(p)
        p.set_defaults(handler=handler)
        return p

    study = commands.add_parser("study", help="create, follow and inspect studies",
                                description="create, follow and inspect studies")
    _connection_options(study)
    study_commands = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND", required=True)

    p = add(study_commands, "create", cmd_study_create, "create a study from a study file; prints its id")
    p.add_argument("-f", "--file", required=True, help="study file (YAML)")
    p.add_argument("--watch", action="store_true", help="follow the study live until it ends")

    p = add(study_commands, "list", cmd_study_list, "running studies")
    p.add_argument("--all", action="store_true", help="finished studies too")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "get", cmd_study_get, "a study's state, counts and spec")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "watch", cmd_study_watch,
            "live progress until the study ends, then the best trial")
    p.add_argument("id")

    p = add(study_commands, "best", cmd_study_best,
            "the best trial(s); the Pareto front for several objectives")
    p.add_argument("id")
    p.add_argument("-n", type=_positive, default=1, help="how many (default 1)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: one trial (or null) for -n 1 and one objective, "
                   "else a list")

    p = add(study_commands, "trials", cmd_study_trials, "every trial of a study")
    p.add_argument("id")
    p.add_argument("--state", type=_state, action="append", help="only trials in this state (repeatable)")
    p.add_argument("--measurements", action="store_true", help="include every measurement (with --json)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "importance", cmd_study_importance,
            "how much of the spread of results each parameter explains, most important first")
    p.add_argument("id")
    p.add_argument("--metric", help="the metric to explain (default: the first objective)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "outer", cmd_study_outer,
            "bilevel studies: outer variables per trial (DARTS: softmax(alpha) heat maps and the genotype)")
    p.add_argument("id")
    p.add_argument("--trial", type=_positive, default=0, help="only this trial")
    p.add_argument("--history", action="store_true", help="every outer step too")
    p.add_argument("--every", type=_positive, default=1, help="with --history: one step in N (and the last)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "stop", cmd_study_stop, "stop a study; running trials are told to stop")
    p.add_argument("id")
    p.add_argument("--reason", default="", help="recorded as the study's end reason")

    p = add(study_commands, "delete", cmd_study_delete, "delete a study and its trials")
    p.add_argument("id")

    p = add(commands, "executors", cmd_executors, "executors known to the controller")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(commands, "demo", cmd_demo, "start a controller and executors and run a random search, live")
    p.add_argument("--trials", type=_positive, default=24, help="trials to complete (default 24)")
    p.add_argument("--executors", type=_positive, default=2, help="executors to start (default 2)")
    p.add_argument("--seed", type=int, default=7, help="seed of the search (default 7)")
    return parser


def _console() -> Console:
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return Console()
    return Console(width=PIPE_WIDTH)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `kill -USR1` prints every thread's stack on stderr: how to see where a command that will not end waits.
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        return int(args.handler(args, _console()))
    except NestorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head`: not an error worth a traceback; stop Python from failing again on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
