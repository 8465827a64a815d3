"""doctor on the private ``commitlog_sync: group`` node: RF 1, yet no durability warning (the
commit log reaches the disk before a write is acknowledged)."""

from __future__ import annotations

from persistence_cassandra.config import PersistenceConfig
from persistence_cassandra.doctor import run_doctor
from persistence_cassandra.testing.targets import open_datastore


async def test_doctor_gives_no_durability_warning_on_group_sync(crash_node):
    datastore = crash_node.datastore("pc_crash_doctor")
    async with open_datastore(datastore):
        pass
    config = PersistenceConfig.model_validate({"defaultStore": "c", "datastores": {"c": datastore}})
    report = await run_doctor(config)
    assert report.ok, report.failures
    durability = report.checks[-1]
    assert durability.name == "durability"
    assert durability.status == "ok", durability
    assert "commit log group" in durability.detail
    assert "RF 1" in durability.detail
    assert report.warnings == []
