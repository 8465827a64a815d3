"""The copy units of the schema v1.1 record kinds.

=============================  ==========================================================
unit                           reads (source) -> writes (target)
=============================  ==========================================================
``queues/<type>``              queues of each well-known queue type, then each queue's
                               messages in id order -> create, metadata version stepped up,
                               enqueues that keep the source's ids (fillers, deleted at once,
                               stand in for deleted messages), range delete to the min id
``nexus_endpoints``            every endpoint -> create, version stepped up
``replication_dlq/<shard>``    parked replication tasks of the shard, per source cluster
                               named in cluster metadata -> upserts
=============================  ==========================================================

Only the queue types of :class:`~persistence_cassandra.records.QueueType` are enumerated (a
store cannot list queue types), and replication DLQs only for the clusters the source's cluster
metadata names (a store cannot list source clusters): the ones a server writes.
"""

from __future__ import annotations

from contextlib import aclosing
from functools import partial

from persistence_cassandra.copy.kinds import RecordKind
from persistence_cassandra.copy.reader import StoreReader, read_ahead
from persistence_cassandra.copy.units import CopyContext, _paged_unit
from persistence_cassandra.records import (
    NexusEndpointRecord,
    QueueInfo,
    QueueType,
    ReplicationDLQTask,
)

__all__ = [
    "cluster_names",
    "copy_nexus_endpoints",
    "copy_queues",
    "copy_replication_dlq",
]


async def cluster_names(reader: StoreReader) -> list[str]:
    """Every cluster the source's cluster metadata names (the possible replication sources)."""
    names: list[str] = []
    token = b""
    while True:
        page = await reader.cluster_metadata_page(100, token)
        names += [record.cluster_name for record in page.items]
        token = page.next_page_token
        if not token:
            return names


async def _copy_queue(ctx: CopyContext, info: QueueInfo) -> None:
    record = await ctx.source.queue(info.key)
    if record is None:  # removed from the source meanwhile
        return
    outcome, target = await ctx.target.put_queue(record)
    ctx.note(outcome)
    ctx.moved(RecordKind.QUEUES)
    next_id = target.next_message_id
    fetch = partial(ctx.source.queue_messages, record.key, ctx.page_size)
    async with aclosing(read_ahead(fetch)) as pages:
        async for page, _ in pages:
            next_id = await ctx.target.put_queue_messages(record.key, next_id, page.items)
            ctx.moved(RecordKind.QUEUE_MESSAGES, len(page.items))
    await ctx.target.finish_queue(record, next_id)


async def copy_queues(ctx: CopyContext) -> None:
    async def handle(infos: list[QueueInfo]) -> None:
        for info in infos:  # one queue at a time: its ids are assigned in order
            await _copy_queue(ctx, info)

    for queue_type in QueueType:
        await _paged_unit(
            ctx,
            f"queues/{int(queue_type)}",
            partial(ctx.source.queues, int(queue_type), ctx.page_size),
            handle,
        )


async def copy_nexus_endpoints(ctx: CopyContext) -> None:
    async def handle(records: list[NexusEndpointRecord]) -> None:
        for record in records:
            ctx.note(await ctx.target.put_nexus_endpoint(record))
            ctx.moved(RecordKind.NEXUS_ENDPOINTS)

    await _paged_unit(
        ctx, "nexus_endpoints", partial(ctx.source.nexus_endpoints, ctx.page_size), handle
    )


async def copy_replication_dlq(ctx: CopyContext, shard_id: int) -> None:
    async def handle(tasks: list[ReplicationDLQTask]) -> None:
        await ctx.target.put_replication_dlq_tasks(shard_id, tasks)
        ctx.moved(RecordKind.REPLICATION_DLQ_TASKS, len(tasks))

    for source_cluster in await cluster_names(ctx.source):
        await _paged_unit(
            ctx,
            f"replication_dlq/{shard_id}/{source_cluster}",
            partial(ctx.source.replication_dlq_tasks, shard_id, source_cluster, ctx.page_size),
            handle,
        )
