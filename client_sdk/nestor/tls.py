"""TLS settings shared by the SDK, the controller and the executors.

Certificates are given by file path (a Kubernetes Secret mounted as files, a
compose volume) and read once, when a channel or a server port is built. The
same helpers serve the sync channels of the SDK and the asyncio ones of the
servers, so every process speaks TLS the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

ChannelOptions = Sequence[tuple[str, Any]]


class TLSConfigError(ValueError):
    """A certificate setting that cannot work; the message names the flag or file."""


def read_pem(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TLSConfigError(f"{what}: cannot read {path!r}: {e.strerror or e}") from None
    if b"-----BEGIN " not in data:
        raise TLSConfigError(f"{what}: {path!r} is not a PEM file")
    return data


@dataclass(frozen=True)
class ClientTLS:
    """How a process dials a TLS server: the CA it trusts and, for mutual TLS, its own certificate.

    ``ca`` empty means the system's trusted roots. ``server_name`` overrides the
    name checked in the server's certificate; without it, a caller may give the
    name to check per channel: executors found by DNS are dialled by IP address,
    but their certificate names the Service they were found through.
    """

    ca: str = ""
    cert: str = ""
    key: str = ""
    server_name: str = ""

    def __post_init__(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise TLSConfigError("a client certificate needs both its certificate and its key file")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.ca, "CA certificate") if self.ca else None,
            private_key=read_pem(self.key, "client key") if self.key else None,
            certificate_chain=read_pem(self.cert, "client certificate") if self.cert else None)

    def options(self, server_name: str = "") -> list[tuple[str, Any]]:
        name = self.server_name or server_name
        return [("grpc.ssl_target_name_override", name)] if name else []


@dataclass(frozen=True)
class ServerTLS:
    """A server's certificate, and for mutual TLS the CA its clients' certificates must chain to."""

    cert: str
    key: str
    client_ca: str = ""

    def credentials(self) -> grpc.ServerCredentials:
        pair = (read_pem(self.key, "server key"), read_pem(self.cert, "server certificate"))
        if self.client_ca:
            # A client without a certificate signed by client_ca fails the handshake: no RPC ever runs.
            return grpc.ssl_server_credentials([pair], root_certificates=read_pem(self.client_ca, "client CA"),
                                               require_client_auth=True)
        return grpc.ssl_server_credentials([pair])


def server_tls(cert: str, key: str, client_ca: str) -> ServerTLS | None:
    """From command-line flags: None for plaintext; an error for half a configuration."""
    if not cert and not key:
        if client_ca:
            raise TLSConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)")
        return None
    if not cert or not key:
        raise TLSConfigError("--tls-cert and --tls-key go together")
    tls = ServerTLS(cert, key, client_ca)
    tls.credentials()  # read every file now: a typo fails at start, not at the first connection
    return tls


def guards(tls: ServerTLS | None, tokens: bool = False) -> str:
    """What protects a port, for the start-up line: ' (TLS, mutual TLS, tokens)', or '' for none."""
    names = [n for n, on in (("TLS", tls), ("mutual TLS", tls and tls.client_ca), ("tokens", tokens)) if on]
    return f" ({', '.join(names)})" if names else ""


def add_port(server: grpc.aio.Server, address: str, tls: ServerTLS | None) -> int:
    """Binds `address` with TLS when configured; returns the port (0 when it could not bind)."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.credentials())


def aio_channel(address: str, tls: ClientTLS | None, options: ChannelOptions = (), server_name: str = "",
                interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(address, options=list(options), interceptors=interceptors)
    return grpc.aio.secure_channel(address, tls.credentials(), options=[*options, *tls.options(server_name)],
                                   interceptors=interceptors)


def sync_channel(address: str, tls: ClientTLS | None, options: ChannelOptions = ()) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(address, options=list(options))
    return grpc.secure_channel(address, tls.credentials(), options=[*options, *tls.options()])


def client_tls_from_env(env: dict[str, str] | None = None) -> ClientTLS | None:
    """The SDK's TLS settings from the environment: NESTOR_TLS_CA, NESTOR_TLS_CERT, NESTOR_TLS_KEY,
    NESTOR_TLS_SERVER_NAME, or NESTOR_TLS=1 for the system's roots; None (plaintext) when none is set."""
    env = dict(os.environ) if env is None else env
    ca, cert, key = env.get("NESTOR_TLS_CA", ""), env.get("NESTOR_TLS_CERT", ""), env.get("NESTOR_TLS_KEY", "")
    name = env.get("NESTOR_TLS_SERVER_NAME", "")
    if not (ca or cert or key or name or env.get("NESTOR_TLS", "").lower() in ("1", "true", "yes")):
        return None
    return ClientTLS(ca=ca, cert=cert, key=key, server_name=name)
