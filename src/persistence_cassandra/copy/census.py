"""Counting and checksumming everything a store holds, the way a copy sees it.

A census walks the same reads the copy does (namespaces, cluster metadata, every history tree
row and the node rows it leads to, the shards and their runs, current pointers and history
tasks, task queues and their tasks) and tallies each record with
:mod:`persistence_cassandra.copy.digest`. Taken on both sides after a copy, two censuses that
agree kind by kind show the target reads like the source. Memory stays bounded by the page
size: nothing but the tallies is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from functools import partial
from typing import TypeVar

from persistence_cassandra.copy.digest import (
    Census,
    build_id_mapping_facts,
    cluster_metadata_facts,
    current_facts,
    history_node_facts,
    history_task_facts,
    history_tree_facts,
    namespace_facts,
    nexus_endpoint_facts,
    queue_facts,
    queue_message_facts,
    replication_dlq_facts,
    run_facts,
    search_attribute_facts,
    shard_facts,
    task_facts,
    task_queue_facts,
    task_queue_user_data_facts,
    visibility_facts,
)
from persistence_cassandra.copy.queue_units import cluster_names
from persistence_cassandra.copy.reader import NodeSource, StoreReader, branches_to_read, read_ahead
from persistence_cassandra.copy.units import current_pointers, gather_all
from persistence_cassandra.records import Page, QueueType, TaskQueueRecord
from persistence_cassandra.task_categories import task_category

__all__ = ["holds_any_data", "take_census"]

T = TypeVar("T")

CENSUS_PAGE_SIZE = 500
PARALLEL_SHARDS = 4
PARALLEL_STREAMS = 16


async def _records(fetch: Callable[[bytes], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """Every item of a paged read, reading the next page ahead."""
    async with aclosing(read_ahead(fetch)) as pages:
        async for page, _ in pages:
            for item in page.items:
                yield item


async def take_census(reader: StoreReader, shard_ids: Iterable[int]) -> Census:
    """Tallies of every record ``reader`` reaches; shards are ``shard_ids`` plus any shard a
    history tree row names."""
    census = Census()
    page_size = CENSUS_PAGE_SIZE
    streams = asyncio.Semaphore(PARALLEL_STREAMS)
    shards = asyncio.Semaphore(PARALLEL_SHARDS)
    configured = set(shard_ids)
    discovered: set[int] = set()

    async def metadata() -> None:
        async for record in _records(partial(reader.namespaces, page_size)):
            census.add(namespace_facts(record))
        census.notification_version = await reader.notification_version()
        async for cluster in _records(partial(reader.cluster_metadata_page, page_size)):
            census.add(cluster_metadata_facts(cluster))
        await visibility()

    async def visibility() -> None:  # issue 17
        async for namespace in _records(partial(reader.namespaces, page_size)):
            census.add(
                search_attribute_facts(namespace.id, await reader.search_attributes(namespace.id))
            )
            fetch = partial(reader.visibility_page, namespace.id, page_size)
            async for record in _records(fetch):
                census.add(visibility_facts(record))

    async def nodes(source: NodeSource) -> None:
        async with streams:
            async for node in _records(partial(reader.nodes, source, page_size)):
                census.add(history_node_facts(source.tree_id, source.branch_id, node))

    async def history() -> None:
        async with aclosing(read_ahead(partial(reader.tree_rows, page_size))) as pages:
            async for page, _ in pages:
                for row in page.items:
                    census.add(history_tree_facts(row))
                    if row.shard_id not in configured:
                        discovered.add(row.shard_id)
                sources = await branches_to_read(reader, page.items)
                await gather_all(nodes(source) for source in sources)

    async def matching() -> None:
        async def queue(record: TaskQueueRecord) -> None:
            census.add(task_queue_facts(record))
            async with streams:
                async for task in _records(partial(reader.tasks, record.key, page_size)):
                    census.add(task_facts(record.key, task))

        async with aclosing(read_ahead(partial(reader.task_queues, page_size))) as pages:
            async for page, _ in pages:
                await gather_all(queue(record) for record in page.items)
        async for entry in _records(partial(reader.user_data, page_size)):
            census.add(task_queue_user_data_facts(entry))
        async for mapping in _records(partial(reader.build_id_mappings, page_size)):
            census.add(build_id_mapping_facts(mapping))

    async def shard(shard_id: int) -> None:
        async with shards:
            record = await reader.shard(shard_id)
            if record is None:
                return
            census.add(shard_facts(record))
            census.shard_ranges[shard_id] = record.range_id
            async with aclosing(read_ahead(partial(reader.runs, shard_id, page_size))) as pages:
                async for page, _ in pages:
                    pointers = await current_pointers(reader, shard_id, page.items)
                    for state in page.items:
                        census.add(run_facts(shard_id, state))
                        key = state.key
                        pointer = pointers[(key.namespace_id, key.workflow_id)]
                        if pointer is not None and pointer.run_id == key.run_id:
                            census.add(
                                current_facts(shard_id, key.namespace_id, key.workflow_id, pointer)
                            )
            for category_id in await reader.history_task_category_ids(shard_id):
                category = task_category(category_id)
                fetch = partial(reader.history_tasks, shard_id, category, page_size)
                async for task in _records(fetch):
                    census.add(history_task_facts(shard_id, task))

    async def configured_shards() -> None:
        await gather_all(shard(shard_id) for shard_id in sorted(configured))

    async def queues() -> None:
        for queue_type in QueueType:
            async for info in _records(partial(reader.queues, int(queue_type), page_size)):
                record = await reader.queue(info.key)
                if record is None:
                    continue
                census.add(queue_facts(record))
                async for message in _records(partial(reader.queue_messages, info.key, page_size)):
                    census.add(queue_message_facts(info.key, message))
        async for endpoint in _records(partial(reader.nexus_endpoints, page_size)):
            census.add(nexus_endpoint_facts(endpoint))

    async def replication_dlq(shard_ids: list[int]) -> None:
        clusters = await cluster_names(reader)
        for shard_id in shard_ids:
            for cluster in clusters:
                fetch = partial(reader.replication_dlq_tasks, shard_id, cluster, page_size)
                async for task in _records(fetch):
                    census.add(replication_dlq_facts(shard_id, task))

    await gather_all([metadata(), history(), matching(), queues(), configured_shards()])
    await gather_all(shard(shard_id) for shard_id in sorted(discovered - configured))
    await replication_dlq(sorted(configured | discovered))
    return census


async def _has_items(fetch: Callable[[bytes], Awaitable[Page[T]]]) -> bool:
    # A page may be empty while more follow (Cassandra), so follow tokens to the first item.
    token = b""
    while True:
        page = await fetch(token)
        if page.items:
            return True
        token = page.next_page_token
        if not token:
            return False


async def holds_any_data(reader: StoreReader, shard_ids: Iterable[int]) -> bool:
    """Whether the store holds anything a copy writes. Runs, history tasks and tasks cannot
    exist without a shard row or a queue row (their writes are fenced by them), so the shard
    rows stand for them."""
    if await reader.notification_version() != 0:
        return True
    if (
        await _has_items(partial(reader.namespaces, 1))
        or await _has_items(partial(reader.cluster_metadata_page, 1))
        or await _has_items(partial(reader.tree_rows, 1))
        or await _has_items(partial(reader.task_queues, 1))
        or await _has_items(partial(reader.nexus_endpoints, 1))
        or await _has_items(partial(reader.user_data, 1))
    ):
        return True
    for queue_type in QueueType:
        if await _has_items(partial(reader.queues, int(queue_type), 1)):
            return True
    if await reader.nexus_table_version() != 0:
        return True
    found = await gather_all(reader.shard(shard_id) for shard_id in sorted(set(shard_ids)))
    return any(record is not None for record in found)
