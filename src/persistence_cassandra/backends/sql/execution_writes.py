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

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from persistence_cassandra.backends.sql.dialect import SqlDialect
from persistence_cassandra.backends.sql.execution_tasks import HistoryTaskSql
from persistence_cassandra.backends.sql.statements import (
    ACTIVITIES,
    BUFFERED_EVENTS_KIND,
    CANCELS,
    CHILDREN,
    COLLECTIONS,
    CURRENT_COLUMNS,
    RUN_KEY,
    RUN_WHERE,
    SIGNALS,
    SIGNALS_REQUESTED_KIND,
    TIMERS,
    CollectionTable,
    sql_statements,
)
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
    "BUFFERED_EVENTS_KIND",
    "CANCELS",
    "CHILDREN",
    "COLLECTIONS",
    "CURRENT_COLUMNS",
    "RUN_KEY",
    "SIGNALS",
    "SIGNALS_REQUESTED_KIND",
    "TIMERS",
    "CollectionTable",
    "ExecutionSql",
    "current_from_row",
    "current_values",
    "execution_values",
    "run_params",
]

_INSERT_BUFFERED_EVENT = (
    "INSERT INTO buffered_events (shard_id, namespace_id, workflow_id, run_id, "
    "data, data_encoding) VALUES (?, ?, ?, ?, ?, ?)"
)


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
        request_ids=frozenset(json.loads(row[6])),
        first_execution_run_id=row[7],
    )


def current_values(record: CurrentExecution) -> tuple[Any, ...]:
    return (
        record.run_id,
        record.create_request_id,
        int(record.state),
        record.status,
        record.last_write_version,
        _ms(record.start_time),
        # A sorted JSON list: one portable column type for a set on both dialects.
        json.dumps(sorted(record.request_ids)),
        record.first_execution_run_id,
    )


def execution_values(state: WorkflowSnapshot | WorkflowMutation) -> tuple[Any, ...]:
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
        statements = sql_statements(dialect)
        self._lock_current = statements.lock_current
        self._insert_current = statements.insert_current
        self._update_current = statements.update_current
        self._lock_execution = statements.lock_execution
        self._insert_execution = statements.insert_execution
        self._update_execution = statements.update_execution
        self._upsert_entry = statements.upsert_entry
        self._delete_entry = statements.delete_entry
        self._upsert_signal_requested = statements.upsert_signal_requested
        self._delete_signal_requested = statements.delete_signal_requested
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
        inserted = tx.execute(self._insert_current, (*workflow, *current_values(record)))
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
            (*current_values(record), shard_id, pointer.namespace_id, pointer.workflow_id),
        )

    # ------------------------------------------------------------------ run rows

    def insert_run(self, tx: Tx, shard_id: int, snapshot: WorkflowSnapshot) -> None:
        key = snapshot.key
        inserted = tx.execute(
            self._insert_execution, (*run_params(shard_id, key), *execution_values(snapshot))
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
        tx.defer(self._update_execution, (*execution_values(snapshot), *params))
        for table in (*self._run_tables, "buffered_events"):
            tx.defer(f"DELETE FROM {table} WHERE {RUN_WHERE}", params)
        self._insert_collections(tx, shard_id, snapshot)
        self.tasks.insert(tx, shard_id, snapshot.tasks)

    def mutate_run(self, tx: Tx, shard_id: int, mutation: WorkflowMutation) -> None:
        params = run_params(shard_id, mutation.key)
        tx.defer(self._update_execution, (*execution_values(mutation), *params))
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
            tx.defer(f"DELETE FROM buffered_events WHERE {RUN_WHERE}", params)
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
            tx.defer(f"DELETE FROM {table} WHERE {RUN_WHERE}", params)
