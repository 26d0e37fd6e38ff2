"""Where a trial's checkpoints go: always inside the executor's artifact directory.

A RunTrial assignment names its checkpoint folder (`checkpoint_dir`) or leaves
it to the executor (`<artifact-dir>/<study id>/<trial id>`). Either way the
folder is created and written by the worker, so the assignment must not be able
to point it anywhere else: an absolute path outside the artifact directory,
`..`, a NUL, or a separator in an id is refused before anything touches the disk.

An absolute `checkpoint_dir` inside the artifact directory is fine: that is
what a controller with `--artifact-dir` sends when the directory is shared and
mounted at the same path on the controller and its executors.
"""

from __future__ import annotations

import os
import re

#: A longer name is refused by most file systems anyway; this says so in the caller's terms.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


class PathError(ValueError):
    """An assignment field that would put a path outside the artifact directory; the message names it."""


def safe_name(x: object) -> str:
    """A study id as a folder name: characters a shell or another OS would trip on become '_'."""
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", str(x)) or "_"


def check_id(field: str, value: str) -> None:
    """An id used as one path component: not empty, not `.` or `..`, no NUL, no separator."""
    if not value:
        raise PathError(f"{field} is empty")
    if "\0" in value:
        raise PathError(f"{field} {value!r} contains a NUL character")
    if "/" in value or "\\" in value:
        raise PathError(f"{field} {value!r} contains a path separator")
    if value in (".", ".."):
        raise PathError(f"{field} {value!r} is not a name")
    if len(value.encode()) > MAX_NAME_BYTES:
        raise PathError(f"{field} is {len(value.encode())} bytes long (at most {MAX_NAME_BYTES})")


def inside(root: str, path: str) -> bool:
    """`path` lies strictly under `root`, both with symbolic links resolved."""
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    return real != real_root and os.path.commonpath([real_root, real]) == real_root


def checkpoint_dir(root: str, study_id: str, trial_id: int, given: str) -> str:
    """The folder a trial's worker may create and write; raises PathError naming the field otherwise."""
    check_id("study_id", study_id)
    if trial_id < 0:
        raise PathError(f"trial_id {trial_id} is negative")
    if not given:
        return os.path.join(root, safe_name(study_id), str(trial_id))
    return confined(root, "checkpoint_dir", given)


def restore_dir(root: str, given: str) -> str:
    """The folder whose checkpoint seeds a run's own (`restore_from`; "" for none): read, never written."""
    return confined(root, "restore_from", given) if given else ""


def confined(root: str, field: str, given: str) -> str:
    if "\0" in given:
        raise PathError(f"{field} {given!r} contains a NUL character")
    if len(given.encode()) > MAX_PATH_BYTES:
        raise PathError(f"{field} is {len(given.encode())} bytes long (at most {MAX_PATH_BYTES})")
    # Refused outright rather than resolved: a `..` that happens to land inside the root is still a
    # controller bug or an attack, and neither should be guessed at.
    if ".." in re.split(r"[/\\]", given):
        raise PathError(f"{field} {given!r} contains '..'")
    # A relative path lies under the artifact directory; an absolute one must already.
    path = os.path.normpath(os.path.join(root, given))
    if not inside(root, path):
        raise PathError(f"{field} {given!r} is outside this executor's artifact directory "
                        f"{os.path.realpath(root)!r} (--artifact-dir): a directory shared with the controller "
                        "must be mounted at the same path on both")
    return path
