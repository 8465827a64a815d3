"""Conformance for the conflict payloads Temporal servers rely on: a current-run conflict
carries the request ids attached to the current run and its first execution's run id, and a
fork names its base branch as well as the new one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from persistence_cassandra.errors import CurrentWorkflowConditionFailed
from persistence_cassandra.managers.history import HistoryBranchManager
from persistence_cassandra.managers.history_token import parse_branch_token
from persistence_cassandra.records import ExecutionKey, WorkflowState
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import (
    STATUS_RUNNING,
    ShardLease,
    execution_key,
    mutation,
    random_shard_id,
    snapshot,
)
from persistence_cassandra.testing.suite.execution_checks import create_run, current_of, update_run
from persistence_cassandra.testing.suite.history_branch import batch

__all__ = ["TestConflictPayloads", "TestForkBaseBranch"]


def _next_run(first: ExecutionKey) -> ExecutionKey:
    return execution_key(first.namespace_id, first.workflow_id)


async def _conflict_on_start(
    stores: StoreBundle, shard: ShardLease, key: ExecutionKey
) -> CurrentWorkflowConditionFailed:
    with pytest.raises(CurrentWorkflowConditionFailed) as caught:
        await create_run(stores, shard, snapshot(_next_run(key)))
    return caught.value


class TestConflictPayloads:
    async def test_a_start_conflict_carries_the_attached_request_ids_and_first_run(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        first = replace(snapshot(key), request_ids=frozenset({"attach-1", "attach-2"}))
        await create_run(stores, shard, first)
        conflict = await _conflict_on_start(stores, shard, key)
        assert conflict.current is not None
        assert conflict.current.run_id == key.run_id
        assert conflict.current.request_ids == {first.create_request_id, "attach-1", "attach-2"}
        assert conflict.current.first_execution_run_id == key.run_id
        assert await current_of(stores, shard, key) == conflict.current

    async def test_an_update_attaches_request_ids_the_next_conflict_reports(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        attached = replace(
            mutation(key, db_record_version=2), request_ids=frozenset({"signal-with-start-7"})
        )
        await update_run(stores, shard, attached)
        conflict = await _conflict_on_start(stores, shard, key)
        assert conflict.current is not None
        assert conflict.current.request_ids == {attached.create_request_id, "signal-with-start-7"}

    async def test_continue_as_new_keeps_the_first_execution_run_id(
        self, stores: StoreBundle, shard: ShardLease
    ) -> None:
        key = execution_key()
        await create_run(stores, shard, snapshot(key))
        second = _next_run(key)
        closing = mutation(
            key, db_record_version=2, state=WorkflowState.COMPLETED, status=STATUS_RUNNING + 1
        )
        new_run = replace(snapshot(second), first_execution_run_id=key.run_id)
        await update_run(stores, shard, closing, new_snapshot=new_run)
        conflict = await _conflict_on_start(stores, shard, key)
        assert conflict.current is not None
        assert conflict.current.run_id == second.run_id
        assert conflict.current.first_execution_run_id == key.run_id
        assert conflict.current.request_ids == {new_run.create_request_id}


class TestForkBaseBranch:
    async def test_a_fork_returns_the_base_branch_token(
        self, history: HistoryBranchManager
    ) -> None:
        shard_id = random_shard_id()
        base = history.new_branch_token()
        for first, txn in ((1, 1), (3, 2), (5, 3)):
            await history.append_history_nodes(
                shard_id, base, batch(first, 2), txn, txn - 1, is_new_branch=first == 1
            )
        fork = await history.fork_history_branch(shard_id, base, 5)
        assert parse_branch_token(fork.base_branch_token) == parse_branch_token(base)
        # Forking the fork below its own nodes: the base is the original branch.
        again = await history.fork_history_branch(shard_id, fork.new_branch_token, 3)
        base_branch = parse_branch_token(again.base_branch_token)
        assert base_branch.branch_id == parse_branch_token(base).branch_id
        assert base_branch.ancestors == ()
        assert parse_branch_token(again.new_branch_token).ancestors[-1].end_node_id == 3
