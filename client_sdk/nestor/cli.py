"""The `nestor` command line.

Every command takes ``--controller ADDR`` (default ``$NESTOR_CONTROLLER`` or
localhost:50051) and ``--timeout SECONDS``, before or after the command name.
A study is named by its id, its unique name, or a unique prefix of its id.

Exit status: 0 success (for ``watch`` and ``create --watch``: the study
COMPLETED); 1 a failed command (``error: <message>`` on stderr); 2 a usage
error; 3 the study watched ended FAILED; 4 it ended STOPPED; 130 interrupted
(Ctrl-C: the study goes on unless ``--stop-on-interrupt``).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from nestor import __version__, progress
from nestor.analysis import write_csv
from nestor.client import Client
from nestor.connection import default_address
from nestor.errors import LocalRefusal, NestorError
from nestor.records import executor_to_dict, fmt_params, study_to_dict, trial_to_dict
from nestor.spec import load_spec
from nestor.study import STUDY_STATE_NAMES, Study, trial_state
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


EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
#: A watched study's exit status by how it ended.
EXIT_FOR_STATE = {study_pb2.STUDY_COMPLETED: EXIT_OK, study_pb2.STUDY_FAILED: EXIT_FAILED,
                  study_pb2.STUDY_STOPPED: EXIT_STOPPED}
#: Seconds between checks that some healthy executor serves a managed study's trainable, while watching.
SERVING_CHECK_S = 5.0


def _client(args: argparse.Namespace) -> Client:
    if getattr(args, "local", None):
        return Client.local(args.local, timeout=getattr(args, "timeout", 30.0),
                            trainables=getattr(args, "trainable", None) or ())
    address = getattr(args, "controller", None) or default_address()
    # A command meets a controller that is not there at once, with a hint, instead of retrying for seconds.
    return Client(address, timeout=getattr(args, "timeout", 30.0), wait_for_controller=False)


def unserved_warning(client: Client, info: study_pb2.Study) -> str:
    """Why a running managed study's trials cannot start: no healthy executor serves its trainable."""
    trainable = info.spec.trainable
    if not trainable or info.state != study_pb2.STUDY_RUNNING:
        return ""
    executors = client.executors()
    if any(e.healthy and trainable in e.info.trainables for e in executors):
        return ""
    healthy = [e for e in executors if e.healthy]
    known = (f"{len(healthy)} healthy executor(s) serve: "
             f"{', '.join(sorted({t for e in healthy for t in e.info.trainables})) or 'nothing'}"
             if healthy else "the controller knows no healthy executor")
    return (f"no healthy executor serves trainable {trainable!r} ({known}); its trials wait until one does: "
            f"start one with `nestor-executor --controller {client.address}` (`--trainable {trainable}=module:function`"
            " for your own)")


class ServingMonitor:
    """While a study is followed, warns once (and again after it was fixed) when no executor serves it."""

    def __init__(self, client: Client, study: Study, console: Console) -> None:
        self.client, self.study, self.console = client, study, console
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serving-monitor", daemon=True)

    def __enter__(self) -> ServingMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        warned = False
        while not self._stop.is_set():
            try:
                warning = unserved_warning(self.client, self.study.info())
            except NestorError:
                warning = ""
            if warning and not warned and not self._stop.is_set():
                self.console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
            warned = bool(warning)
            self._stop.wait(SERVING_CHECK_S)


def _follow(client: Client, study: Study, console: Console, args: argparse.Namespace) -> int:
    """Live progress until the study ends, then the best trial; the exit status says how it ended."""
    try:
        with ServingMonitor(client, study, console):
            progress.follow(study, console)
    except KeyboardInterrupt:
        if getattr(args, "stop_on_interrupt", False):
            study.stop("interrupted from `nestor study watch`")
            print(f"interrupted: study {study.id} stopped", file=sys.stderr)
        else:
            print(f"interrupted: study {study.id} goes on without you; follow it again with `nestor study watch "
                  f"{study.id}`, stop it with `nestor study stop {study.id}`", file=sys.stderr)
        return EXIT_INTERRUPTED
    _show_best(study, console)
    info = study.info()
    if info.state != study_pb2.STUDY_COMPLETED:
        console.print(f"study {info.id} ended {STUDY_STATE_NAMES.get(info.state, info.state)}"
                      + (f": {info.reason}" if info.reason else ""), highlight=False)
    return EXIT_FOR_STATE.get(info.state, EXIT_ERROR)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def _show_best(study: Study, console: Console) -> None:
    info = study.info()
    best = study.best()
    console.print()
    if best is None:
        console.print("no trial has a result")
    else:
        console.print(best_view(best.proto, info.spec, tuned=study.tuned(best.id)))


def cmd_study_create(args: argparse.Namespace, console: Console) -> int:
    spec = load_spec(args.file)  # a bad file fails here, before any connection is made
    with _client(args) as client:
        study = client.create_study(spec)
        print(study.id, flush=True)
        # A local controller lives as long as this command: it follows the study to its end.
        if args.watch or getattr(args, "local", None):
            return _follow(client, study, console, args)
    return 0


def _pairs(pairs: Sequence[str], option: str, read: Callable[[str], Any] = str) -> dict[str, Any]:
    """KEY=VALUE pairs of a repeatable option, each value through `read`."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LocalRefusal(f"{option} {pair!r}: expected KEY=VALUE")
        out[key] = read(value)
    return out


def cmd_study_list(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        studies = [s.proto for s in client.list_studies(include_finished=args.all,
                                                        labels=_pairs(args.label or (), "--label"))]
    if args.json:
        _print_json([study_to_dict(s) for s in studies])
    elif studies:
        console.print(studies_table(studies))
    else:
        console.print("no studies" if args.all else "no running studies (--all shows finished ones)")
    return 0


def cmd_study_get(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        info = client.find_study(args.id).info()
        warning = unserved_warning(client, info)
    if args.json:
        _print_json({**study_to_dict(info), **({"warning": warning} if warning else {})})
    else:
        console.print(study_view(info))
        if warning:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    return 0


def cmd_study_watch(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        return _follow(client, client.find_study(args.id), console, args)


def cmd_study_best(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.find_study(args.id)
        info = study.info()
        spec = info.spec
        best = [t.proto for t in study.best_trials(args.n)]
        tuned = {t.id: study.tuned(t.id) for t in best[:1]}

    def as_dict(t: study_pb2.Trial) -> dict[str, Any]:
        d = trial_to_dict(t, spec)
        return {**d, "tuned_params": tuned[t.id]} if tuned.get(t.id) else d

    if args.json:
        if args.n == 1 and len(spec.objectives) <= 1:
            _print_json(as_dict(best[0]) if best else None)
        else:
            _print_json([as_dict(t) for t in best])
    elif not best:
        console.print("no trial has a result yet")
    elif len(best) == 1:
        console.print(best_view(best[0], spec, tuned=tuned.get(best[0].id)))
    else:
        title = "Pareto front" if len(spec.objectives) > 1 else f"best {len(best)} trials"
        console.print(trials_table(best, spec, title=title))
    if info.HasField("hypervolume") and not args.json:
        console.print(f"hypervolume {hypervolume_text(info)}")
    return 0


def cmd_study_importance(args: argparse.Namespace, console: Console) -> int:
    from nestor.importance import study_importance

    with _client(args) as client:
        shares = study_importance(client.find_study(args.id), args.metric)
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
        study = client.find_study(args.id)
        spec = study.info().spec
        trials = [t.proto for t in study.trials(states=args.state, measurements=args.measurements)]
    if args.csv:
        write_csv(trials, spec, sys.stdout)
    elif args.json:
        _print_json([trial_to_dict(t, spec) for t in trials])
    elif trials:
        console.print(trials_table(trials, spec))
    else:
        console.print("no trials")
    return 0


def cmd_study_outer(args: argparse.Namespace, console: Console) -> int:
    from nestor.outer_tables import outer_to_dict, outer_view

    with _client(args) as client:
        states = client.find_study(args.id).outer_state(args.trial, history=args.history, every=args.every)
    if args.json:
        _print_json([outer_to_dict(st) for st in states])
    elif not states:
        console.print("no trial has outer variables yet")
    else:
        for st in states:
            console.print(outer_view(st))
    return 0


def _read_data(path: str, what: str) -> Any:
    """A YAML or JSON file ("-": standard input) of `what`, or a refusal that says where it went wrong."""
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as e:
        raise LocalRefusal(f"{path}: cannot read {what}: {e}") from None


def _assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """NAME=VALUE pairs; each value read as YAML (0.1 a number, adam a string, true a bool)."""
    import yaml

    return _pairs(pairs, "-p", yaml.safe_load)


def cmd_study_enqueue(args: argparse.Namespace, console: Console) -> int:
    sets: list[Any] = []
    if args.file:
        data = _read_data(args.file, "parameter sets")
        sets.extend(data if isinstance(data, list) else [data])
    if args.param:
        sets.append(_assignments(args.param))
    if not sets or not all(isinstance(p, dict) for p in sets):
        raise LocalRefusal("give -p NAME=VALUE ... or -f FILE (a mapping of parameters, or a list of them)")
    with _client(args) as client:
        study = client.find_study(args.id)
        n = study.enqueue(sets, skip_duplicates=args.skip_duplicates)
        queued = study.info().counts.queued
    console.print(f"{n} parameter sets enqueued ({len(sets) - n} duplicates skipped); {queued} queued in study "
                  f"{study.id}", highlight=False)
    return 0


def cmd_study_add(args: argparse.Namespace, console: Console) -> int:
    data = _read_data(args.file, "results")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise LocalRefusal(f"{args.file}: expected a list of results, each {{params: {{...}}, values: {{...}}}}")
    with _client(args) as client:
        study = client.find_study(args.id)
        added = study.add_trials(data)
    console.print(f"{len(added)} results added to study {study.id} as trials "
                  f"{added[0].id}-{added[-1].id}" if added else "nothing added", highlight=False)
    return 0


def cmd_study_extend(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        info = client.find_study(args.id).extend(args.max_trials)
    console.print(f"study {info.id}: max_trials {info.spec.budget.max_trials}, "
                  f"{STUDY_STATE_NAMES.get(info.state, info.state)}", highlight=False)
    return 0


def cmd_study_stop(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        info = client.find_study(args.id).stop(args.reason)
    console.print(f"study {info.id} {study_pb2.StudyState.Name(info.state).removeprefix('STUDY_')}")
    return 0


def cmd_study_delete(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.find_study(args.id)
        answer = study.delete(purge=args.purge)
    console.print(f"study {study.id} deleted", highlight=False)
    for folder in answer.purged:
        console.print(f"removed {folder}", highlight=False)
    if answer.purge_note:
        console.print(f"checkpoints: {answer.purge_note}", highlight=False)
    return 0


def cmd_study_lineage(args: argparse.Namespace, console: Console) -> int:
    from nestor import lineage
    from nestor.tables import lineage_table

    with _client(args) as client:
        study = client.find_study(args.id)
        spec = study.info().spec
        trials = {t.id: t.proto for t in study.trials()}
        best = study.best()
    if not any(t.lineage for t in trials.values()):
        raise LocalRefusal(f"study {study.id} has no lineage: only population-based studies (scheduler pbt or "
                           "pb2) change their trials' parameters as they train")
    chosen = args.trial or (best.id if best is not None else 0)
    if chosen and chosen not in trials:
        raise LocalRefusal(f"trial {chosen} of study {study.id} not found")
    steps = lineage.merged(lineage.schedule(trials, chosen)) if chosen else []
    if args.json:
        _print_json({"trial": chosen or None, "schedule": lineage.describe(steps),
                     "members": {str(i): trial_to_dict(t, spec).get("lineage", []) for i, t in trials.items()}})
        return 0
    if not args.schedule:
        for t in ([trials[args.trial]] if args.trial else trials.values()):
            console.print(lineage_table(t, spec))
            console.print()
    if steps:
        console.print(f"schedule behind trial {chosen}{' (the best)' if not args.trial else ''}:")
        for i in steps:
            whose = f"  (trial {i.trial})" if i.trial != chosen else ""
            console.print(f"  from {i.step:>6}: {fmt_params(i.params)}{whose}")
    return 0


def cmd_study_replay(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.find_study(args.id)
        spec = study.replay_spec(args.trial or None, members=args.members)
        replay = client.create_study(spec)
        print(replay.id, flush=True)
        if args.watch:
            return _follow(client, replay, console, args)
    return 0


def cmd_study_checkpoint(args: argparse.Namespace, console: Console) -> int:
    with _client(args) as client:
        study = client.find_study(args.id)
        trial = study.trial(args.trial) if args.trial else study.best()
    if trial is None:
        print("error: no trial has a result yet", file=sys.stderr)
        return EXIT_ERROR
    if not trial.checkpoint:
        print(f"error: trial {trial.id} has no checkpoint location (it never ran on an executor)", file=sys.stderr)
        return EXIT_ERROR
    print(trial.checkpoint)
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

    for flag in ("controller", "local"):
        if getattr(args, flag, None):
            print(f"error: `nestor demo` starts a controller of its own; --{flag} is not used by it",
                  file=sys.stderr)
            return EXIT_USAGE

    return run_demo(trials=args.trials, executors=args.executors, seed=args.seed, console=console,
                    dashboard_port=None if args.no_dashboard else args.dashboard_port)


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
    parser.add_argument("--local", metavar="STORE", nargs="?", const="nestor.db", default=argparse.SUPPRESS,
                        help="no server needed: a private controller (and, for a managed study, executors) on "
                             "this SQLite store (default nestor.db) for as long as the command runs; "
                             "`study create --local` follows the study to its end")


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
    p.add_argument("--watch", action="store_true",
                   help="follow the study live until it ends; the exit status says how it ended")
    p.add_argument("--stop-on-interrupt", action="store_true", help="Ctrl-C stops the study (else it goes on)")
    p.add_argument("--trainable", action="append", metavar="NAME=module:function",
                   help="with --local: the local executors serve this trainable too (repeatable; imported from "
                        "the current directory or PYTHONPATH)")

    p = add(study_commands, "list", cmd_study_list, "running studies")
    p.add_argument("--all", action="store_true", help="finished studies too")
    p.add_argument("--label", action="append", metavar="KEY=VALUE",
                   help="only studies carrying this label (repeatable: every one)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "get", cmd_study_get, "a study's state, counts and spec")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "watch", cmd_study_watch,
            "live progress until the study ends, then the best trial; the exit status says how it ended")
    p.add_argument("id")
    p.add_argument("--stop-on-interrupt", action="store_true", help="Ctrl-C stops the study (else it goes on)")

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
    p.add_argument("--csv", action="store_true",
                   help="CSV on stdout, a line per trial (the columns of Study.trials_dataframe())")

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

    p = add(study_commands, "enqueue", cmd_study_enqueue,
            "parameter sets the study runs next, in order, before asking its algorithm again")
    p.add_argument("id")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="one set, a parameter at a time (repeatable; values read as YAML)")
    p.add_argument("-f", "--file", help="YAML or JSON: a mapping of parameters, or a list of them ('-': stdin)")
    p.add_argument("--skip-duplicates", action="store_true",
                   help="leave out a set the study already tried, runs or holds")

    p = add(study_commands, "add", cmd_study_add,
            "results obtained elsewhere become completed trials the algorithm learns from")
    p.add_argument("id")
    p.add_argument("-f", "--file", required=True,
                   help="YAML or JSON list of {params: {...}, values: {metric: value}} ('-': stdin); optional "
                        "error, steps ([[step, {metric: value}], ...]) and user_attrs")

    p = add(study_commands, "extend", cmd_study_extend,
            "raise a study's max_trials; one that ended on its budget (or was stopped) runs on")
    p.add_argument("id")
    p.add_argument("--max-trials", type=_positive, required=True, help="the new total")

    p = add(study_commands, "stop", cmd_study_stop, "stop a study; running trials are told to stop")
    p.add_argument("id")
    p.add_argument("--reason", default="", help="recorded as the study's end reason")

    p = add(study_commands, "delete", cmd_study_delete, "delete a study and its trials")
    p.add_argument("id")
    p.add_argument("--purge", action="store_true",
                   help="also remove its checkpoints from the controller's --artifact-dir")

    p = add(study_commands, "lineage", cmd_study_lineage,
            "population-based studies (pbt, pb2): each member's intervals, donors and parameters, and the "
            "schedule behind the best result")
    p.add_argument("id")
    p.add_argument("--trial", type=_positive, default=0, help="only this member, and the schedule behind it")
    p.add_argument("--schedule", action="store_true", help="only the schedule")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(study_commands, "replay", cmd_study_replay,
            "train again with the schedule behind a population-based study's best result (or --trial's) fixed; "
            "prints the new study's id")
    p.add_argument("id")
    p.add_argument("--trial", type=_positive, default=0, help="this member's schedule instead of the best's")
    p.add_argument("--members", type=_positive, default=1, help="networks trained with it (default 1)")
    p.add_argument("--watch", action="store_true", help="follow the replay until it ends")
    p.add_argument("--stop-on-interrupt", action="store_true", help="Ctrl-C stops the study (else it goes on)")

    p = add(study_commands, "checkpoint", cmd_study_checkpoint,
            "where a trial's checkpoints are (default: the best trial's)")
    p.add_argument("id")
    p.add_argument("--trial", type=_positive, default=0, help="this trial instead of the best")

    p = add(commands, "executors", cmd_executors, "executors known to the controller")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(commands, "demo", cmd_demo, "start a controller and executors and run a random search, live")
    p.add_argument("--trials", type=_positive, default=24, help="trials to complete (default 24)")
    p.add_argument("--executors", type=_positive, default=2, help="executors to start (default 2)")
    p.add_argument("--seed", type=int, default=7, help="seed of the search (default 7)")
    p.add_argument("--dashboard-port", type=int, default=8080,
                   help="serve the web dashboard here while the demo runs (default 8080; 0: any free port)")
    p.add_argument("--no-dashboard", action="store_true", help="no web dashboard")
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
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head`: not an error worth a traceback; stop Python from failing again on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
