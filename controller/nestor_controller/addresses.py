"""Executor addresses the controller can dial: checked when an executor registers, not when dialling fails."""

from __future__ import annotations

import ipaddress
import re

from nestor_controller.errors import SpecError

#: A DNS name: dot-separated labels of letters, digits, '-' and '_' (Kubernetes pod and Service names).
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
MAX_HOST_CHARS = 253
WILDCARDS = ("0.0.0.0", "::")


def _host_problem(host: str) -> str:
    """Why `host` cannot be dialled, or "" when it can."""
    if not host:
        return "the host is empty"
    if host.startswith("["):
        if not host.endswith("]"):
            return "an IPv6 host needs its closing bracket"
        try:
            ip = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{host} is no IPv6 address"
        return "a wildcard address cannot be dialled" if ip.is_unspecified else ""
    if ":" in host:
        return "an IPv6 host must be in brackets, as in [::1]:50052"
    if len(host) > MAX_HOST_CHARS:
        return f"the host is longer than {MAX_HOST_CHARS} characters"
    if host in WILDCARDS:
        return "a wildcard address cannot be dialled; advertise the executor's own address"
    if not all(_LABEL.match(label) for label in host.rstrip(".").split(".")):
        return "the host is no DNS name or IP address"
    return ""


def check_executor_address(address: str, where: str = "address") -> str:
    """`address` when it is host:port that can be dialled, else SpecError saying what is wrong with it."""
    host, sep, port = address.rpartition(":")
    problem = ""
    if "://" in address:
        problem = "give host:port, without a scheme or path"
    elif not sep:
        problem = "expected host:port"
    elif not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        problem = "the port must be a number from 1 to 65535"
    else:
        problem = _host_problem(host)
    if problem:
        raise SpecError(f"{where}: {address[:300]!r} cannot be dialled: {problem}")
    return address
