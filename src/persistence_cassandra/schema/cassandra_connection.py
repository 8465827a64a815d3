"""Connecting to Cassandra or Astra DB for the schema tool, and running requests on asyncio.

Every request of the schema admins goes through :class:`CassandraRequests`, on an execution
profile of our own: LOCAL_QUORUM writes and LOCAL_SERIAL lightweight transactions (Astra DB
rejects ONE/ANY writes, and a weaker write could let two runs both believe they hold the
lock), rows as dicts. A secure connect bundle means Astra DB: protocol v4, user name
``token``.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import tempfile
from collections.abc import Sequence
from typing import Any

from cassandra import ConsistencyLevel, OperationTimedOut, WriteTimeout
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, WhiteListRoundRobinPolicy
from cassandra.query import BatchStatement, SimpleStatement, dict_factory

from persistence_cassandra.config import CassandraConfig, TLSConfig
from persistence_cassandra.errors import SchemaToolError

__all__ = [
    "PROFILE",
    "CassandraRequests",
    "SchemaAgreementTimeout",
    "build_cluster",
    "cassandra_health",
    "connect_cluster",
    "describe_driver_error",
    "describe_endpoint",
    "ensure_profile",
    "quote_name",
]

PROFILE = "persistence-cassandra-schema"
_SERVER_MESSAGE = re.compile(r'message="(.*)"', re.DOTALL)


def quote_name(name: str) -> str:
    """A CQL identifier, quoted (case kept)."""
    return '"' + name.replace('"', '""') + '"'


class SchemaAgreementTimeout(SchemaToolError):
    """A schema change was applied but the nodes did not agree on the schema in time."""


def describe_driver_error(exc: BaseException) -> str:
    """One line for a cassandra-driver exception."""
    if isinstance(exc, NoHostAvailable):
        errors = getattr(exc, "errors", None)
        if isinstance(errors, dict) and errors:
            host, error = next(iter(errors.items()))
            return f"no host available ({host}: {describe_driver_error(error)})"
        reason = str(exc.args[0]) if exc.args else ""
        return f"no host available ({reason})" if reason else "no host available"
    if isinstance(exc, WriteTimeout):
        write_type = getattr(exc, "write_type", None)
        return f"write timed out (write type {write_type}); the outcome is unknown"
    if isinstance(exc, OperationTimedOut):
        return "the request timed out; the outcome is unknown"
    text = str(exc).strip()
    match = _SERVER_MESSAGE.search(text)
    if match:
        return match.group(1)
    return text.splitlines()[0] if text else type(exc).__name__


def _ssl_context(tls: TLSConfig) -> tuple[ssl.SSLContext, dict[str, Any]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if tls.ca_file:
            context.load_verify_locations(cafile=tls.ca_file)
        elif tls.ca_data is not None:
            context.load_verify_locations(cadata=tls.ca_data.get_secret_value())
        else:
            context.load_default_certs()
        if tls.cert_file and tls.key_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        elif tls.cert_data is not None and tls.key_data is not None:
            with tempfile.TemporaryDirectory() as directory:
                cert, key = os.path.join(directory, "cert"), os.path.join(directory, "key")
                for path, data in ((cert, tls.cert_data), (key, tls.key_data)):
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                        handle.write(data.get_secret_value())
                context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SchemaToolError(f"TLS: cannot load certificates: {exc}") from None
    if not tls.enable_host_verification:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    options = {"server_hostname": tls.server_name} if tls.server_name else {}
    return context, options


def _profile(config: CassandraConfig, timeout: float) -> ExecutionProfile:
    consistency = config.consistency.default
    if config.disable_initial_host_lookup and config.astra is None:
        policy: Any = WhiteListRoundRobinPolicy(config.host_list)
    else:
        policy = DCAwareRoundRobinPolicy(local_dc=config.datacenter)
    return ExecutionProfile(
        load_balancing_policy=policy,
        consistency_level=ConsistencyLevel.name_to_value[consistency.consistency],
        serial_consistency_level=ConsistencyLevel.name_to_value[consistency.serial_consistency],
        request_timeout=timeout,
        row_factory=dict_factory,
    )


def build_cluster(config: CassandraConfig, *, timeout: float) -> Cluster:
    """A driver ``Cluster`` for ``config`` (not yet connected)."""
    kwargs: dict[str, Any] = {
        "execution_profiles": {
            EXEC_PROFILE_DEFAULT: _profile(config, timeout),
            PROFILE: _profile(config, timeout),
        },
        "connect_timeout": timeout,
        "control_connection_timeout": timeout,
        "max_schema_agreement_wait": timeout,
    }
    if config.astra is not None:
        kwargs["cloud"] = {
            "secure_connect_bundle": config.astra.secure_connect_bundle,
            "connect_timeout": timeout,
        }
        kwargs["auth_provider"] = PlainTextAuthProvider(
            "token", config.astra.token.get_secret_value()
        )
        kwargs["protocol_version"] = 4
    else:
        kwargs["contact_points"] = config.host_list
        kwargs["port"] = config.port
        if config.user:
            password = config.password.get_secret_value() if config.password else ""
            kwargs["auth_provider"] = PlainTextAuthProvider(config.user, password)
        if config.tls.enabled:
            kwargs["ssl_context"], options = _ssl_context(config.tls)
            if options:
                kwargs["ssl_options"] = options
        if config.protocol_version:
            kwargs["protocol_version"] = config.protocol_version
    return Cluster(**kwargs)


def describe_endpoint(config: CassandraConfig) -> str:
    if config.astra is not None:
        return f"Astra DB ({os.path.basename(config.astra.secure_connect_bundle)})"
    return f"{config.hosts}:{config.port}"


async def connect_cluster(
    config: CassandraConfig, request_timeout: float
) -> tuple[Cluster, Session]:
    try:
        cluster = build_cluster(config, timeout=request_timeout)
    except (ValueError, OSError) as exc:
        raise SchemaToolError(f"invalid Cassandra connection settings: {exc}") from None
    try:
        session = await asyncio.to_thread(cluster.connect)
    except Exception as exc:
        await asyncio.to_thread(cluster.shutdown)
        hint = ""
        # The driver lists hosts without errors when the load balancing policy excluded them.
        if config.datacenter and isinstance(exc, NoHostAvailable) and isinstance(exc.errors, list):
            hint = f"; is there a node in datacenter '{config.datacenter}' (--dc)?"
        where = describe_endpoint(config)
        raise SchemaToolError(
            f"cannot connect to Cassandra at {where}: {describe_driver_error(exc)}{hint}"
        ) from None
    return cluster, session


class CassandraRequests:
    """asyncio over one driver session: every call goes through :meth:`run`."""

    def __init__(self, session: Session, timeout: float) -> None:
        self.session = session
        self.timeout = timeout

    async def run(
        self, query: str | SimpleStatement | BatchStatement, params: Sequence[Any] | None = None
    ) -> tuple[list[dict[str, Any]], ResponseFuture]:
        if isinstance(query, str):
            # fetch_size=None: bookkeeping and catalog results are small; no paging.
            query = SimpleStatement(query, fetch_size=None)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[dict[str, Any]]] = loop.create_future()

        def settle(result: Any, failed: bool) -> None:
            # done() and not just cancelled(): the driver can call back twice for one request
            # (seen on a loaded cluster: an errback for a heartbeat-defunct connection, then
            # the request's own timeout).
            if done.done():
                return
            if failed:
                done.set_exception(result)
            else:
                done.set_result(list(result or []))

        try:
            response = self.session.execute_async(
                query, params, timeout=self.timeout, execution_profile=PROFILE
            )
        except Exception as exc:
            raise SchemaToolError(describe_driver_error(exc)) from exc
        response.add_callbacks(
            lambda rows: loop.call_soon_threadsafe(settle, rows, False),
            errback=lambda exc: loop.call_soon_threadsafe(settle, exc, True),
        )
        try:
            rows = await done
        except Exception as exc:
            error = SchemaToolError(describe_driver_error(exc))
            error.__cause__ = exc
            raise error from exc
        return rows, response

    async def wait_for_agreement(self, after: str) -> None:
        cluster = self.session.cluster
        agreed = await asyncio.to_thread(
            cluster.control_connection.wait_for_schema_agreement, wait_time=self.timeout
        )
        if not agreed:
            raise SchemaAgreementTimeout(
                f"the schema change was applied but the nodes did not agree on the schema "
                f"within {self.timeout:.0f}s (after: {after}); check `nodetool describecluster`, "
                "then re-run to continue"
            )


def ensure_profile(session: Session, timeout: float) -> None:
    """Give the session's cluster our execution profile (LOCAL_QUORUM / LOCAL_SERIAL, rows as
    dicts), so that a session owned by another component can be used as is."""
    cluster = session.cluster
    if PROFILE in cluster.profile_manager.profiles:
        return
    profile = ExecutionProfile(
        load_balancing_policy=cluster.profile_manager.default.load_balancing_policy,
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        request_timeout=timeout,
        row_factory=dict_factory,
    )
    try:
        cluster.add_execution_profile(PROFILE, profile)
    except ValueError as exc:
        # A Cluster built with legacy keyword settings (no execution profiles) refuses.
        raise SchemaToolError(
            f"the Cassandra session cannot take the schema tool's execution profile ({exc}); "
            "build its Cluster with execution_profiles"
        ) from None


async def cassandra_health(config: CassandraConfig, *, request_timeout: float = 30.0) -> str:
    """Open a session (no keyspace) and describe the node that answers."""
    cluster, session = await connect_cluster(config, request_timeout)
    try:
        ensure_profile(session, request_timeout)
        rows, _ = await CassandraRequests(session, request_timeout).run(
            "SELECT release_version, data_center FROM system.local"
        )
        row = rows[0] if rows else {}
        return (
            f"Cassandra {row.get('release_version', '?')} (datacenter "
            f"{row.get('data_center', '?')}) at {describe_endpoint(config)}"
        )
    finally:
        await asyncio.to_thread(cluster.shutdown)
