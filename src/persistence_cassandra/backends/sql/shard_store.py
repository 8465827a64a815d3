"""Shards: the range id stored here is the fencing token of every execution write."""

from __future__ import annotations

from functools import partial

from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.statements import sql_statements
from persistence_cassandra.backends.sql.transaction import LockedReads, Row, TransactionRunner, Tx
from persistence_cassandra.errors import NotFound, ShardOwnershipLost
from persistence_cassandra.records import DataBlob, ShardRecord
from persistence_cassandra.stores import ShardInitializer, ShardStore

__all__ = ["SqlShardStore", "expect_fence"]

_SELECT = "SELECT range_id, data, data_encoding FROM shards WHERE shard_id = ?"


def expect_fence(reads: LockedReads, dialect: SqlDialect, shard_id: int, range_id: int) -> None:
    """The fence of every execution write: a *shared* lock on the shard row, so that writes of
    one shard run concurrently while a range-id bump (exclusive) waits for them and they wait
    for it; ``ShardOwnershipLost`` if the stored range id is not the writer's."""
    reads.add(
        (sql_statements(dialect).fence, (shard_id,)), partial(_check_fence, shard_id, range_id)
    )


def _check_fence(shard_id: int, range_id: int, row: Row | None) -> None:
    if row is None:
        raise ShardOwnershipLost(shard_id, "shard does not exist")
    if row[0] != range_id:
        raise ShardOwnershipLost(
            shard_id, f"request range_id={range_id} is stale", actual_range_id=row[0]
        )


def _record(shard_id: int, row: Row) -> ShardRecord:
    return ShardRecord(shard_id=shard_id, range_id=row[0], info=DataBlob(row[1], row[2]))


class SqlShardStore:
    def __init__(self, runner: TransactionRunner) -> None:
        self._runner = runner
        self._statements = sql_statements(runner.dialect)
        self._insert = runner.dialect.insert_if_absent(
            "shards", ("shard_id", "range_id", "data", "data_encoding")
        )

    async def get_or_create_shard(
        self, shard_id: int, create: ShardInitializer | None = None
    ) -> ShardRecord:
        row = await self._runner.read(lambda tx: tx.fetchone(_SELECT, (shard_id,)))
        if row is not None:
            return _record(shard_id, row)
        if create is None:
            raise NotFound(f"shard {shard_id} does not exist")
        range_id, info = create()

        def insert_then_read(tx: Tx) -> Row | None:
            # A lost race inserts nothing; reading in the same transaction returns the winner.
            tx.execute(self._insert, (shard_id, range_id, info.data, info.encoding))
            return tx.fetchone(_SELECT, (shard_id,))

        row = await self._runner.write(insert_then_read)
        assert row is not None
        return _record(shard_id, row)

    async def update_shard(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> None:
        def update(tx: Tx) -> None:
            # Exclusive: waits for in-flight execution writes holding the shared lock, so none
            # of them commits under the old range id after the bump.
            row = tx.fetchone(self._statements.lock_shard, (shard_id,))
            if row is None:
                raise ShardOwnershipLost(shard_id, "shard does not exist")
            if row[0] != previous_range_id:
                raise ShardOwnershipLost(
                    shard_id,
                    f"expected range_id={previous_range_id}",
                    actual_range_id=row[0],
                )
            tx.defer(self._statements.update_shard, (range_id, info.data, info.encoding, shard_id))

        await self._runner.write(update)


_: type[ShardStore] = SqlShardStore
