"""The conformance suite: test classes that every backend must pass unchanged.

Import them into a test module so pytest collects them::

    from persistence_cassandra.testing.suite import *  # noqa: F403

They need a session-scoped ``stores`` fixture (an open
:class:`~persistence_cassandra.stores.StoreBundle`) and the fixtures of
:mod:`persistence_cassandra.testing.plugin`. Tests never name a backend: where behaviour may
legitimately differ they ask ``stores.capabilities``.
"""

from __future__ import annotations

from persistence_cassandra.testing.suite.cluster import TestClusterMembership, TestClusterMetadata
from persistence_cassandra.testing.suite.concurrency import TestConcurrency
from persistence_cassandra.testing.suite.execution_collections import (
    TestExecutionCollections,
    TestExecutionDeleteAndList,
)
from persistence_cassandra.testing.suite.execution_create import TestExecutionCreate
from persistence_cassandra.testing.suite.execution_modes import TestExecutionModeRules
from persistence_cassandra.testing.suite.execution_update import (
    TestConflictResolve,
    TestExecutionUpdate,
    TestSetWorkflowExecution,
)
from persistence_cassandra.testing.suite.history_branch import (
    TestHistoryBranch,
    TestHistoryForkAndDelete,
)
from persistence_cassandra.testing.suite.history_rows import TestHistoryStoreRows
from persistence_cassandra.testing.suite.history_tasks import TestHistoryTasks
from persistence_cassandra.testing.suite.namespaces import TestNamespaces
from persistence_cassandra.testing.suite.shard import TestShardStore
from persistence_cassandra.testing.suite.task_store import TestTaskQueues, TestTasks
from persistence_cassandra.testing.suite.visibility import (
    TestVisibilityQueries,
    TestVisibilityWrites,
)

__all__ = [
    "TestClusterMembership",
    "TestClusterMetadata",
    "TestConcurrency",
    "TestConflictResolve",
    "TestExecutionCollections",
    "TestExecutionCreate",
    "TestExecutionDeleteAndList",
    "TestExecutionModeRules",
    "TestExecutionUpdate",
    "TestHistoryBranch",
    "TestHistoryForkAndDelete",
    "TestHistoryStoreRows",
    "TestHistoryTasks",
    "TestNamespaces",
    "TestSetWorkflowExecution",
    "TestShardStore",
    "TestTaskQueues",
    "TestTasks",
    "TestVisibilityQueries",
    "TestVisibilityWrites",
]
