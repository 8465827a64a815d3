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
from persistence_cassandra.testing.suite.conflict_payloads import (
    TestConflictPayloads,
    TestForkBaseBranch,
)
from persistence_cassandra.testing.suite.dead_letter_queues import (
    TestHistoryTaskDLQ,
    TestNamespaceReplicationQueue,
)
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
from persistence_cassandra.testing.suite.nexus_endpoints import TestNexusEndpoints
from persistence_cassandra.testing.suite.queues import (
    TestQueueConcurrency,
    TestQueueStore,
)
from persistence_cassandra.testing.suite.replication_dlq import TestReplicationDLQ
from persistence_cassandra.testing.suite.shard import TestShardStore
from persistence_cassandra.testing.suite.sticky_task_queues import TestStickyTaskQueues
from persistence_cassandra.testing.suite.task_categories import TestRegisteredTaskCategories
from persistence_cassandra.testing.suite.task_queue_user_data import TestTaskQueueUserData
from persistence_cassandra.testing.suite.task_store import TestTaskQueues, TestTasks
from persistence_cassandra.testing.suite.visibility import (
    TestVisibilityQueries,
    TestVisibilityWrites,
)

__all__ = [
    "TestClusterMembership",
    "TestClusterMetadata",
    "TestConcurrency",
    "TestConflictPayloads",
    "TestConflictResolve",
    "TestExecutionCollections",
    "TestExecutionCreate",
    "TestExecutionDeleteAndList",
    "TestExecutionModeRules",
    "TestExecutionUpdate",
    "TestForkBaseBranch",
    "TestHistoryBranch",
    "TestHistoryForkAndDelete",
    "TestHistoryStoreRows",
    # -- queues, dead-letter queues and Nexus endpoints (schema v1.1)
    "TestHistoryTaskDLQ",
    "TestHistoryTasks",
    "TestNamespaceReplicationQueue",
    "TestNamespaces",
    "TestNexusEndpoints",
    "TestQueueConcurrency",
    "TestQueueStore",
    "TestRegisteredTaskCategories",
    "TestReplicationDLQ",
    "TestSetWorkflowExecution",
    "TestShardStore",
    "TestStickyTaskQueues",
    "TestTaskQueueUserData",
    "TestTaskQueues",
    "TestTasks",
    "TestVisibilityQueries",
    "TestVisibilityWrites",
]
