"""The statements the SQL layer sends on its hot paths, named and exported, for one dialect.

The stores build their statements here, and so does the bench's raw baseline
(``bench/raw_sql.py``), which sends the very same text through the bare driver: a statement
changed here changes on both sides at once. Text uses ``?`` placeholders (the transaction
rewrites them per driver; the baseline calls :meth:`SqlDialect.sql`). Statements only the
stores send (paging variants, deletes of whole workflows, scans) stay beside their store.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from persistence_cassandra.backends.sql.dialect import SqlDialect

__all__ = [
    "ACTIVITIES",
    "BUFFERED_EVENTS_KIND",
    "CANCELS",
    "CHILDREN",
    "COLLECTIONS",
    "CURRENT_COLUMNS",
    "EXECUTION_VALUES",
    "IMMEDIATE_RANGE",
    "MUTABLE_STATE_PARTS",
    "MUTABLE_STATE_QUERY",
    "NAMESPACE_COLUMNS",
    "QUEUE_WHERE",
    "RUN_KEY",
    "RUN_WHERE",
    "SCHEDULED_RANGE",
    "SIGNALS",
    "SIGNALS_REQUESTED_KIND",
    "TASKS_WHERE",
    "TIMERS",
    "WORKFLOW_WHERE",
    "CollectionTable",
    "SqlStatements",
    "sql_statements",
]

RUN_KEY = ("shard_id", "namespace_id", "workflow_id", "run_id")
RUN_WHERE = "shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?"
WORKFLOW_WHERE = "shard_id = ? AND namespace_id = ? AND workflow_id = ?"
CURRENT_COLUMNS = (
    "run_id",
    "create_request_id",
    "state",
    "status",
    "last_write_version",
    "start_time",
    # schema 1.1: the conflict payload
    "request_ids",
    "first_execution_run_id",
)
EXECUTION_VALUES = (
    "next_event_id",
    "db_record_version",
    "data",
    "data_encoding",
    "state",
    "state_encoding",
    "checksum",
    "checksum_encoding",
)
IMMEDIATE_RANGE = "shard_id = ? AND category_id = ? AND task_id >= ? AND task_id < ?"
SCHEDULED_RANGE = (
    "shard_id = ? AND category_id = ? "
    "AND (visibility_timestamp, task_id) >= (?, ?) AND (visibility_timestamp, task_id) < (?, ?)"
)
QUEUE_WHERE = "namespace_id = ? AND name = ? AND task_type = ?"
TASKS_WHERE = "namespace_id = ? AND task_queue_name = ? AND task_type = ?"
NAMESPACE_COLUMNS = "id, name, data, data_encoding, is_global, notification_version"


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


def _mutable_state_query() -> str:
    """One read of a run and all its collections: a UNION ALL of tagged rows (kind, int key,
    text key, payload, then the run's scalars on the kind-0 row), in one round trip."""
    parts = [
        "SELECT 0, NULL, NULL, data, data_encoding, next_event_id, db_record_version, "
        "state, state_encoding, checksum, checksum_encoding "
        f"FROM executions WHERE {RUN_WHERE}"
    ]
    for c in COLLECTIONS:
        int_key, text_key = (c.key_column, "NULL") if c.int_key else ("NULL", c.key_column)
        parts.append(
            f"SELECT {c.kind}, {int_key}, {text_key}, data, data_encoding, "
            "NULL, NULL, NULL, NULL, NULL, NULL "
            f"FROM {c.table} WHERE {RUN_WHERE}"
        )
    parts.append(
        f"SELECT {SIGNALS_REQUESTED_KIND}, NULL, signal_id, NULL, NULL, "
        "NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM signals_requested_sets WHERE {RUN_WHERE}"
    )
    parts.append(
        f"SELECT {BUFFERED_EVENTS_KIND}, id, NULL, data, data_encoding, "
        "NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM buffered_events WHERE {RUN_WHERE}"
    )
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


MUTABLE_STATE_QUERY = _mutable_state_query()
MUTABLE_STATE_PARTS = 3 + len(COLLECTIONS)
"""How many times the run key is bound in :data:`MUTABLE_STATE_QUERY`."""


@dataclass(frozen=True, slots=True)
class SqlStatements:
    """Every hot-path statement of one dialect (row-lock suffixes and upserts differ)."""

    fence: str
    lock_shard: str
    update_shard: str
    lock_current: str
    insert_current: str
    update_current: str
    lock_execution: str
    insert_execution: str
    update_execution: str
    upsert_entry: dict[str, str]
    delete_entry: dict[str, str]
    upsert_signal_requested: str
    delete_signal_requested: str
    upsert_immediate: str
    upsert_scheduled: str
    get_immediate: str
    get_scheduled: str
    complete_immediate: str
    complete_scheduled: str
    range_complete_immediate: str
    range_complete_scheduled: str
    upsert_node: str
    upsert_tree: str
    lock_queue_shared: str
    lock_queue_exclusive: str
    upsert_task: str
    get_tasks: str
    complete_tasks: str
    get_namespace_by_id: str
    get_namespace_by_name: str


@cache
def sql_statements(dialect: SqlDialect) -> SqlStatements:
    """The statements of ``dialect`` (built once per dialect instance)."""
    shared, exclusive = dialect.lock_shared, dialect.lock_exclusive
    return SqlStatements(
        fence=f"SELECT range_id FROM shards WHERE shard_id = ?{shared}",
        lock_shard=f"SELECT range_id FROM shards WHERE shard_id = ?{exclusive}",
        update_shard=(
            "UPDATE shards SET range_id = ?, data = ?, data_encoding = ? WHERE shard_id = ?"
        ),
        lock_current=(
            f"SELECT {', '.join(CURRENT_COLUMNS)} FROM current_executions "
            f"WHERE {WORKFLOW_WHERE}{exclusive}"
        ),
        insert_current=dialect.insert_if_absent(
            "current_executions", ("shard_id", "namespace_id", "workflow_id", *CURRENT_COLUMNS)
        ),
        update_current=(
            "UPDATE current_executions SET "
            + ", ".join(f"{c} = ?" for c in CURRENT_COLUMNS)
            + f" WHERE {WORKFLOW_WHERE}"
        ),
        lock_execution=(
            f"SELECT db_record_version, next_event_id FROM executions WHERE {RUN_WHERE}{exclusive}"
        ),
        insert_execution=dialect.insert_if_absent("executions", (*RUN_KEY, *EXECUTION_VALUES)),
        update_execution=(
            "UPDATE executions SET "
            + ", ".join(f"{c} = ?" for c in EXECUTION_VALUES)
            + f" WHERE {RUN_WHERE}"
        ),
        upsert_entry={
            c.table: dialect.upsert(c.table, (*RUN_KEY, c.key_column), ("data", "data_encoding"))
            for c in COLLECTIONS
        },
        delete_entry={
            c.table: f"DELETE FROM {c.table} WHERE {RUN_WHERE} AND {c.key_column} = ?"
            for c in COLLECTIONS
        },
        upsert_signal_requested=dialect.upsert(
            "signals_requested_sets", (*RUN_KEY, "signal_id"), ()
        ),
        delete_signal_requested=(
            f"DELETE FROM signals_requested_sets WHERE {RUN_WHERE} AND signal_id = ?"
        ),
        upsert_immediate=dialect.upsert(
            "history_immediate_tasks",
            ("shard_id", "category_id", "task_id"),
            ("data", "data_encoding"),
        ),
        upsert_scheduled=dialect.upsert(
            "history_scheduled_tasks",
            ("shard_id", "category_id", "visibility_timestamp", "task_id"),
            ("data", "data_encoding"),
        ),
        get_immediate=(
            "SELECT task_id, data, data_encoding "
            f"FROM history_immediate_tasks WHERE {IMMEDIATE_RANGE} ORDER BY task_id LIMIT ?"
        ),
        get_scheduled=(
            "SELECT visibility_timestamp, task_id, data, data_encoding "
            f"FROM history_scheduled_tasks WHERE {SCHEDULED_RANGE} "
            "ORDER BY visibility_timestamp, task_id LIMIT ?"
        ),
        complete_immediate=(
            "DELETE FROM history_immediate_tasks "
            "WHERE shard_id = ? AND category_id = ? AND task_id = ?"
        ),
        complete_scheduled=(
            "DELETE FROM history_scheduled_tasks WHERE shard_id = ? AND category_id = ? "
            "AND visibility_timestamp = ? AND task_id = ?"
        ),
        range_complete_immediate=f"DELETE FROM history_immediate_tasks WHERE {IMMEDIATE_RANGE}",
        range_complete_scheduled=f"DELETE FROM history_scheduled_tasks WHERE {SCHEDULED_RANGE}",
        upsert_node=dialect.upsert(
            "history_node",
            ("shard_id", "tree_id", "branch_id", "node_id", "txn_id"),
            ("prev_txn_id", "data", "data_encoding"),
        ),
        upsert_tree=dialect.upsert(
            "history_tree", ("shard_id", "tree_id", "branch_id"), ("data", "data_encoding")
        ),
        # expiry_time: a sticky queue past it is gone (schema 1.1).
        lock_queue_shared=(
            f"SELECT range_id, expiry_time FROM task_queues WHERE {QUEUE_WHERE}{shared}"
        ),
        lock_queue_exclusive=(
            f"SELECT range_id, expiry_time FROM task_queues WHERE {QUEUE_WHERE}{exclusive}"
        ),
        upsert_task=dialect.upsert(
            "tasks",
            ("namespace_id", "task_queue_name", "task_type", "task_id"),
            ("expiry_time", "data", "data_encoding"),
        ),
        get_tasks=(
            "SELECT task_id, expiry_time, data, data_encoding FROM tasks "
            f"WHERE {TASKS_WHERE} AND task_id >= ? AND task_id < ? "
            "AND (expiry_time IS NULL OR expiry_time > ?) ORDER BY task_id LIMIT ?"
        ),
        complete_tasks=f"DELETE FROM tasks WHERE {TASKS_WHERE} AND task_id < ?",
        get_namespace_by_id=f"SELECT {NAMESPACE_COLUMNS} FROM namespaces WHERE id = ?",
        get_namespace_by_name=f"SELECT {NAMESPACE_COLUMNS} FROM namespaces WHERE name = ?",
    )
