"""One shared driver session per store bundle, bridged to asyncio.

Everything the stores send goes through :class:`CassandraSession`, which keeps four promises:

* **The event loop never blocks on the network.** Requests use the driver's
  ``execute_async``; its ``ResponseFuture`` callbacks (run on the driver's I/O thread) complete
  an ``asyncio.Future`` through ``loop.call_soon_threadsafe``. The few blocking driver calls
  (connect, prepare, ``USE``, shutdown) run in the default executor.
* **Each statement is prepared once per session** and cached by its CQL text.
* **Consistency comes from one configurable pair**: ``LOCAL_QUORUM`` for reads and writes and
  ``LOCAL_SERIAL`` for the Paxos phase by default, from ``consistency.default``.
* **Writes are never retried by the driver.** A retried lightweight transaction whose first
  attempt did apply would fail its condition against its own write and be reported as a clean
  conflict. The driver's retry policy therefore only runs for reads; a failed write reaches
  :func:`~persistence_cassandra.backends.cassandra.errors.translate_error`, which decides
  between ``Unavailable`` (not applied) and ``Timeout(may_have_committed=True)``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import cassandra
import cassandra.cluster as cassandra_cluster
from cassandra import ConsistencyLevel, ProtocolVersion
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.policies import (
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    FallthroughRetryPolicy,
    LoadBalancingPolicy,
    ReconnectionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra.query import (
    BatchStatement,
    BatchType,
    PreparedStatement,
    SimpleStatement,
    Statement,
    dict_factory,
    tuple_factory,
)
from pydantic import SecretStr

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.connect_errors import connect_failure
from persistence_cassandra.backends.cassandra.errors import translate_error
from persistence_cassandra.config import CassandraConfig, ReconnectConfig, TLSConfig
from persistence_cassandra.errors import ConfigError

__all__ = [
    "READ_PROFILE",
    "WRITE_PROFILE",
    "CassandraSession",
    "QueryResult",
    "Row",
    "StatementSpec",
    "TupleResult",
    "build_cluster",
    "reconnection_policy",
    "ssl_context_for",
]

log = logging.getLogger(__name__)

Row = dict[str, Any]
StatementSpec = tuple[str, Sequence[object]]
"""A CQL text (prepared on first use) and the values bound to its ``?`` markers."""

T = TypeVar("T")

READ_PROFILE = "persistence-read"
READ_TUPLES_PROFILE = "persistence-read-tuples"
"""Reads whose rows come back as tuples: for pages of many rows, where building a dict per
row cost as much as decoding it."""
WRITE_PROFILE = "persistence-write"
SCHEMA_PROFILE = "persistence-schema"

DEFAULT_PROTOCOL_VERSION = 5
"""Cassandra 4.0+ speaks v5; pinning it avoids the driver's noisy downgrade negotiation."""
ASTRA_PROTOCOL_VERSION = 4
SCHEMA_TIMEOUT_SECONDS = 60.0
"""DDL waits for schema agreement, which is far slower than a data request."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The rows of one page (as dicts) and the driver's paging state for the next one."""

    rows: list[Row]
    paging_state: bytes | None = None

    @property
    def applied(self) -> bool:
        """For a conditional statement or batch: whether it was applied."""
        return bool(self.rows and self.rows[0].get("[applied]", False))

    @property
    def next_page_token(self) -> bytes:
        return self.paging_state or b""

    def first(self) -> Row | None:
        return self.rows[0] if self.rows else None


@dataclass(frozen=True, slots=True)
class TupleResult:
    """The rows of one page as tuples, in the order of the SELECT's columns."""

    rows: list[tuple[Any, ...]]
    paging_state: bytes | None = None

    @property
    def next_page_token(self) -> bytes:
        return self.paging_state or b""


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


def _profile(
    config: CassandraConfig,
    retry_policy: RetryPolicy,
    timeout: float,
    row_factory: Callable[[list[str], list[tuple[Any, ...]]], Any] = dict_factory,
) -> ExecutionProfile:
    consistency = config.consistency.default
    return ExecutionProfile(
        load_balancing_policy=_load_balancing(config),
        retry_policy=retry_policy,
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


def build_cluster(config: CassandraConfig) -> Cluster:
    """The driver ``Cluster`` for ``config`` (not connected yet). Blocking: may resolve names."""
    profiles = {
        READ_PROFILE: _profile(config, RetryPolicy(), config.timeout),
        READ_TUPLES_PROFILE: _profile(config, RetryPolicy(), config.timeout, tuple_factory),
        WRITE_PROFILE: _profile(config, FallthroughRetryPolicy(), config.timeout),
        SCHEMA_PROFILE: _profile(
            config, FallthroughRetryPolicy(), max(config.timeout, SCHEMA_TIMEOUT_SECONDS)
        ),
    }
    # The default profile only serves the driver's own statements (``USE`` on every
    # connection); a deliberately tiny request timeout must not break those.
    profiles[EXEC_PROFILE_DEFAULT] = _profile(
        config, RetryPolicy(), max(config.timeout, config.connect_timeout)
    )
    common: dict[str, Any] = {
        "execution_profiles": profiles,
        "connect_timeout": config.connect_timeout,
        "control_connection_timeout": config.connect_timeout,
        # Host pools and the control connection both follow it. The heartbeat and the
        # schema/topology event windows play no part in how soon a restarted node is used
        # again (measured, docs/cluster.md): a killed node's sockets close at once.
        "reconnection_policy": reconnection_policy(config.reconnect),
    }
    if config.astra is not None:
        return Cluster(
            cloud={
                "secure_connect_bundle": config.astra.secure_connect_bundle,
                "connect_timeout": config.connect_timeout,
            },
            auth_provider=PlainTextAuthProvider("token", config.astra.token.get_secret_value()),
            protocol_version=config.protocol_version or ASTRA_PROTOCOL_VERSION,
            **common,
        )
    if config.user is not None:
        password = config.password.get_secret_value() if config.password else ""
        common["auth_provider"] = PlainTextAuthProvider(config.user, password)
    context = ssl_context_for(config.tls)
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


def _settle(waiter: asyncio.Future[T], value: T | None, error: BaseException | None) -> None:
    if waiter.done():  # the awaiting task was cancelled
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(value)  # type: ignore[arg-type]


# Both run on the driver's I/O thread; the loop may already be closed at interpreter exit.
def _deliver_rows(
    rows: list[Any] | None,
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[list[Any] | None],
) -> None:
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, waiter, rows, None)


def _deliver_error(
    error: BaseException,
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[list[Any] | None],
) -> None:
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, waiter, None, error)


def _release(response: ResponseFuture) -> None:
    """Break the reference cycle between a finished response and its request timer.

    The driver's ``ResponseFuture`` keeps its timer in ``_timer`` and the timer holds the
    future's bound ``_on_timeout``: a cycle, so every response, with its rows, its statement
    and its callbacks (about 30 objects, 50 for a 20-row page), waits for the cyclic garbage
    collector instead of being freed when the last reference goes. At thousands of requests
    a second the collections that frees them cost more than the rest of our layer. The timer
    is cancelled by the time the response is final and no retry or speculative execution
    follows, so the future never reads ``_timer`` again.
    """
    response._timer = None


class CassandraSession:
    """The driver session shared by every store of a bundle."""

    def __init__(self, cluster: Cluster, session: Session, *, target: str) -> None:
        self._cluster = cluster
        self._session = session
        self._prepared: dict[str, PreparedStatement] = {}
        self._preparing: dict[str, asyncio.Future[PreparedStatement]] = {}
        self._target = target
        self.keyspace: str | None = None

    @classmethod
    async def connect(cls, config: CassandraConfig) -> CassandraSession:
        """Connect to the cluster (no keyspace yet; see :meth:`use_keyspace`)."""
        try:
            cluster = await _in_thread(lambda: build_cluster(config))
        except cassandra.UnresolvableContactPoints as exc:
            raise connect_failure(exc, config) from exc
        except (OSError, ValueError, ssl.SSLError) as exc:
            # Unreadable TLS files, unresolvable whitelisted hosts, a bad bundle path...
            raise ConfigError(f"cassandra: cannot set up the connection: {exc}") from exc
        datacenters: set[str] = set()
        abandoned = threading.Event()

        def blocking_connect() -> Session:
            try:
                session = cluster.connect()
            except BaseException:
                # What the control connection learnt, for a data center name that is wrong.
                datacenters.update(
                    host.datacenter for host in cluster.metadata.all_hosts() if host.datacenter
                )
                cluster.shutdown()
                raise
            if abandoned.is_set():  # the caller was cancelled meanwhile: nobody will close it
                cluster.shutdown()
            return session

        try:
            session = await _in_thread(blocking_connect)
        except asyncio.CancelledError:
            # The connect goes on in its thread until its timeout, holding the cluster's lock;
            # the driver's exit hook would wait for it to shut the cluster down, so that a
            # Ctrl-C during a connect to a silent host took the whole connect timeout to exit.
            abandoned.set()
            _forget_at_exit(cluster)
            raise
        except (NoHostAvailable, cassandra.UnresolvableContactPoints) as exc:
            raise connect_failure(exc, config, datacenters) from exc
        except Exception as exc:
            raise translate_error(exc, is_write=False) from exc
        if config.astra is not None:
            target = f"Astra DB ({os.path.basename(config.astra.secure_connect_bundle)})"
        else:
            target = f"{config.hosts}:{config.port}"
        return cls(cluster, session, target=target)

    @property
    def description(self) -> str:
        """Hosts (or Astra bundle) and keyspace; never credentials."""
        keyspace = f" keyspace {self.keyspace}" if self.keyspace else ""
        return f"cassandra {self._target}{keyspace}"

    @property
    def protocol_version(self) -> int:
        version: int = self._cluster.protocol_version
        return version

    @property
    def _per_statement_keyspace(self) -> bool:
        # Protocol v5 names the keyspace in each PREPARE/QUERY; Cassandra 5 warns about `USE`
        # combined with prepared statements. Protocol v4 (Astra DB) has only `USE`.
        uses_flag: bool = ProtocolVersion.uses_keyspace_flag(self.protocol_version)
        return uses_flag

    async def use_keyspace(self, keyspace: str) -> None:
        """Make ``keyspace`` the keyspace of the stores' (unqualified) CQL."""
        if not self._per_statement_keyspace:
            try:
                await _in_thread(lambda: self._session.set_keyspace(keyspace))
            except Exception as exc:
                raise translate_error(exc, is_write=False) from exc
        self.keyspace = keyspace
        self._prepared.clear()  # prepared for the previous keyspace

    async def prepare(self, cql: str) -> PreparedStatement:
        """The prepared statement for ``cql``, prepared on first use only."""
        prepared = self._prepared.get(cql)
        if prepared is not None:
            return prepared
        pending = self._preparing.get(cql)
        if pending is None:
            pending = asyncio.ensure_future(self._prepare_once(cql))
            self._preparing[cql] = pending
        return await asyncio.shield(pending)

    async def _prepare_once(self, cql: str) -> PreparedStatement:
        try:
            keyspace = self.keyspace if self._per_statement_keyspace else None
            prepared: PreparedStatement = await _in_thread(
                lambda: self._session.prepare(cql, keyspace=keyspace)
            )
        except Exception as exc:
            raise translate_error(exc, is_write=False) from exc
        finally:
            self._preparing.pop(cql, None)
        self._prepared[cql] = prepared
        return prepared

    async def read(
        self,
        cql: str,
        params: Sequence[object] = (),
        *,
        page_size: int | None = None,
        paging_state: bytes | None = None,
    ) -> QueryResult:
        """One page of a query (all rows when ``page_size`` is None and results are small)."""
        prepared = self._prepared.get(cql) or await self.prepare(cql)
        rows, state = await self._page(READ_PROFILE, prepared, cql, params, page_size, paging_state)
        return QueryResult(rows, state)

    async def read_tuples(
        self,
        cql: str,
        params: Sequence[object] = (),
        *,
        page_size: int | None = None,
        paging_state: bytes | None = None,
    ) -> TupleResult:
        """:meth:`read`, with each row a tuple of the SELECT's columns, in order."""
        prepared = self._prepared.get(cql) or await self.prepare(cql)
        rows, state = await self._page(
            READ_TUPLES_PROFILE, prepared, cql, params, page_size, paging_state
        )
        return TupleResult(rows, state)

    def _page(
        self,
        profile: str,
        prepared: PreparedStatement,
        cql: str,
        params: Sequence[object],
        page_size: int | None,
        paging_state: bytes | None,
    ) -> Coroutine[Any, Any, tuple[list[Any], bytes | None]]:
        # A plain method handing back _execute's coroutine: the statement is looked up (and
        # ``prepare`` awaited, on a miss only) by the caller, so a read costs no coroutine of
        # its own beyond the one the store awaits.
        return self._execute(
            _read_statement(prepared, cql, params, page_size),
            profile=profile,
            is_write=False,
            paging_state=paging_state or None,
        )

    async def write(self, cql: str, params: Sequence[object] = ()) -> QueryResult:
        """One write; for a conditional statement check :attr:`QueryResult.applied`."""
        prepared = self._prepared.get(cql) or await self.prepare(cql)
        statement = _bound(prepared, cql, params)
        rows, _ = await self._execute(statement, profile=WRITE_PROFILE, is_write=True)
        return QueryResult(rows)

    async def write_batch(self, statements: Sequence[StatementSpec]) -> QueryResult:
        """One logged batch; conditional when any statement has an ``IF``."""
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for cql, params in statements:
            prepared = self._prepared.get(cql) or await self.prepare(cql)
            batch.add(_bound(prepared, cql, params))
        rows, _ = await self._execute(batch, profile=WRITE_PROFILE, is_write=True)
        return QueryResult(rows)

    async def execute_schema(self, cql: str) -> None:
        """A DDL statement, unprepared; returns once the cluster agrees on the schema."""
        keyspace = self.keyspace if self._per_statement_keyspace else None
        await self._execute(
            SimpleStatement(cql, keyspace=keyspace), profile=SCHEMA_PROFILE, is_write=True
        )

    async def _execute(
        self,
        statement: Statement,
        *,
        profile: str,
        is_write: bool,
        paging_state: bytes | None = None,
    ) -> tuple[list[Any], bytes | None]:
        """The rows (as the profile's row factory made them) and the next page's state."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[Any] | None] = loop.create_future()
        try:
            response: ResponseFuture = self._session.execute_async(
                statement, execution_profile=profile, paging_state=paging_state
            )
        except Exception as exc:
            raise translate_error(exc, is_write=is_write) from exc
        # Module-level callbacks with the waiter as an argument: no closure per request, and
        # nothing that refers back to the response (which holds its callbacks).
        arguments = (loop, waiter)
        response.add_callbacks(
            _deliver_rows, _deliver_error, callback_args=arguments, errback_args=arguments
        )
        try:
            rows = await waiter
        except Exception as exc:
            _release(response)
            raise translate_error(exc, is_write=is_write) from exc
        _release(response)
        # The rows the driver handed over, and the paging state it keeps on the response (the
        # public ResultSet would wrap and copy them first).
        return (rows if rows is not None else []), response._paging_state

    async def close(self) -> None:
        """Shut the cluster connection down (idempotent)."""
        if not self._cluster.is_shutdown:
            await _in_thread(self._cluster.shutdown)


def _read_statement(
    prepared: PreparedStatement, cql: str, params: Sequence[object], page_size: int | None
) -> Statement:
    statement = _bound(prepared, cql, params)
    statement.is_idempotent = True
    if page_size is not None:
        if page_size <= 0:
            raise errors.InvalidRequest(f"page size must be positive (got {page_size})")
        statement.fetch_size = page_size
    return statement


def _bound(prepared: PreparedStatement, cql: str, params: Sequence[object]) -> Statement:
    try:
        return prepared.bind(params)
    except (TypeError, ValueError, OverflowError) as exc:
        raise errors.InvalidRequest(f"cannot bind values to {cql!r}: {exc}") from exc


async def _in_thread(call: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, call)
