"""The schema tool's Cassandra and Astra DB connection, and its requests on asyncio.

The cluster is built and connected by the stores' own connection module
(:mod:`persistence_cassandra.backends.cassandra.connection`: TLS, auth, the secure connect
bundle, load balancing, reconnection, connect errors naming host and reason), with one
execution profile of the tool's own: the configured consistency pair (LOCAL_QUORUM writes and
LOCAL_SERIAL lightweight transactions by default; Astra DB rejects ONE/ANY writes, and a weaker
write could let two runs both believe they hold the lock), rows as dicts, the tool's timeout.
Every request of the schema admins goes through :class:`CassandraRequests`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.query import BatchStatement, SimpleStatement, dict_factory

from persistence_cassandra.backends.cassandra import connection
from persistence_cassandra.backends.cassandra.errors import describe_driver_error
from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.errors import PersistenceError, SchemaToolError

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
describe_endpoint = connection.describe_endpoint


def quote_name(name: str) -> str:
    """A CQL identifier, quoted (case kept)."""
    return '"' + name.replace('"', '""') + '"'


class SchemaAgreementTimeout(SchemaToolError):
    """A schema change was applied but the nodes did not agree on the schema in time."""


def _profile(config: CassandraConfig, timeout: float) -> ExecutionProfile:
    return connection.execution_profile(config, timeout=timeout)


def build_cluster(config: CassandraConfig, *, timeout: float) -> Cluster:
    """The schema tool's driver ``Cluster`` for ``config`` (not yet connected): the
    connection module's, with one profile of the tool's own."""
    return connection.build_cluster(config, _profiles(config, timeout), **_options(timeout))


def _profiles(config: CassandraConfig, timeout: float) -> dict[object, ExecutionProfile]:
    profile = _profile(config, timeout)
    return {EXEC_PROFILE_DEFAULT: profile, PROFILE: profile}


def _options(timeout: float) -> dict[str, Any]:
    return {"connect_timeout": timeout, "max_schema_agreement_wait": timeout}


async def connect_cluster(
    config: CassandraConfig, request_timeout: float
) -> tuple[Cluster, Session]:
    try:
        return await connection.connect(
            config, _profiles(config, request_timeout), **_options(request_timeout)
        )
    except PersistenceError as exc:
        raise SchemaToolError(str(exc)) from None


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
