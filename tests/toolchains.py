"""Toolchains the tests of other languages' clients need.

Locally a missing toolchain skips those tests with what to install; in CI
(CI=true) it fails them, like tests/postgres.py: .ci/run installs every one.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def require(what: str, commands: list[str], install: str, pkg_config: tuple[str, ...] = ()) -> None:
    missing = [c for c in commands if shutil.which(c) is None]
    if pkg_config and not missing and subprocess.run(["pkg-config", "--exists", *pkg_config]).returncode != 0:
        missing.append(f"pkg-config modules {' '.join(pkg_config)}")
    if not missing:
        return
    problem = f"{what} needs {', '.join(missing)} ({install})"
    if os.environ.get("CI"):
        pytest.fail(f"cannot run in CI: {problem}")
    pytest.skip(problem)
