"""Study files: YAML (or a dict of the same shape) to ``StudySpec`` and back.

The format::

    name: digits-random
    trainable: digits_mlp            # omit for a client-driven (ask/tell) study
    trainable_config: {epochs: 20}   # optional fixed, JSON-like arguments for the trainable (ctx.config)
    objective: {metric: val_accuracy, goal: maximize, target: 0.99}   # target optional: ends the study
    # objectives: [{metric: loss, goal: min}, {metric: latency_ms, goal: min}]   # several: a Pareto front
    #   (each may give `reference`, its coordinate of the hypervolume's reference point; else derived)
    constraints: [{metric: n_params, max: 5.0e+6}]   # optional: trials outside are infeasible, never best
    algorithm: auto                  # the default; or random, or {name: grid, settings: {points_per_dimension: 5}}
    scheduler: {name: median, settings: {min_steps: 3}}               # optional
    budget: {max_trials: 24, max_parallel: 2, max_failed: 3}          # every key optional
    fidelity: {name: epoch, min: 1, max: 20}                          # optional
    seed: 7                          # optional; `random`, 0 or absent: the controller picks one, recorded
    trial_timeout_s: 120             # optional: a trial running longer expires (managed or ask/tell)
    heartbeat_timeout_s: 60          # optional, ask/tell: a trial with no report for this long expires
    expired_trials: fail             # optional: fail (default) or requeue (handed to the next suggest)
    labels: {team: vision}           # optional string -> string
    task: {features: {n_samples: 1797, n_features: 64}}   # optional: what the task is like (warm starts)
    enqueue: [{lr: 1.0e-3, hidden: 128, optimizer: adam}]   # optional: the first trials' parameters, in order
    warm_start: {similar: 3, mode: auto}   # optional: learn from earlier studies; or studies: [ids],
    #   labels: {team: vision}; mode: top_k, observations (tpe, bohb), transfer (gp); top_k: 10, decay: 10
    space:
      lr: {type: double, min: 1.0e-4, max: 3.0e-2, scale: log}
      hidden: {type: int, min: 32, max: 256, step: 32}
      optimizer: {type: categorical, choices: [adam, sgd]}
      batch_size: [16, 32, 64]       # shorthand for {type: categorical, choices: [...]}
      momentum: {type: double, min: 0.0, max: 0.99, when: {optimizer: [sgd]}, default: 0.9}
    architecture:                    # optional, NAS: one of chain, multi_branch, cell, edge_cell
      chain: {max_layers: 4, operations: [conv_3x3, sep_conv_5x5, max_pool_3x3], filters: [16, 32]}

Parameter types: ``double`` (alias ``float``) and ``int`` (alias ``integer``) take
``min``, ``max``, ``scale`` (``linear`` or ``log``), ``step``; ``categorical``
(alias ``choice``) takes ``choices`` and ``ordered``. Every type takes
``default`` (the first trial's value) and ``when`` (``{parent: [values]}`` or
``{parent: value}``: the parameter is active only while its parent takes one
of those values). Goals are ``minimize``/``maximize`` (or ``min``/``max``).
Numbers such as ``1e-4`` are read as numbers (plain YAML 1.1 would read a string).

Only the structure is checked here: an unknown key, a value of the wrong type,
an unknown goal/type/scale, a YAML syntax error raise :class:`SpecError` with
the path of the problem (``space.lr.min: expected a number, got 'abc'``).
Whether the spec makes sense (min <= max, a known algorithm, a non-empty
space...) is the controller's call: it answers INVALID_ARGUMENT with the path.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from google.protobuf import json_format, struct_pb2

from nestor import space as builders
from nestor.errors import SpecError
from nestor.v1 import space_pb2, study_pb2
from nestor.values import from_value, params_to_proto

#: What ``load_spec`` accepts.
SpecSource = study_pb2.StudySpec | Mapping[str, Any] | str | bytes | os.PathLike[str]

TOP_KEYS = ("name", "trainable", "trainable_config", "objective", "objectives", "algorithm", "scheduler",
            "budget", "fidelity", "seed", "trial_timeout_s", "heartbeat_timeout_s", "expired_trials", "labels",
            "space", "architecture", "constraints", "warm_start", "task", "enqueue")
OBJECTIVE_KEYS = ("metric", "goal", "target", "reference")
CONSTRAINT_KEYS = ("metric", "min", "max")
NAMED_KEYS = ("name", "settings")
BUDGET_KEYS = ("max_trials", "max_parallel", "max_failed")
WARM_START_KEYS = ("studies", "labels", "similar", "mode", "top_k", "decay")
TASK_KEYS = ("features",)
FIDELITY_KEYS = ("name", "min", "max")
PARAM_KEYS = {
    "double": ("type", "min", "max", "scale", "step", "default", "when"),
    "int": ("type", "min", "max", "scale", "step", "default", "when"),
    "categorical": ("type", "choices", "ordered", "default", "when"),
}
ARCHITECTURE_KEYS = {
    "chain": ("min_layers", "max_layers", "operations", "filters", "kernel_sizes", "strides"),
    "multi_branch": ("num_layers", "operations", "merge", "max_inputs", "filters"),
    "cell": ("num_nodes", "operations", "num_cells", "init_channels"),
    "edge_cell": ("num_nodes", "operations", "num_cells", "init_channels"),
}
ARCHITECTURE_MESSAGES = {"chain": space_pb2.ChainSpace, "multi_branch": space_pb2.MultiBranchSpace,
                         "cell": space_pb2.CellSpace, "edge_cell": space_pb2.EdgeCellSpace}
TYPE_ALIASES = {"double": "double", "float": "double", "int": "int", "integer": "int",
                "categorical": "categorical", "choice": "categorical"}
GOALS = {"minimize": study_pb2.GOAL_MINIMIZE, "min": study_pb2.GOAL_MINIMIZE,
         "maximize": study_pb2.GOAL_MAXIMIZE, "max": study_pb2.GOAL_MAXIMIZE}
SCALES = {"linear": space_pb2.SCALE_LINEAR, "log": space_pb2.SCALE_LOG}

INT32 = 2**31 - 1
INT64 = 2**63 - 1
T = TypeVar("T")


# --- YAML -----------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float and refuses duplicate keys (both silent traps in PyYAML)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(where, f"invalid YAML: {e.problem or e.context}", source=source) from None
    except yaml.YAMLError as e:
        raise SpecError("", f"invalid YAML: {e}", source=source) from None


# --- loading ----------------------------------------------------------------


def load_spec(source: SpecSource) -> study_pb2.StudySpec:
    """A StudySpec from a YAML file path, YAML text, a dict, or a StudySpec (returned as is)."""
    if isinstance(source, study_pb2.StudySpec):
        return source
    if isinstance(source, Mapping):
        return spec_from_dict(source)
    if isinstance(source, os.PathLike):
        return _load_file(Path(source))
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    if not isinstance(source, str):
        raise SpecError("", "expected a file path, YAML text, a dict or a StudySpec, "
                            f"got {type(source).__name__}")
    if _looks_like_path(source):
        return _load_file(Path(source).expanduser())
    return spec_from_dict(_parse_yaml(source, ""))


def _looks_like_path(text: str) -> bool:
    # One line without "key: value" or a flow mapping cannot be a useful YAML spec, so it names a file.
    stripped = text.strip()
    return bool(stripped) and "\n" not in stripped and ": " not in stripped and not stripped.startswith("{")


def _load_file(path: Path) -> study_pb2.StudySpec:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("", "no such file", source=str(path)) from None
    except IsADirectoryError:
        raise SpecError("", "is a directory, not a study file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError("", f"cannot read: {e}", source=str(path)) from None
    return spec_from_dict(_parse_yaml(text, str(path)), source=str(path))


def spec_from_dict(data: Any, *, source: str = "") -> study_pb2.StudySpec:
    """A StudySpec from the parsed study-file format (see the module docstring)."""
    return _Reader(source).spec(data)


# --- the reader: one method per section, each raising SpecError with its path ---


def _describe(x: Any) -> str:
    if x is None:
        return "nothing (null)"
    if isinstance(x, Mapping):
        return "a mapping"
    if isinstance(x, list | tuple):
        return "a list"
    return repr(x)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(path, message, source=self.source)

    # scalars

    def mapping(self, x: Any, path: str, keys: tuple[str, ...] | None = None,
                what: str = "key") -> Mapping[str, Any]:
        if not isinstance(x, Mapping):
            raise self.fail(path, f"expected a mapping, got {_describe(x)}")
        for k in x:
            if not isinstance(k, str):
                raise self.fail(path, f"keys must be strings, got {k!r}")
            if keys is not None and k not in keys:
                hint = difflib.get_close_matches(k, keys, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                raise self.fail(_join(path, k), f"unknown {what}{extra} (expected one of: {', '.join(keys)})")
        return x

    def string(self, x: Any, path: str) -> str:
        if not isinstance(x, str):
            raise self.fail(path, f"expected a string, got {_describe(x)}")
        return x

    def number(self, x: Any, path: str) -> float:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise self.fail(path, f"expected a number, got {_describe(x)}")
        return float(x)

    def integer(self, x: Any, path: str, limit: int = INT64) -> int:
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        if isinstance(x, bool) or not isinstance(x, int):
            raise self.fail(path, f"expected an integer, got {_describe(x)}")
        if not -limit - 1 <= x <= limit:
            raise self.fail(path, f"{x} is out of range")
        return x

    def boolean(self, x: Any, path: str) -> bool:
        if not isinstance(x, bool):
            raise self.fail(path, f"expected true or false, got {_describe(x)}")
        return x

    def scalar(self, x: Any, path: str) -> bool | int | float | str:
        if not isinstance(x, bool | int | float | str):
            raise self.fail(path, f"expected a number, string or bool, got {_describe(x)}")
        return x

    def choice(self, x: Any, path: str, table: Mapping[str, T], what: str) -> T:
        name = self.string(x, path).strip().lower()
        if name not in table:
            raise self.fail(path, f"unknown {what} {x!r} (expected one of: {', '.join(table)})")
        return table[name]

    def json_like(self, x: Any, path: str) -> Any:
        if x is None or isinstance(x, bool | int | float | str):
            return x
        if isinstance(x, Mapping):
            return {self.string(k, path): self.json_like(v, _join(path, k)) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [self.json_like(v, _join(path, i)) for i, v in enumerate(x)]
        raise self.fail(path, f"expected a JSON-like value (number, string, bool, list, mapping), got {x!r}")

    def struct(self, x: Any, path: str) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(self.json_like(self.mapping(x, path), path))
        return s

    # sections

    def spec(self, data: Any) -> study_pb2.StudySpec:
        if data is None:
            raise self.fail("", "the spec is empty")
        d = self.mapping(data, "", TOP_KEYS)
        spec = study_pb2.StudySpec()
        given = {k: v for k, v in d.items() if v is not None}
        if "name" in given:
            spec.name = self.string(given["name"], "name")
        if "trainable" in given:
            spec.trainable = self.string(given["trainable"], "trainable")
        if "trainable_config" in given:
            spec.trainable_config.CopyFrom(self.struct(given["trainable_config"], "trainable_config"))
        if "objective" in given and "objectives" in given:
            raise self.fail("objectives", "give either objective or objectives, not both")
        if "objective" in given:
            spec.objectives.append(self.objective(given["objective"], "objective"))
        if "objectives" in given:
            items = given["objectives"]
            if not isinstance(items, list):
                raise self.fail("objectives", f"expected a list, got {_describe(items)}")
            spec.objectives.extend(self.objective(o, _join("objectives", i)) for i, o in enumerate(items))
        if "constraints" in given:
            items = given["constraints"]
            if not isinstance(items, list):
                raise self.fail("constraints", f"expected a list, got {_describe(items)}")
            spec.constraints.extend(self.constraint(c, _join("constraints", i)) for i, c in enumerate(items))
        if "algorithm" in given:
            self.named(given["algorithm"], "algorithm", spec.algorithm)
        if "scheduler" in given:
            self.named(given["scheduler"], "scheduler", spec.scheduler)
        if "budget" in given:
            spec.budget.CopyFrom(self.budget(given["budget"], "budget"))
        if "fidelity" in given:
            spec.fidelity.CopyFrom(self.fidelity(given["fidelity"], "fidelity"))
        if "seed" in given:
            # `seed: random` says outright what 0 means: the controller picks one and records it.
            spec.seed = 0 if given["seed"] == "random" else self.integer(given["seed"], "seed")
        if "trial_timeout_s" in given:
            spec.trial_timeout_s = self.number(given["trial_timeout_s"], "trial_timeout_s")
        if "heartbeat_timeout_s" in given:
            spec.heartbeat_timeout_s = self.number(given["heartbeat_timeout_s"], "heartbeat_timeout_s")
        if "expired_trials" in given:
            spec.expired_trials = self.string(given["expired_trials"], "expired_trials")
        if "labels" in given:
            spec.labels.update(self.labels(given["labels"], "labels"))
        if "enqueue" in given:
            for i, item in enumerate(self.sequence(given["enqueue"], "enqueue")):
                path = _join("enqueue", i)
                params = {str(k): self.scalar(v, _join(path, k)) for k, v in self.mapping(item, path).items()}
                spec.enqueue.add(params=params_to_proto(params))
        if "warm_start" in given:
            spec.warm_start.CopyFrom(self.warm_start(given["warm_start"], "warm_start"))
        if "task" in given:
            features = self.mapping(given["task"], "task", TASK_KEYS).get("features") or {}
            for k, v in self.mapping(features, "task.features").items():
                spec.task.features[str(k)] = self.number(v, _join("task.features", k))
        spec.space.CopyFrom(self.space(d.get("space"), "space"))
        if "architecture" in given:
            spec.space.architecture.CopyFrom(self.architecture(given["architecture"], "architecture"))
        return spec

    def objective(self, x: Any, path: str) -> study_pb2.Objective:
        d = self.mapping(x, path, OBJECTIVE_KEYS)
        o = study_pb2.Objective()
        if d.get("metric") is not None:
            o.metric = self.string(d["metric"], _join(path, "metric"))
        if d.get("goal") is not None:
            o.goal = self.choice(d["goal"], _join(path, "goal"), GOALS, "goal")
        if d.get("target") is not None:
            o.target = self.number(d["target"], _join(path, "target"))
        if d.get("reference") is not None:
            o.reference = self.number(d["reference"], _join(path, "reference"))
        return o

    def constraint(self, x: Any, path: str) -> study_pb2.Constraint:
        d = self.mapping(x, path, CONSTRAINT_KEYS)
        c = study_pb2.Constraint()
        if d.get("metric") is not None:
            c.metric = self.string(d["metric"], _join(path, "metric"))
        for key in ("min", "max"):
            if d.get(key) is not None:
                setattr(c, key, self.number(d[key], _join(path, key)))
        return c

    def named(self, x: Any, path: str, out: study_pb2.AlgorithmSpec | study_pb2.SchedulerSpec) -> None:
        if isinstance(x, str):
            out.name = x
            return
        if not isinstance(x, Mapping):
            raise self.fail(path, f"expected a name or {{name: ..., settings: {{...}}}}, got {_describe(x)}")
        d = self.mapping(x, path, NAMED_KEYS)
        if d.get("name") is not None:
            out.name = self.string(d["name"], _join(path, "name"))
        if d.get("settings") is not None:
            out.settings.CopyFrom(self.struct(d["settings"], _join(path, "settings")))

    def budget(self, x: Any, path: str) -> study_pb2.Budget:
        d = self.mapping(x, path, BUDGET_KEYS)
        b = study_pb2.Budget()
        for key in BUDGET_KEYS:
            if d.get(key) is not None:
                setattr(b, key, self.integer(d[key], _join(path, key), INT32))
        return b

    def warm_start(self, x: Any, path: str) -> study_pb2.WarmStart:
        d = {k: v for k, v in self.mapping(x, path, WARM_START_KEYS).items() if v is not None}
        w = study_pb2.WarmStart()
        studies = d.get("studies", [])
        w.studies.extend(self.string(s, _join(_join(path, "studies"), i)) for i, s in enumerate(self.sequence(
            [studies] if isinstance(studies, str) else studies, _join(path, "studies"))))
        if "labels" in d:
            w.labels.update(self.labels(d["labels"], _join(path, "labels")))
        for key in ("similar", "top_k"):
            if key in d:
                setattr(w, key, self.integer(d[key], _join(path, key), INT32))
        if "mode" in d:
            w.mode = self.string(d["mode"], _join(path, "mode"))
        if "decay" in d:
            w.decay = self.number(d["decay"], _join(path, "decay"))
        return w

    def fidelity(self, x: Any, path: str) -> study_pb2.Fidelity:
        d = self.mapping(x, path, FIDELITY_KEYS)
        f = study_pb2.Fidelity()
        if d.get("name") is not None:
            f.name = self.string(d["name"], _join(path, "name"))
        for key in ("min", "max"):
            if d.get(key) is not None:
                setattr(f, key, self.number(d[key], _join(path, key)))
        return f

    def labels(self, x: Any, path: str) -> dict[str, str]:
        out = {}
        for k, v in self.mapping(x, path).items():
            # Numbers are common label values (version: 2); stringify them rather than refuse.
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise self.fail(_join(path, k), f"expected a string, got {_describe(v)}")
            out[k] = str(v)
        return out

    def architecture(self, x: Any, path: str) -> space_pb2.ArchitectureSpace:
        d = self.mapping(x, path, tuple(ARCHITECTURE_KEYS), what="architecture kind")
        if len(d) != 1:
            raise self.fail(path, f"expected exactly one of {', '.join(ARCHITECTURE_KEYS)}, got {len(d)}")
        ((kind, body),) = d.items()
        at = _join(path, kind)
        fields: dict[str, Any] = {}
        for key, v in self.mapping(body, at, ARCHITECTURE_KEYS[kind], what=f"key for a {kind} space").items():
            p = _join(at, key)
            if key == "operations":
                fields[key] = [self.string(op, _join(p, i)) for i, op in enumerate(self.sequence(v, p))]
            elif key == "merge":
                fields[key] = self.string(v, p)
            elif key in ("filters", "kernel_sizes", "strides"):
                fields[key] = [self.integer(n, _join(p, i), INT32) for i, n in enumerate(self.sequence(v, p))]
            else:
                fields[key] = self.integer(v, p, INT32)
        out = space_pb2.ArchitectureSpace()
        getattr(out, kind).CopyFrom(ARCHITECTURE_MESSAGES[kind](**fields))
        return out

    def sequence(self, x: Any, path: str) -> list[Any]:
        if not isinstance(x, list | tuple):
            raise self.fail(path, f"expected a list, got {_describe(x)}")
        return list(x)

    def space(self, x: Any, path: str) -> space_pb2.SearchSpace:
        if x is None:
            return space_pb2.SearchSpace()
        d = self.mapping(x, path)
        return builders.Space(*(self.parameter(name, spec, _join(path, name)) for name, spec in d.items()))

    def parameter(self, name: str, x: Any, path: str) -> space_pb2.Parameter:
        if isinstance(x, list):
            x = {"type": "categorical", "choices": x}
        d = self.mapping(x, path)
        if d.get("type") is None:
            if "choices" not in d:
                raise self.fail(_join(path, "type"), "missing (double, int or categorical)")
            kind = "categorical"
        else:
            kind = self.choice(d["type"], _join(path, "type"), TYPE_ALIASES, "parameter type")
        self.mapping(d, path, PARAM_KEYS[kind], what=f"key for {_article(kind)} {kind} parameter")
        when = self.when(d["when"], _join(path, "when")) if d.get("when") is not None else None

        def get(key: str, read: Callable[[Any, str], Any], required: bool = False) -> Any:
            if d.get(key) is None:
                if required:
                    raise self.fail(_join(path, key), f"missing ({_article(kind)} {kind} parameter needs it)")
                return None
            return read(d[key], _join(path, key))

        try:
            if kind == "categorical":
                choices = get("choices", self.list_of_scalars, required=True)
                return builders.Categorical(name, choices, ordered=bool(get("ordered", self.boolean)),
                                            when=when, default=get("default", self.scalar))
            log = get("scale", lambda v, p: self.choice(v, p, SCALES, "scale")) == space_pb2.SCALE_LOG
            if kind == "double":
                return builders.Double(name, get("min", self.number, True), get("max", self.number, True),
                                       log=log, step=get("step", self.number) or 0.0, when=when,
                                       default=get("default", self.number))
            step = get("step", self.integer)
            return builders.Int(name, get("min", self.integer, True), get("max", self.integer, True),
                                log=log, step=1 if step is None else step, when=when,
                                default=get("default", self.integer))
        except TypeError as e:
            # The builders' own type checks; the reader should have caught these first.
            raise self.fail(path, str(e)) from None

    def list_of_scalars(self, x: Any, path: str) -> list[bool | int | float | str]:
        if not isinstance(x, list | tuple):
            raise self.fail(path, f"expected a list, got {_describe(x)}")
        return [self.scalar(v, _join(path, i)) for i, v in enumerate(x)]

    def when(self, x: Any, path: str) -> dict[str, list[bool | int | float | str]]:
        out = {}
        for parent, values in self.mapping(x, path).items():
            p = _join(path, parent)
            listed = values if isinstance(values, list) else [values]
            out[parent] = self.list_of_scalars(listed, p)
        return out


# --- back to a dict ---------------------------------------------------------


def _plain_json(x: Any) -> Any:
    # Struct stores every number as a double; 3.0 reads better as 3 and converts back to the same double.
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    if isinstance(x, dict):
        return {k: _plain_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain_json(v) for v in x]
    return x


def _struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    return _plain_json(json_format.MessageToDict(s))  # type: ignore[no-any-return]


def goal_name(goal: int) -> str:
    return {study_pb2.GOAL_MINIMIZE: "minimize", study_pb2.GOAL_MAXIMIZE: "maximize"}.get(goal, "")


def objective_to_dict(o: study_pb2.Objective) -> dict[str, Any]:
    d: dict[str, Any] = {"metric": o.metric}
    if goal_name(o.goal):
        d["goal"] = goal_name(o.goal)
    if o.HasField("target"):
        d["target"] = o.target
    if o.HasField("reference"):
        d["reference"] = o.reference
    return d


def constraint_to_dict(c: study_pb2.Constraint) -> dict[str, Any]:
    d: dict[str, Any] = {"metric": c.metric}
    for key in ("min", "max"):
        if c.HasField(key):
            d[key] = getattr(c, key)
    return d


def _named_to_dict(n: study_pb2.AlgorithmSpec | study_pb2.SchedulerSpec) -> str | dict[str, Any]:
    if not n.settings.fields:
        return n.name
    return {"name": n.name, "settings": _struct_to_dict(n.settings)}


def parameter_to_dict(p: space_pb2.Parameter) -> dict[str, Any]:
    kind = p.WhichOneof("domain")
    d: dict[str, Any] = {"type": kind or "unspecified"}
    if kind in ("double", "int"):
        dom = p.double if kind == "double" else p.int
        d["min"], d["max"] = dom.min, dom.max
        if dom.scale == space_pb2.SCALE_LOG:
            d["scale"] = "log"
        if (kind == "double" and dom.step) or (kind == "int" and dom.step not in (0, 1)):
            d["step"] = dom.step
    elif kind == "categorical":
        d["choices"] = [from_value(v) for v in p.categorical.choices]
        if p.categorical.ordered:
            d["ordered"] = True
    if p.HasField("default_value"):
        d["default"] = from_value(p.default_value)
    if p.conditions:
        d["when"] = {c.parent: [from_value(v) for v in c.values] for c in p.conditions}
    return d


def spec_to_dict(spec: study_pb2.StudySpec) -> dict[str, Any]:
    """The study-file form of a spec (``load_spec`` of it gives the spec back); for display and ``--json``."""
    d: dict[str, Any] = {}
    if spec.name:
        d["name"] = spec.name
    if spec.trainable:
        d["trainable"] = spec.trainable
    if spec.trainable_config.fields:
        d["trainable_config"] = _struct_to_dict(spec.trainable_config)
    if len(spec.objectives) == 1:
        d["objective"] = objective_to_dict(spec.objectives[0])
    elif spec.objectives:
        d["objectives"] = [objective_to_dict(o) for o in spec.objectives]
    if spec.constraints:
        d["constraints"] = [constraint_to_dict(c) for c in spec.constraints]
    if spec.algorithm.name or spec.algorithm.settings.fields:
        d["algorithm"] = _named_to_dict(spec.algorithm)
    if spec.scheduler.name or spec.scheduler.settings.fields:
        d["scheduler"] = _named_to_dict(spec.scheduler)
    budget = {k: getattr(spec.budget, k) for k in ("max_trials", "max_parallel") if getattr(spec.budget, k)}
    if spec.budget.HasField("max_failed"):
        budget["max_failed"] = spec.budget.max_failed
    if budget:
        d["budget"] = budget
    if spec.HasField("fidelity"):
        d["fidelity"] = {"name": spec.fidelity.name, "min": spec.fidelity.min, "max": spec.fidelity.max}
    if spec.seed:
        d["seed"] = spec.seed
    if spec.trial_timeout_s:
        d["trial_timeout_s"] = spec.trial_timeout_s
    if spec.heartbeat_timeout_s:
        d["heartbeat_timeout_s"] = spec.heartbeat_timeout_s
    if spec.expired_trials:
        d["expired_trials"] = spec.expired_trials
    if spec.labels:
        d["labels"] = dict(sorted(spec.labels.items()))
    if spec.HasField("warm_start"):
        d["warm_start"] = json_format.MessageToDict(spec.warm_start, preserving_proto_field_name=True)
    if spec.task.features:
        d["task"] = {"features": dict(sorted(spec.task.features.items()))}
    if spec.enqueue:
        d["enqueue"] = [{k: from_value(v) for k, v in p.params.items()} for p in spec.enqueue]
    d["space"] = {p.name: parameter_to_dict(p) for p in spec.space.parameters}
    if spec.space.HasField("architecture"):
        d["architecture"] = json_format.MessageToDict(spec.space.architecture,
                                                      preserving_proto_field_name=True)
    return d


def dump_spec(spec: study_pb2.StudySpec) -> str:
    """The spec as study-file YAML."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False, default_flow_style=None, width=110)
