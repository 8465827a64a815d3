"""The one way this package connects to Cassandra or Astra DB, for the stores and the schema tool.

:func:`build_cluster` turns a ``cassandra:`` block into a driver ``Cluster``: contact points or
the secure connect bundle (Astra DB: protocol v4, user ``token``), authentication, TLS with file
or inline (PEM or base64 PEM) certificates, token-aware load balancing over the local data
center (or only the configured hosts with ``disableInitialHostLookup``), the ``reconnect:``
policy, and the execution profiles the caller names. :func:`connect` opens it off the event
loop, turns a failed connect into one line naming the host and the reason
(:mod:`.connect_errors`), and lets a cancelled connect go without holding up the process's exit.

Callers differ only in their profiles: the stores' session has read, write and schema profiles
(writes never retried by the driver), the schema tool one profile of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import cassandra
import cassandra.cluster as cassandra_cluster
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionShutdown, CrcMismatchException
from cassandra.policies import (
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    LoadBalancingPolicy,
    ReconnectionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra.query import dict_factory
from pydantic import SecretStr

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.connect_errors import (
    connect_failure,
    describe_endpoint,
)
from persistence_cassandra.backends.cassandra.errors import translate_error
from persistence_cassandra.config import CassandraConfig, ReconnectConfig, TLSConfig
from persistence_cassandra.errors import ConfigError

__all__ = [
    "ASTRA_PROTOCOL_VERSION",
    "DEFAULT_PROTOCOL_VERSION",
    "build_cluster",
    "connect",
    "describe_endpoint",
    "execution_profile",
    "reconnection_policy",
    "ssl_context_for",
]

DEFAULT_PROTOCOL_VERSION = 5
"""Cassandra 4.0+ speaks v5; pinning it avoids the driver's noisy downgrade negotiation."""
ASTRA_PROTOCOL_VERSION = 4

RowFactory = Callable[[list[str], list[tuple[Any, ...]]], Any]


def _consistency(name: str) -> int:
    value: int = getattr(ConsistencyLevel, name.upper())
    return value


def _inline_pem(secret: SecretStr) -> str:
    """Inline certificate data: PEM text, or base64 of it as Temporal's ``certData`` is."""
    value = secret.get_secret_value().strip()
    if value.startswith("-----BEGIN"):
        return value
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigError("cassandra.tls: inline data is neither PEM nor base64 PEM") from None


@contextlib.contextmanager
def _pem_files(tls: TLSConfig) -> Iterator[tuple[str | None, str | None]]:
    """Client certificate and key paths; inline data goes to private temporary files (removed
    right after loading) because ``SSLContext.load_cert_chain`` only reads files."""
    created: list[str] = []

    def materialize(secret: SecretStr) -> str:
        handle, path = tempfile.mkstemp(prefix="pc-tls-", suffix=".pem")
        created.append(path)
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(_inline_pem(secret))
        return path

    try:
        cert = tls.cert_file or (materialize(tls.cert_data) if tls.cert_data else None)
        key = tls.key_file or (materialize(tls.key_data) if tls.key_data else None)
        yield cert, key
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                os.unlink(path)


def ssl_context_for(tls: TLSConfig) -> ssl.SSLContext | None:
    """The client TLS context for ``tls`` (``None`` when TLS is off)."""
    if not tls.enabled:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.enable_host_verification:
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if tls.ca_file or tls.ca_data:
            context.load_verify_locations(
                cafile=tls.ca_file, cadata=_inline_pem(tls.ca_data) if tls.ca_data else None
            )
        else:
            context.load_default_certs()
    else:
        # Temporal's enableHostVerification=false skips certificate checks entirely.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with _pem_files(tls) as (cert, key):
        if cert:
            context.load_cert_chain(certfile=cert, keyfile=key)
    return context


def _load_balancing(config: CassandraConfig) -> LoadBalancingPolicy:
    if config.disable_initial_host_lookup and config.astra is None:
        # Like gocql's DisableInitialHostLookup: only the configured hosts are ever asked,
        # whatever the cluster advertises (for NAT, proxies and tunnels).
        child: LoadBalancingPolicy = WhiteListRoundRobinPolicy(config.host_list)
    else:
        child = DCAwareRoundRobinPolicy(local_dc=config.datacenter)
    return TokenAwarePolicy(child)


def execution_profile(
    config: CassandraConfig,
    *,
    timeout: float,
    retry_policy: RetryPolicy | None = None,
    row_factory: RowFactory = dict_factory,
) -> ExecutionProfile:
    """A profile at the configured consistency pair (``consistency.default``)."""
    consistency = config.consistency.default
    return ExecutionProfile(
        load_balancing_policy=_load_balancing(config),
        retry_policy=retry_policy or RetryPolicy(),
        consistency_level=_consistency(consistency.consistency),
        serial_consistency_level=_consistency(consistency.serial_consistency),
        request_timeout=timeout,
        row_factory=row_factory,
    )


def reconnection_policy(config: ReconnectConfig) -> ReconnectionPolicy:
    """The driver policy for ``reconnect:``; attempts never stop (``max_attempts=None``)."""
    if config.policy == "constant":
        return ConstantReconnectionPolicy(config.base_delay, max_attempts=None)
    return ExponentialReconnectionPolicy(config.base_delay, config.max_delay, max_attempts=None)


def build_cluster(
    config: CassandraConfig,
    profiles: Mapping[object, ExecutionProfile],
    *,
    connect_timeout: float | None = None,
    **driver_options: Any,
) -> Cluster:
    """The driver ``Cluster`` for ``config`` (not connected yet) with ``profiles``. Blocking:
    may resolve names. ``driver_options`` pass through (``max_schema_agreement_wait``...)."""
    timeout = config.connect_timeout if connect_timeout is None else connect_timeout
    common: dict[str, Any] = {
        "execution_profiles": dict(profiles),
        "connect_timeout": timeout,
        "control_connection_timeout": timeout,
        # Host pools and the control connection both follow it. The heartbeat and the
        # schema/topology event windows play no part in how soon a restarted node is used
        # again (measured, docs/cluster.md): a killed node's sockets close at once.
        "reconnection_policy": reconnection_policy(config.reconnect),
        **driver_options,
    }
    if config.astra is not None:
        return Cluster(
            cloud={
                "secure_connect_bundle": config.astra.secure_connect_bundle,
                "connect_timeout": timeout,
            },
            auth_provider=PlainTextAuthProvider("token", config.astra.token.get_secret_value()),
            protocol_version=config.protocol_version or ASTRA_PROTOCOL_VERSION,
            **common,
        )
    if config.user is not None:
        password = config.password.get_secret_value() if config.password else ""
        common["auth_provider"] = PlainTextAuthProvider(config.user, password)
    try:
        context = ssl_context_for(config.tls)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cassandra.tls: cannot load certificates: {exc}") from None
    if context is not None:
        common["ssl_context"] = context
        if config.tls.server_name:
            common["ssl_options"] = {"server_hostname": config.tls.server_name}
    # maxConns has no driver equivalent: from protocol v3 on the driver keeps one multiplexed
    # connection per host (up to 32k requests in flight on it).
    return Cluster(
        contact_points=config.host_list,
        port=config.port,
        protocol_version=config.protocol_version or DEFAULT_PROTOCOL_VERSION,
        **common,
    )


def _forget_at_exit(cluster: Cluster) -> None:
    """Take ``cluster`` off the driver's list of clusters to shut down at exit (the driver's
    own call for a cluster that is shut down; private, hence the guard)."""
    discard = getattr(cassandra_cluster, "_discard_cluster_shutdown", None)
    if discard is not None:
        discard(cluster)


HANDSHAKE_ATTEMPTS = 3
"""How many times :func:`connect` tries when every contact point's handshake was garbled."""


def _garbled(exc: BaseException) -> bool:
    """Whether a failed connect failed only on v5 frames that did not check out.

    Now and then the driver reads the first checksummed segment of a new connection at the
    wrong offset (a frame header taken for a segment header: "CRC mismatch on header"; seen in
    our CI and in medusa's issue 583). The connection is dropped and nothing was sent on it,
    so a new attempt is safe; any other failure is reported at once.
    """
    if not isinstance(exc, NoHostAvailable) or not isinstance(exc.errors, dict) or not exc.errors:
        return False  # (the driver also raises it with a list of errors, or none)
    return all(
        isinstance(error, CrcMismatchException)
        or (isinstance(error, ConnectionShutdown) and str(error).startswith("CRC mismatch"))
        for error in exc.errors.values()
    )


async def connect(
    config: CassandraConfig,
    profiles: Mapping[object, ExecutionProfile],
    *,
    connect_timeout: float | None = None,
    **driver_options: Any,
) -> tuple[Cluster, Session]:
    """Build and connect a cluster off the event loop (no keyspace). A failure is a
    :class:`~persistence_cassandra.errors.PersistenceError` naming the host and the reason."""
    try:
        cluster = await asyncio.to_thread(
            build_cluster, config, profiles, connect_timeout=connect_timeout, **driver_options
        )
    except cassandra.UnresolvableContactPoints as exc:
        raise connect_failure(exc, config) from exc
    except (OSError, ValueError, ssl.SSLError) as exc:
        # Unreadable TLS files, unresolvable whitelisted hosts, a bad bundle path...
        raise ConfigError(f"cassandra: cannot set up the connection: {exc}") from exc
    datacenters: set[str] = set()
    abandoned = threading.Event()

    def blocking_connect() -> Session:
        nonlocal cluster
        for attempt in range(1, HANDSHAKE_ATTEMPTS + 1):
            try:
                session = cluster.connect()
                break
            except BaseException as exc:
                # What the control connection learnt, for a data center name that is wrong.
                datacenters.update(
                    host.datacenter for host in cluster.metadata.all_hosts() if host.datacenter
                )
                cluster.shutdown()
                if attempt == HANDSHAKE_ATTEMPTS or abandoned.is_set() or not _garbled(exc):
                    raise
            # A shut-down cluster cannot connect again: the next attempt takes a new one.
            cluster = build_cluster(
                config, profiles, connect_timeout=connect_timeout, **driver_options
            )
        if abandoned.is_set():  # the caller was cancelled meanwhile: nobody will close it
            cluster.shutdown()
        return session

    try:
        session = await asyncio.to_thread(blocking_connect)
    except asyncio.CancelledError:
        # The connect goes on in its thread until its timeout, holding the cluster's lock;
        # the driver's exit hook would wait for it to shut the cluster down, so that a
        # Ctrl-C during a connect to a silent host took the whole connect timeout to exit.
        abandoned.set()
        _forget_at_exit(cluster)
        raise
    except (NoHostAvailable, cassandra.UnresolvableContactPoints) as exc:
        raise connect_failure(exc, config, datacenters) from exc
    except errors.PersistenceError:
        raise
    except Exception as exc:
        raise translate_error(exc, is_write=False) from exc
    return cluster, session
