"""The ``cassandra`` backend: every store over one shared driver session.

Resolved by name through :mod:`persistence_cassandra.factory`; importing this module loads the
driver, which is why the factory only imports it when a Cassandra store is opened.
"""

from __future__ import annotations

from persistence_cassandra import errors
from persistence_cassandra.backend import OpenOptions
from persistence_cassandra.backends.cassandra.cluster_metadata_store import (
    CassandraClusterMetadataStore,
)
from persistence_cassandra.backends.cassandra.execution_store import CassandraExecutionStore
from persistence_cassandra.backends.cassandra.history_store import CassandraHistoryStore
from persistence_cassandra.backends.cassandra.metadata_store import CassandraMetadataStore
from persistence_cassandra.backends.cassandra.nexus_endpoint_store import (
    CassandraNexusEndpointStore,
)
from persistence_cassandra.backends.cassandra.queue_store import CassandraQueueStore
from persistence_cassandra.backends.cassandra.schema_setup import (
    KeyspaceVersionReader,
    create_keyspace_and_schema,
    verify_schema_version,
)
from persistence_cassandra.backends.cassandra.session import CassandraSession
from persistence_cassandra.backends.cassandra.shard_store import CassandraShardStore
from persistence_cassandra.backends.cassandra.task_store import CassandraTaskStore
from persistence_cassandra.backends.cassandra.visibility_store import CassandraVisibilityStore
from persistence_cassandra.config import DatastoreConfig
from persistence_cassandra.stores import (
    Capabilities,
    ClusterMetadataStore,
    ExecutionStore,
    HistoryStore,
    MetadataStore,
    NexusEndpointStore,
    QueueStore,
    ShardStore,
    StoreBundle,
    TaskStore,
    VisibilityStore,
)

__all__ = ["BACKEND", "CAPABILITIES", "CassandraBackend"]

CAPABILITIES = Capabilities(
    exact_task_completion_count=False,  # a clustering-range delete reports no row count
    membership_prune_needed=False,  # membership rows carry a TTL
)

RELEASE_VERSION = "SELECT release_version FROM system.local"


class CassandraBackend:
    name = "cassandra"

    async def open(self, config: DatastoreConfig, options: OpenOptions) -> StoreBundle:
        if config.cassandra is None:
            raise errors.InvalidRequest("the cassandra backend needs a 'cassandra:' datastore")
        settings = config.cassandra
        if options.create_schema:
            await create_keyspace_and_schema(config)
        session = await CassandraSession.connect(settings)
        try:
            if options.verify_schema:
                await verify_schema_version(session, settings.keyspace)
            await session.use_keyspace(settings.keyspace)
        except BaseException:
            await session.close()
            raise

        async def server_info() -> dict[str, str]:
            row = (await session.read(RELEASE_VERSION)).first()
            stored = await KeyspaceVersionReader(session, settings.keyspace).read_version()
            info = {"server_version": str(row["release_version"]) if row else "unknown"}
            if stored is not None:
                info["schema_version"] = stored.curr_version
            return info

        return StoreBundle(
            shard=CassandraShardStore(session),
            execution=CassandraExecutionStore(session),
            history=CassandraHistoryStore(session),
            task=CassandraTaskStore(session),
            metadata=CassandraMetadataStore(session),
            cluster_metadata=CassandraClusterMetadataStore(session),
            capabilities=CAPABILITIES,
            close=session.close,
            description=session.description,
            server_info=server_info,
            queue=CassandraQueueStore(session),
            nexus_endpoint=CassandraNexusEndpointStore(session),
            visibility=CassandraVisibilityStore(session),
        )


BACKEND = CassandraBackend()

if __debug__:  # typing-only proof that each store satisfies its Protocol
    _shard: type[ShardStore] = CassandraShardStore
    _execution: type[ExecutionStore] = CassandraExecutionStore
    _history: type[HistoryStore] = CassandraHistoryStore
    _task: type[TaskStore] = CassandraTaskStore
    _metadata: type[MetadataStore] = CassandraMetadataStore
    _cluster: type[ClusterMetadataStore] = CassandraClusterMetadataStore
    _queue: type[QueueStore] = CassandraQueueStore
    _nexus: type[NexusEndpointStore] = CassandraNexusEndpointStore
    _visibility: type[VisibilityStore] = CassandraVisibilityStore
