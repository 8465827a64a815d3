"""Lightweight transactions whose outcome is unknown surface as ``Timeout(may_have_committed=
True)``, never as success or as a clean conflict: a tiny client request timeout, and a node
paused with SIGSTOP while the request is in flight (it then applies the write after the client
gave up).

A server-side CAS timeout (``WriteTimeout`` with write type CAS, or error 0x1700 on protocol
v5) could not be provoked reliably on one node: a few hundred concurrent LWTs on one partition
queue up on the node's threads instead of timing out. Its translation is covered by
``test_cassandra_errors.py`` with the driver's own exception objects."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import cassandra
import pytest
from cassandra_test_support import Endpoint, create_run, make_config, new_shard, update_request

from persistence_cassandra import errors
from persistence_cassandra.bench.local_node import listening_pid
from persistence_cassandra.factory import OpenOptions, open_store_bundle
from persistence_cassandra.records import DataBlob
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import execution_key


async def _open(endpoint: Endpoint, keyspace: str, request_timeout: float) -> StoreBundle:
    return await open_store_bundle(
        make_config(endpoint, keyspace, timeout=request_timeout),
        options=OpenOptions(verify_schema=False),
    )


@pytest.fixture
async def hasty(cassandra_endpoint: Endpoint, keyspace: str) -> AsyncIterator[StoreBundle]:
    """A bundle whose requests time out in the client after 0.1 ms."""
    opened = await _open(cassandra_endpoint, keyspace, request_timeout=0.0001)
    yield opened
    await opened.close()


async def test_a_client_side_timeout_of_an_lwt_may_have_committed(
    bundle: StoreBundle, hasty: StoreBundle
) -> None:
    shard = await new_shard(bundle)
    key = execution_key()
    await create_run(bundle, shard, 1, key)
    # The event loop serves the sockets: a response that is already there when the loop wakes
    # is read before the due timer runs, so on a loaded machine an update can beat even a
    # 0.1 ms timeout. Each such success moves the version on; the first timeout is the case.
    version, caught = 2, None
    for _ in range(20):
        try:
            await hasty.execution.update_workflow_execution(update_request(shard, 1, key, version))
        except errors.Timeout as timeout:
            caught = timeout
            break
        version += 1
    assert caught is not None, "20 updates in a row beat a 0.1 ms client timeout"
    assert caught.may_have_committed is True
    assert isinstance(caught.__cause__, cassandra.OperationTimedOut)

    # What the owner does next: take a new lease (the fence settles any in-flight write) and
    # re-read. The write may or may not have applied; after the fence it can no longer change.
    await bundle.shard.update_shard(shard, 2, DataBlob(b"re-acquired"), 1)
    settled = await bundle.execution.get_workflow_execution(shard, key)
    assert settled.db_record_version in (version - 1, version)
    await asyncio.sleep(0.3)
    assert (await bundle.execution.get_workflow_execution(shard, key)) == settled


def _listening_pid(endpoint: Endpoint) -> int:
    """The local process listening on ``endpoint``. By address and port: the test cluster's
    nodes listen on ``127.0.2.N`` with the same CQL port, and pausing one of them would leave
    this node running."""
    pid = listening_pid(*endpoint)
    if pid is None:
        pytest.fail(f"no local process listens on {endpoint}: this test pauses a local node")
    return pid


async def test_an_lwt_in_flight_while_the_node_is_paused_may_have_committed(
    cassandra_endpoint: Endpoint, keyspace: str, bundle: StoreBundle
) -> None:
    pid = _listening_pid(cassandra_endpoint)
    slow = await _open(cassandra_endpoint, keyspace, request_timeout=0.5)
    try:
        shard = await new_shard(bundle)
        key = execution_key()
        await create_run(bundle, shard, 1, key)
        await slow.execution.update_workflow_execution(update_request(shard, 1, key, 2))
        # Paused for ~1.2 s only: the node is shared, and other clients wait 10 s by default.
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(errors.Timeout) as caught:
                await slow.execution.update_workflow_execution(update_request(shard, 1, key, 3))
            # A read that times out changed nothing, and says so.
            with pytest.raises(errors.Timeout) as read_timeout:
                await slow.execution.get_workflow_execution(shard, key)
            await asyncio.sleep(0.2)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert caught.value.may_have_committed is True
        assert read_timeout.value.may_have_committed is False
    finally:
        await slow.close()
    # The request was already sent: once the node resumes it is typically applied, after
    # the client gave up on it. That is exactly why the outcome was reported as unknown.
    await bundle.shard.update_shard(shard, 2, DataBlob(b"re-acquired"), 1)
    settled = await bundle.execution.get_workflow_execution(shard, key)
    assert settled.db_record_version in (2, 3)
    print(f"paused write applied after the timeout: {settled.db_record_version == 3}")
