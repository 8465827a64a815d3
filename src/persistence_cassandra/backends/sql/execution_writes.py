"""Transactions that write workflow runs: checks first, in error-priority order, then writes.

A write first takes its row locks with :class:`LockedReads` — the shard fence
(:func:`~persistence_cassandra.backends.sql.shard_store.expect_fence`), then the current-run
pointer, then each run row — and checks them in that order, which is the contract's error
priority (``ShardOwnershipLost`` > ``CurrentWorkflowConditionFailed`` >
``WorkflowConditionFailed`` / ``ConditionFailed``). Only then does it write, mostly through
deferred statements. Rows are locked in one global order (pointer before run rows) so that
concurrent writers of one workflow queue up instead of deadlocking on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.execution_tasks import HistoryTaskSql
from persistence_cassandra.backends.sql.transaction import LockedReads, Lookup, Row, Tx
from persistence_cassandra.errors import (
    ConditionFailed,
    CurrentWorkflowConditionFailed,
    WorkflowConditionFailed,
)
from persistence_cassandra.execution_plan import PointerPlan
from persistence_cassandra.records import (
    CurrentExecution,
    DataBlob,
    ExecutionKey,
    WorkflowMutation,
    WorkflowSnapshot,
    WorkflowState,
    from_epoch_ms,
    to_epoch_ms,
)

__all__ = [
    "ACTIVITIES",
    "CANCELS",
    "CHILDREN",
    "COLLECTIONS",
    "SIGNALS",
    "TIMERS",
    "CollectionTable",
    "ExecutionSql",
    "current_from_row",
    "run_params",
]

RUN_KEY = ("shard_id", "namespace_id", "workflow_id", "run_id")
_RUN_WHERE = "shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?"
_WORKFLOW_WHERE = "shard_id = ? AND namespace_id = ? AND workflow_id = ?"
CURRENT_COLUMNS = (
    "run_id",
    "create_request_id",
    "state",
    "status",
    "last_write_version",
    "start_time",
)
_INSERT_BUFFERED_EVENT = (
    "INSERT INTO buffered_events (shard_id, namespace_id, workflow_id, run_id, "
    "data, data_encoding) VALUES (?, ?, ?, ?, ?, ?)"
)
_EXECUTION_VALUES = (
    "next_event_id",
    "db_record_version",
    "data",
    "data_encoding",
    "state",
    "state_encoding",
    "checksum",
    "checksum_encoding",
)


@dataclass(frozen=True, slots=True)
class CollectionTable:
    """A mutable-state map stored one row per entry."""

    kind: int
    """Tag of the collection's rows in the combined mutable-state read."""
    table: str
    key_column: str
    int_key: bool


ACTIVITIES = CollectionTable(1, "activity_info_maps", "schedule_id", True)
TIMERS = CollectionTable(2, "timer_info_maps", "timer_id", False)
CHILDREN = CollectionTable(3, "child_execution_info_maps", "initiated_id", True)
CANCELS = CollectionTable(4, "request_cancel_info_maps", "initiated_id", True)
SIGNALS = CollectionTable(5, "signal_info_maps", "initiated_id", True)
COLLECTIONS = (ACTIVITIES, TIMERS, CHILDREN, CANCELS, SIGNALS)
SIGNALS_REQUESTED_KIND = 6
BUFFERED_EVENTS_KIND = 7


def run_params(shard_id: int, key: ExecutionKey) -> tuple[Any, ...]:
    return (shard_id, key.namespace_id, key.workflow_id, key.run_id)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else to_epoch_ms(value)


def current_from_row(row: Row) -> CurrentExecution:
    return CurrentExecution(
        run_id=row[0],
        create_request_id=row[1],
        state=WorkflowState(row[2]),
        status=row[3],
        last_write_version=row[4],
        start_time=None if row[5] is None else from_epoch_ms(row[5]),
    )


def _current_values(record: CurrentExecution) -> tuple[Any, ...]:
    return (
        record.run_id,
        record.create_request_id,
        int(record.state),
        record.status,
        record.last_write_version,
        _ms(record.start_time),
    )


def _execution_values(state: WorkflowSnapshot | WorkflowMutation) -> tuple[Any, ...]:
    checksum = state.checksum
    return (
        state.next_event_id,
        state.db_record_version,
        state.execution_info.data,
        state.execution_info.encoding,
        state.execution_state.data,
        state.execution_state.encoding,
        None if checksum is None else checksum.data,
        None if checksum is None else checksum.encoding,
    )


class ExecutionSql:
    """The statements of the execution tables for one dialect, and the synchronous writes."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.tasks = HistoryTaskSql(dialect)
        lock = dialect.lock_exclusive
        self._lock_current = (
            f"SELECT {', '.join(CURRENT_COLUMNS)} FROM current_executions "
            f"WHERE {_WORKFLOW_WHERE}{lock}"
        )
        self._insert_current = dialect.insert_if_absent(
            "current_executions", ("shard_id", "namespace_id", "workflow_id", *CURRENT_COLUMNS)
        )
        self._update_current = (
            "UPDATE current_executions SET "
            + ", ".join(f"{c} = ?" for c in CURRENT_COLUMNS)
            + f" WHERE {_WORKFLOW_WHERE}"
        )
        self._lock_execution = (
            f"SELECT db_record_version, next_event_id FROM executions WHERE {_RUN_WHERE}{lock}"
        )
        self._insert_execution = dialect.insert_if_absent(
            "executions", (*RUN_KEY, *_EXECUTION_VALUES)
        )
        self._update_execution = (
            "UPDATE executions SET "
            + ", ".join(f"{c} = ?" for c in _EXECUTION_VALUES)
            + f" WHERE {_RUN_WHERE}"
        )
        self._upsert_entry = {
            c.table: dialect.upsert(c.table, (*RUN_KEY, c.key_column), ("data", "data_encoding"))
            for c in COLLECTIONS
        }
        self._delete_entry = {
            c.table: f"DELETE FROM {c.table} WHERE {_RUN_WHERE} AND {c.key_column} = ?"
            for c in COLLECTIONS
        }
        self._upsert_signal_requested = dialect.upsert(
            "signals_requested_sets", (*RUN_KEY, "signal_id"), ()
        )
        self._delete_signal_requested = (
            f"DELETE FROM signals_requested_sets WHERE {_RUN_WHERE} AND signal_id = ?"
        )
        self._run_tables = (*(c.table for c in COLLECTIONS), "signals_requested_sets")

    # ------------------------------------------------------------------ checks

    def _current_lookup(self, shard_id: int, namespace_id: str, workflow_id: str) -> Lookup:
        return (self._lock_current, (shard_id, namespace_id, workflow_id))

    def expect_pointer(self, reads: LockedReads, shard_id: int, pointer: PointerPlan) -> None:
        """Lock the current-run pointer and check the plan's rule on it."""

        def check(row: Row | None) -> None:
            actual = None if row is None else current_from_row(row)
            reason = pointer.violation(actual)
            if reason is not None:
                raise CurrentWorkflowConditionFailed(
                    f"workflow {pointer.workflow_id!r}: {reason}", actual
                )

        lookup = self._current_lookup(shard_id, pointer.namespace_id, pointer.workflow_id)
        reads.add(lookup, check)

    def expect_run_version(
        self, reads: LockedReads, shard_id: int, key: ExecutionKey, expected_version: int
    ) -> None:
        """A run about to be changed must exist at the version the plan expects."""

        def check(row: Row | None) -> None:
            if row is None:
                raise ConditionFailed(f"run {key.run_id} of {key.workflow_id} does not exist")
            if row[0] != expected_version:
                raise WorkflowConditionFailed(
                    f"run {key.run_id}: stored db_record_version={row[0]}, "
                    f"expected {expected_version}",
                    actual_db_record_version=row[0],
                    next_event_id=row[1],
                )

        reads.add((self._lock_execution, run_params(shard_id, key)), check)

    # ------------------------------------------------------------------ current pointer

    def insert_current(
        self, tx: Tx, shard_id: int, pointer: PointerPlan, record: CurrentExecution
    ) -> None:
        workflow = (shard_id, pointer.namespace_id, pointer.workflow_id)
        inserted = tx.execute(self._insert_current, (*workflow, *_current_values(record)))
        if not inserted:
            # A concurrent creator committed a pointer after our check; report the winner.
            row = tx.fetchone(*self._current_lookup(*workflow))
            raise CurrentWorkflowConditionFailed(
                f"workflow {pointer.workflow_id!r} already has a current run",
                None if row is None else current_from_row(row),
            )

    def update_current(
        self, tx: Tx, shard_id: int, pointer: PointerPlan, record: CurrentExecution
    ) -> None:
        tx.defer(
            self._update_current,
            (*_current_values(record), shard_id, pointer.namespace_id, pointer.workflow_id),
        )

    # ------------------------------------------------------------------ run rows

    def insert_run(self, tx: Tx, shard_id: int, snapshot: WorkflowSnapshot) -> None:
        key = snapshot.key
        inserted = tx.execute(
            self._insert_execution, (*run_params(shard_id, key), *_execution_values(snapshot))
        )
        if not inserted:
            row = tx.fetchone(self._lock_execution, run_params(shard_id, key))
            raise WorkflowConditionFailed(
                f"run {key.run_id} of {key.workflow_id} already exists",
                actual_db_record_version=row[0] if row else 0,
                next_event_id=row[1] if row else 0,
            )
        self._insert_collections(tx, shard_id, snapshot)
        self.tasks.insert(tx, shard_id, snapshot.tasks)

    def reset_run(self, tx: Tx, shard_id: int, snapshot: WorkflowSnapshot) -> None:
        """Overwrite a locked run whole: its collections and buffered events are replaced by
        the snapshot's."""
        params = run_params(shard_id, snapshot.key)
        tx.defer(self._update_execution, (*_execution_values(snapshot), *params))
        for table in (*self._run_tables, "buffered_events"):
            tx.defer(f"DELETE FROM {table} WHERE {_RUN_WHERE}", params)
        self._insert_collections(tx, shard_id, snapshot)
        self.tasks.insert(tx, shard_id, snapshot.tasks)

    def mutate_run(self, tx: Tx, shard_id: int, mutation: WorkflowMutation) -> None:
        params = run_params(shard_id, mutation.key)
        tx.defer(self._update_execution, (*_execution_values(mutation), *params))
        changes: tuple[tuple[CollectionTable, Mapping[Any, DataBlob], Iterable[Any]], ...] = (
            (ACTIVITIES, mutation.upsert_activity_infos, mutation.delete_activity_infos),
            (TIMERS, mutation.upsert_timer_infos, mutation.delete_timer_infos),
            (
                CHILDREN,
                mutation.upsert_child_execution_infos,
                mutation.delete_child_execution_infos,
            ),
            (
                CANCELS,
                mutation.upsert_request_cancel_infos,
                mutation.delete_request_cancel_infos,
            ),
            (SIGNALS, mutation.upsert_signal_infos, mutation.delete_signal_infos),
        )
        for collection, upserts, deletes in changes:
            tx.defer_many(self._delete_entry[collection.table], [(*params, k) for k in deletes])
            tx.defer_many(
                self._upsert_entry[collection.table],
                [(*params, k, blob.data, blob.encoding) for k, blob in upserts.items()],
            )
        tx.defer_many(
            self._delete_signal_requested,
            [(*params, s) for s in mutation.delete_signal_requested_ids],
        )
        tx.defer_many(
            self._upsert_signal_requested,
            [(*params, s) for s in mutation.upsert_signal_requested_ids],
        )
        if mutation.clear_buffered_events:
            tx.defer(f"DELETE FROM buffered_events WHERE {_RUN_WHERE}", params)
        if mutation.new_buffered_events is not None:
            blob = mutation.new_buffered_events
            tx.defer(_INSERT_BUFFERED_EVENT, (*params, blob.data, blob.encoding))
        self.tasks.insert(tx, shard_id, mutation.tasks)

    def _insert_collections(self, tx: Tx, shard_id: int, snapshot: WorkflowSnapshot) -> None:
        params = run_params(shard_id, snapshot.key)
        entries: tuple[tuple[CollectionTable, Mapping[Any, DataBlob]], ...] = (
            (ACTIVITIES, snapshot.activity_infos),
            (TIMERS, snapshot.timer_infos),
            (CHILDREN, snapshot.child_execution_infos),
            (CANCELS, snapshot.request_cancel_infos),
            (SIGNALS, snapshot.signal_infos),
        )
        for collection, values in entries:
            tx.defer_many(
                self._upsert_entry[collection.table],
                [(*params, k, blob.data, blob.encoding) for k, blob in values.items()],
            )
        tx.defer_many(
            self._upsert_signal_requested, [(*params, s) for s in snapshot.signal_requested_ids]
        )
        # One statement per event, in list order: the serial id keeps arrival order.
        for blob in snapshot.buffered_events:
            tx.defer(_INSERT_BUFFERED_EVENT, (*params, blob.data, blob.encoding))

    def delete_run(self, tx: Tx, shard_id: int, key: ExecutionKey) -> None:
        params = run_params(shard_id, key)
        for table in ("executions", *self._run_tables, "buffered_events"):
            tx.defer(f"DELETE FROM {table} WHERE {_RUN_WHERE}", params)
