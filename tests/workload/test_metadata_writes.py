"""Versioned cluster-metadata writes whose outcome is unknown (``save_metadata``), and the
group's join over them.

CI saw a member process die on the 3-node cluster with every node up: three members created the
group record at once, one proposer lost the Paxos race after a replica had accepted it, and the
cluster answered ``CAS_WRITE_UNKNOWN``. The store tells the caller ``Timeout(may_have_committed=
True)``; the member must learn from the stored record what happened. The fake store here plays
each answer a lightweight transaction can give (pure logic); the join is also run on the real
embedded SQLite backend with an injected timeout after the write."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from persistence_cassandra.config import parse_config
from persistence_cassandra.errors import ConditionFailed, NotFound, Timeout
from persistence_cassandra.factory import open_persistence
from persistence_cassandra.middleware import FaultInjection, FaultRule, MiddlewareOptions
from persistence_cassandra.records import ClusterMetadataRecord
from persistence_cassandra.workload.engine import WorkloadOptions, resolve_settings
from persistence_cassandra.workload.group import group_record_name, join_group
from persistence_cassandra.workload.payloads import json_blob
from persistence_cassandra.workload.writes import save_metadata

OURS = ClusterMetadataRecord("g", json_blob({"by": "us"}), 0)
THEIRS = ClusterMetadataRecord("g", json_blob({"by": "them"}), 1)


@dataclass
class _Store:
    """A metadata store whose ``save`` plays the scripted answers, in order: ``applied`` (the
    write lands), ``timeout-after`` (lands, then times out), ``timeout`` (times out, lands
    nowhere the read sees), ``paxos-completes`` (the resend finds its own first attempt:
    lands and refuses), ``other`` (another writer's record lands, then this one times out)."""

    script: list[str]
    records: dict[str, ClusterMetadataRecord] = field(default_factory=dict)
    saves: int = 0
    reads: int = 0

    def _land(self, record: ClusterMetadataRecord) -> None:
        self.records[record.cluster_name] = ClusterMetadataRecord(
            record.cluster_name, record.metadata, record.version + 1
        )

    async def save_cluster_metadata(self, record: ClusterMetadataRecord) -> None:
        self.saves += 1
        step = self.script.pop(0)
        stored = self.records.get(record.cluster_name)
        if step != "other" and (stored.version if stored else 0) != record.version:
            raise ConditionFailed("version moved")
        if step == "applied":
            self._land(record)
        elif step == "timeout-after":
            self._land(record)
            raise Timeout("after", may_have_committed=True)
        elif step == "timeout":
            raise Timeout("lost", may_have_committed=True)
        elif step == "paxos-completes":
            self._land(record)
            raise ConditionFailed("found its own first attempt")
        elif step == "other":
            self.records[record.cluster_name] = THEIRS
            raise Timeout("lost the race", may_have_committed=True)

    async def get_cluster_metadata(self, name: str) -> ClusterMetadataRecord:
        self.reads += 1
        if name not in self.records:
            raise NotFound(name)
        return self.records[name]


def _persistence(store: _Store) -> Any:
    return cast(Any, type("P", (), {"cluster_metadata": store})())


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("persistence_cassandra.workload.writes.resend_delay", lambda _a: 0.0)


@pytest.mark.parametrize(
    ("script", "expected", "saves"),
    [
        (["applied"], True, 1),
        (["timeout-after"], True, 1),
        (["timeout", "applied"], True, 2),
        (["timeout", "paxos-completes"], True, 2),
        (["timeout", "timeout", "timeout-after"], True, 3),
        (["other"], False, 1),
    ],
)
async def test_an_unknown_outcome_is_settled_by_the_stored_record(
    script: list[str], expected: bool, saves: int
) -> None:
    store = _Store(script)
    assert await save_metadata(_persistence(store), OURS) is expected
    assert store.saves == saves
    assert store.records["g"].metadata == (OURS.metadata if expected else THEIRS.metadata)


async def test_a_plain_refusal_is_an_answer() -> None:
    store = _Store(["applied"], records={"g": THEIRS})
    assert await save_metadata(_persistence(store), OURS) is False
    assert store.reads == 0


async def test_an_update_that_timed_out_and_applied_is_not_sent_again() -> None:
    store = _Store(["timeout-after"], records={"g": THEIRS})
    update = ClusterMetadataRecord("g", json_blob({"by": "us", "n": 2}), 1)
    assert await save_metadata(_persistence(store), update) is True
    assert store.records["g"].version == 2 and store.saves == 1


async def test_an_outcome_that_stays_unknown_is_raised() -> None:
    store = _Store(["timeout"] * 5)
    with pytest.raises(Timeout):
        await save_metadata(_persistence(store), OURS)


MEMORY = parse_config(
    {
        "persistence": {
            "defaultStore": "mem",
            "datastores": {"mem": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
        }
    }
)


async def test_members_joining_through_timeouts_agree_on_the_settings() -> None:
    """Every group-record write times out after it ran (what CAS_WRITE_UNKNOWN looks like to
    the loser of a Paxos race whose proposal still lands): the members still agree."""
    faults = FaultInjection(
        rules=(
            FaultRule("Timeout", 1.0, "cluster_metadata", "save_cluster_metadata", after_call=True),
        )
    )
    async with await open_persistence(
        MEMORY, middleware=MiddlewareOptions(faults=faults)
    ) as persistence:
        proposals = [
            resolve_settings(WorkloadOptions(workflows=5, seed=seed), 4) for seed in (1, 2, 3)
        ]
        agreed = await asyncio.gather(*(join_group(persistence, "g1", p) for p in proposals))
        assert len({(s.seed, s.workflows) for s in agreed}) == 1
        stored = await persistence.cluster_metadata.get_cluster_metadata(group_record_name("g1"))
        assert stored.version == 1
