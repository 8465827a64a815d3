"""The shared session: driver configuration from the ``cassandra:`` block (routing, auth, TLS,
protocol, consistency), statements prepared once, and the event loop never blocked."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import ssl
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import ResponseFuture
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    FallthroughRetryPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra_test_support import Endpoint, make_config

from persistence_cassandra.backends.cassandra.connection import ssl_context_for
from persistence_cassandra.backends.cassandra.history_store import INSERT_NODE, READ_NODES
from persistence_cassandra.backends.cassandra.session import (
    READ_PROFILE,
    WRITE_PROFILE,
    CassandraSession,
    build_cluster,
)
from persistence_cassandra.config import CassandraConfig, TLSConfig
from persistence_cassandra.errors import ConfigError


def _cassandra(**settings: object) -> CassandraConfig:
    config = make_config(("127.0.0.1", 9042), "ks", **settings).cassandra
    assert config is not None
    return config


def test_profiles_carry_the_configured_consistency_pair_and_never_retry_writes() -> None:
    cluster = build_cluster(
        _cassandra(
            consistency={"default": {"consistency": "QUORUM", "serialConsistency": "SERIAL"}},
            timeout=3.5,
        )
    )
    read = cluster.profile_manager.profiles[READ_PROFILE]
    write = cluster.profile_manager.profiles[WRITE_PROFILE]
    for profile in (read, write):
        assert profile.consistency_level == ConsistencyLevel.QUORUM
        assert profile.serial_consistency_level == ConsistencyLevel.SERIAL
        assert profile.request_timeout == 3.5
    assert isinstance(write.retry_policy, FallthroughRetryPolicy)
    assert not isinstance(read.retry_policy, FallthroughRetryPolicy)
    assert cluster.protocol_version == 5


def test_routing_is_token_and_dc_aware_unless_host_lookup_is_disabled() -> None:
    cluster = build_cluster(_cassandra(datacenter="dc-east", hosts="127.0.0.1,127.0.0.2"))
    policy = cluster.profile_manager.profiles[READ_PROFILE].load_balancing_policy
    assert isinstance(policy, TokenAwarePolicy)
    assert isinstance(policy._child_policy, DCAwareRoundRobinPolicy)
    assert policy._child_policy.local_dc == "dc-east"
    assert cluster.contact_points == ["127.0.0.1", "127.0.0.2"]

    pinned = build_cluster(_cassandra(disableInitialHostLookup=True, protocolVersion=4))
    policy = pinned.profile_manager.profiles[READ_PROFILE].load_balancing_policy
    assert isinstance(policy._child_policy, WhiteListRoundRobinPolicy)
    assert pinned.protocol_version == 4


def test_user_and_password_become_a_plain_text_auth_provider() -> None:
    cluster = build_cluster(_cassandra(user="app", password="s3cret"))
    assert isinstance(cluster.auth_provider, PlainTextAuthProvider)
    assert (cluster.auth_provider.username, cluster.auth_provider.password) == ("app", "s3cret")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA and a client certificate it signed (openssl CLI)."""
    root = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key",
            "-out", "client.csr", "-subj", "/CN=client")  # fmt: skip
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.pem", "-days", "1")  # fmt: skip
    return root


def test_tls_from_files_verifies_the_server_and_presents_the_client_certificate(
    pki: Path,
) -> None:
    tls = TLSConfig.model_validate(
        {
            "enabled": True,
            "caFile": str(pki / "ca.pem"),
            "certFile": str(pki / "client.pem"),
            "keyFile": str(pki / "client.key"),
            "serverName": "node.example",
        }
    )
    context = ssl_context_for(tls)
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1
    cluster = build_cluster(_cassandra(tls=tls.model_dump(by_alias=True)))
    assert cluster.ssl_context is not None
    assert cluster.ssl_options == {"server_hostname": "node.example"}


def test_tls_inline_data_may_be_pem_or_base64_and_leaves_no_files_behind(pki: Path) -> None:
    before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    pem = (pki / "client.pem").read_text()
    tls = TLSConfig.model_validate(
        {
            "enabled": True,
            "caData": base64.b64encode((pki / "ca.pem").read_bytes()).decode(),
            "certData": pem,
            "keyData": base64.b64encode((pki / "client.key").read_bytes()).decode(),
        }
    )
    context = ssl_context_for(tls)
    assert context is not None and len(context.get_ca_certs()) == 1
    after = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    assert not {name for name in after - before if name.startswith("pc-tls-")}
    with pytest.raises(ConfigError, match="neither PEM nor base64"):
        ssl_context_for(TLSConfig.model_validate({"enabled": True, "caData": "not a cert!"}))


def test_disabling_host_verification_skips_certificate_checks() -> None:
    context = ssl_context_for(
        TLSConfig.model_validate({"enabled": True, "enableHostVerification": False})
    )
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert ssl_context_for(TLSConfig()) is None


async def test_an_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    config = _cassandra(tls={"enabled": True, "caFile": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match=r"cassandra\.tls: cannot load certificates"):
        await CassandraSession.connect(config)


async def test_each_statement_is_prepared_once_even_when_first_used_concurrently(
    raw_session: CassandraSession,
) -> None:
    cql = "SELECT range_id FROM executions WHERE shard_id = ? AND type = 0 LIMIT 1"
    results = await asyncio.gather(*(raw_session.prepare(cql) for _ in range(20)))
    assert all(prepared is results[0] for prepared in results)
    assert await raw_session.prepare(cql) is results[0]


async def _longest_wait_off_the_cpu(start: Callable[[], Awaitable[object]]) -> float:
    """The longest time the loop's thread spent neither running the loop nor on the CPU
    while the work ``start`` begins ran: blocked in a wait (a gap between ticks, less the
    thread's CPU time in it). A burst of real work on the loop (300 requests encoded at
    once, slow on a loaded machine) is CPU time, so it does not count; a blocking call does.
    The work is started once the ticker runs, so that its first steps fall between two
    ticks."""
    stop = asyncio.Event()
    waits: list[float] = []

    async def ticker() -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now_wall, now_cpu = time.perf_counter(), time.thread_time()
            waits.append((now_wall - wall) - (now_cpu - cpu))
            wall, cpu = now_wall, now_cpu

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await start()
    stop.set()
    await ticking
    assert waits, "the loop never ran while requests were in flight"
    return max(waits)


def _reads(session: CassandraSession, count: int) -> Callable[[], Awaitable[object]]:
    def start() -> Awaitable[object]:
        return asyncio.gather(
            *(session.read("SELECT release_version FROM system.local") for _ in range(count))
        )

    return start


async def test_the_event_loop_keeps_running_while_requests_are_in_flight(
    raw_session: CassandraSession,
) -> None:
    waited = await _longest_wait_off_the_cpu(_reads(raw_session, 300))
    assert waited < 0.25, f"the event loop was blocked for {waited:.3f}s"


async def test_a_blocking_wait_on_the_loop_is_caught(
    raw_session: CassandraSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: each read planted with a 2 ms blocking wait, as a driver
    call waiting for its response on the loop's thread would be."""
    read = raw_session.read

    async def blocking_read(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.002)  # noqa: ASYNC251  # the blocking wait is the planted bug
        return await read(*args, **kwargs)

    monkeypatch.setattr(raw_session, "read", blocking_read)
    assert await _longest_wait_off_the_cpu(_reads(raw_session, 300)) >= 0.25


async def test_paging_hands_back_the_driver_state_as_an_opaque_token(
    cassandra_endpoint: Endpoint, raw_session: CassandraSession
) -> None:
    page = await raw_session.read("SELECT keyspace_name FROM system_schema.keyspaces", page_size=2)
    assert len(page.rows) == 2 and page.next_page_token
    rest = await raw_session.read(
        "SELECT keyspace_name FROM system_schema.keyspaces",
        page_size=1000,
        paging_state=page.next_page_token,
    )
    assert rest.next_page_token == b""
    names = [r["keyspace_name"] for r in page.rows + rest.rows]
    assert len(names) == len(set(names)) and "system" in names


async def test_finished_requests_leave_no_cycles_for_the_garbage_collector(
    raw_session: CassandraSession,
) -> None:
    # The driver's response and its request timer point at each other; left alone, every
    # request (its rows included) would wait for the cyclic collector: about 30 objects each.
    # Only this session's responses are counted: other sessions of the test process (their
    # heartbeats, their control connections) may make garbage of their own meanwhile.
    tree, branch = f"gc-{uuid.uuid4()}", str(uuid.uuid4())
    node = (tree, branch, 1, 1, 0, b"events", "proto3")
    await raw_session.write(INSERT_NODE, node)
    await raw_session.read_tuples(READ_NODES, (tree, branch, 1, 10))
    driver_session = raw_session._session
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(100):
            await raw_session.write(INSERT_NODE, node)
            await raw_session.read_tuples(READ_NODES, (tree, branch, 1, 10))
        gc.collect()
        in_cycles = [
            found
            for found in gc.garbage
            if isinstance(found, ResponseFuture) and found.session is driver_session
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not in_cycles, f"{len(in_cycles)} of 200 responses were left in reference cycles"
