"""Shard records on Cassandra: the shard row of each shard's ``executions`` partition.

The shard row lives in the same partition as the shard's runs and tasks (see
:mod:`execution_rows`) because its ``range_id`` is the fence every execution batch checks.
"""

from __future__ import annotations

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.execution_rows import ROW_KEY_WHERE, shard_row_key
from persistence_cassandra.backends.cassandra.session import CassandraSession, Row
from persistence_cassandra.records import DataBlob, ShardRecord
from persistence_cassandra.stores import ShardInitializer

__all__ = [
    "UPDATE_SHARD",
    "CassandraShardStore",
]

GET_SHARD = (
    f"SELECT range_id, shard_info, shard_info_encoding FROM executions WHERE {ROW_KEY_WHERE}"
)
INSERT_SHARD = (
    "INSERT INTO executions (shard_id, type, namespace_id, workflow_id, run_id, fire_time_ms, "
    "task_id, range_id, shard_info, shard_info_encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "IF NOT EXISTS"
)
CREATE_ATTEMPTS = 3
"""Sends of the shard's insert-if-absent when its outcome is unknown."""

UPDATE_SHARD = (
    "UPDATE executions SET range_id = ?, shard_info = ?, shard_info_encoding = ? "
    f"WHERE {ROW_KEY_WHERE} IF range_id = ?"
)


def _record(shard_id: int, row: Row) -> ShardRecord:
    return ShardRecord(
        shard_id=shard_id,
        range_id=row["range_id"],
        info=DataBlob(row["shard_info"] or b"", row["shard_info_encoding"] or ""),
    )


class CassandraShardStore:
    def __init__(self, session: CassandraSession) -> None:
        self._session = session

    async def _read(self, shard_id: int) -> ShardRecord | None:
        row = (await self._session.read(GET_SHARD, shard_row_key(shard_id))).first()
        if row is None or row["range_id"] is None:
            return None
        return _record(shard_id, row)

    async def get_or_create_shard(
        self, shard_id: int, create: ShardInitializer | None = None
    ) -> ShardRecord:
        found = await self._read(shard_id)
        if found is not None:
            return found
        if create is None:
            raise errors.NotFound(f"shard {shard_id} does not exist")
        range_id, info = create()
        values = (*shard_row_key(shard_id), range_id, info.data, info.encoding)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                result = await self._session.write(INSERT_SHARD, values)
                break
            except errors.Timeout:
                # Insert-if-absent answers with the row that exists, whoever wrote it, so it is
                # safe to send again after an unknown outcome (contending creators on a
                # 3-node cluster meet CAS_WRITE_UNKNOWN): the resend's Paxos round completes
                # an accepted earlier attempt first and then finds its row.
                if attempt == CREATE_ATTEMPTS:
                    raise
        if result.applied:
            return ShardRecord(shard_id, range_id, info)
        # Lost the insert race: the not-applied answer carries the winner's row.
        winner = result.first()
        if winner is not None and winner.get("range_id") is not None:
            return _record(shard_id, winner)
        found = await self._read(shard_id)
        if found is None:
            raise errors.Unavailable(f"shard {shard_id}: created concurrently but not readable")
        return found

    async def update_shard(
        self, shard_id: int, range_id: int, info: DataBlob, previous_range_id: int
    ) -> None:
        result = await self._session.write(
            UPDATE_SHARD,
            (range_id, info.data, info.encoding, *shard_row_key(shard_id), previous_range_id),
        )
        if result.applied:
            return
        row = result.first()
        actual = row.get("range_id") if row is not None else None
        raise errors.ShardOwnershipLost(
            shard_id,
            f"expected range_id={previous_range_id}"
            + ("" if row is not None else "; shard record does not exist"),
            actual_range_id=actual,
        )
