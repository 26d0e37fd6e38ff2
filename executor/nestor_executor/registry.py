"""Which trainables an executor serves: the built-ins plus `--trainable NAME=module:function` specs.

A trainable travels to the worker processes as its `module:function` text, never
as an object; the executor checks each user spec here at start so that a typo
fails the command at once instead of every trial later.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

BUILTINS: dict[str, str] = {
    "digits_mlp": "nestor_executor.trainables.digits_mlp:train",
    "digits_nas": "nestor_executor.trainables.digits_nas:train",
    "darts_search": "nestor_executor.trainables.darts_search:train",
    "darts_eval": "nestor_executor.trainables.darts_eval:train",
    "digits_hypergrad": "nestor_executor.trainables.digits_hypergrad:train",
    "synthetic": "nestor_executor.trainables.synthetic:train",
    "noop": "nestor_executor.trainables.noop:train",
    "pbt_toy": "nestor_executor.trainables.pbt_toy:train",
    "oneshot_supernet": "nestor_executor.trainables.oneshot:train",
}

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class SpecError(ValueError):
    """A `--trainable` spec that cannot be served; the message names the spec."""


def parse_spec(spec: str) -> tuple[str, str]:
    name, sep, target = (x.strip() for x in spec.partition("="))
    if not sep or not name or not target:
        raise SpecError(f"--trainable {spec!r}: expected NAME=module:function")
    if not NAME.match(name):
        raise SpecError(f"--trainable {spec!r}: the name {name!r} may only use letters, digits, "
                        "'_', '.' and '-'")
    if not TARGET.match(target):
        raise SpecError(f"--trainable {spec!r}: expected NAME=module:function, got target {target!r}")
    return name, target


def load(spec: str, target: str) -> Any:
    """Imports `module:attr.path` and checks that it is callable; SpecError says what is wrong."""
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:
        raise SpecError(f"--trainable {spec!r}: cannot import module {module_name!r} "
                        f"({type(e).__name__}: {e})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"--trainable {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError(f"--trainable {spec!r}: {target} is a {type(obj).__name__}, not a function")
    return obj


def build(specs: list[str]) -> dict[str, str]:
    """name -> 'module:function' of each trainable; later specs override built-ins and earlier ones."""
    served = dict(BUILTINS)
    for spec in specs:
        name, target = parse_spec(spec)
        load(spec, target)
        served[name] = target
    return served
