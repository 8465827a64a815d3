"""What went wrong when connecting to Cassandra, in one line naming the host and the reason.

The driver reports a failed connect as ``NoHostAvailable`` holding, per contact point, the
exception of its last attempt (or, when no host is in the configured data center, a bare list
of hosts), and a name that does not resolve as ``UnresolvableContactPoints`` with no name in
it. An operator needs which host, and which of these it was: a name that does not resolve, a
port nobody listens on, wrong credentials, a TLS mismatch, a data center name the cluster does
not have. :func:`connect_failure` words each; the driver's own text is kept for the rest.

Only connecting goes through here: a request's errors are translated in :mod:`.errors`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path

import cassandra
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException

from persistence_cassandra import errors
from persistence_cassandra.config import CassandraConfig

__all__ = ["connect_failure", "describe_endpoint", "host_reason"]


def describe_endpoint(config: CassandraConfig) -> str:
    """Hosts and port, or the Astra bundle's file name; never credentials."""
    if config.astra is not None:
        return f"Astra DB ({Path(config.astra.secure_connect_bundle).name})"
    return f"{config.hosts}:{config.port}"


def host_reason(error: BaseException, config: CassandraConfig) -> str:
    """Why one host refused the connection, in words (never a credential)."""
    text = str(error)
    if isinstance(error, cassandra.AuthenticationFailed) or "AuthenticationFailed" in text:
        if config.astra is not None:
            return "authentication failed (the token was refused; check cassandra.astra.token)"
        who = f"user {config.user!r}" if config.user else "no user configured"
        return f"authentication failed ({who}; check cassandra.user and cassandra.password)"
    if isinstance(error, ConnectionRefusedError) or "Connection refused" in text:
        return f"connection refused (nothing listens on port {config.port})"
    if "SSL" in text or "TLS" in text or "certificate" in text.lower():
        side = "enabled" if config.tls.enabled else "disabled"
        return f"TLS handshake failed with cassandra.tls {side} ({_last_error(text)})"
    if isinstance(error, socket.timeout | TimeoutError) or "timed out" in text.lower():
        return f"no answer within connectTimeout {config.connect_timeout:g} s"
    if isinstance(error, ConnectionException | OSError):
        return _last_error(text)
    return f"{type(error).__name__}: {_last_error(text)}"


def _last_error(text: str) -> str:
    # The driver's "Tried connecting to [...]. Last error: <reason>": the reason is the news.
    marker = "Last error: "
    return text.split(marker, 1)[1] if marker in text else text


def connect_failure(
    error: BaseException, config: CassandraConfig, datacenters: Iterable[str] = ()
) -> errors.PersistenceError:
    """The persistence error for a failed connect; ``datacenters`` are those the cluster
    reported (known only when the control connection got that far)."""
    if isinstance(error, cassandra.UnresolvableContactPoints):
        return errors.Unavailable(
            f"cannot connect to Cassandra: host name(s) {config.hosts} do not resolve "
            "(cassandra.hosts)"
        )
    if not isinstance(error, NoHostAvailable):
        return errors.Unavailable(
            f"cannot connect to Cassandra at {describe_endpoint(config)}: {error}"
        )
    per_host = error.errors
    if not isinstance(per_host, dict):
        # The driver's list form: hosts were found, but none in the local data center.
        known = ", ".join(sorted(set(datacenters))) or "none reported"
        return errors.Unavailable(
            f"cannot connect to Cassandra at {describe_endpoint(config)}: no host in data center "
            f"{config.datacenter!r} (cassandra.datacenter); the cluster's data centers: {known}"
        )
    if not per_host:
        return errors.Unavailable(
            f"cannot connect to Cassandra at {describe_endpoint(config)}: no host could be tried"
        )
    reasons = [f"{host}: {host_reason(reason, config)}" for host, reason in per_host.items()]
    failure = "; ".join(reasons)
    where = f" {describe_endpoint(config)}" if config.astra is not None else ""
    if all("authentication failed" in reason for reason in reasons):
        return errors.InvalidRequest(f"cannot connect to Cassandra{where}: {failure}")
    return errors.Unavailable(f"cannot connect to Cassandra{where}: {failure}")
