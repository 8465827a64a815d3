"""doctor's durability check: the pure judgement, and the warnings on the shared Cassandra node.

The shared node runs ``commitlog_sync: periodic`` and every test keyspace has RF 1, so the
doctor must warn there, without failing. The group-sync node's "no warning" case is in
``tests/crash`` (it needs that private node).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner

from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import PersistenceConfig, parse_config
from persistence_cassandra.doctor import durability_warnings, replication_factors, run_doctor
from persistence_cassandra.testing.targets import open_datastore

SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"
NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"


def simple(rf: int) -> dict[str, str]:
    return {"class": SIMPLE, "replication_factor": str(rf)}


# --------------------------------------------------------------------------- pure judgement


@pytest.mark.parametrize(
    ("replication", "expected"),
    [
        (simple(3), {"*": 3}),
        ({"class": NTS, "dc1": "3", "dc2": "2"}, {"dc1": 3, "dc2": 2}),
        ({"class": "NetworkTopologyStrategy", "dc1": "3/1"}, {"dc1": 2}),
        ({"class": "org.apache.cassandra.locator.LocalStrategy"}, None),
        ({"class": SIMPLE, "replication_factor": "many"}, None),
    ],
)
def test_replication_factors(replication, expected):
    assert replication_factors(replication) == expected


@pytest.mark.parametrize("mode", ["group", "batch", "GROUP"])
def test_fsyncing_commit_log_needs_no_warning_at_any_rf(mode):
    assert durability_warnings(mode, simple(1), "LOCAL_QUORUM") == []


@pytest.mark.parametrize("rf", [1, 2])
def test_periodic_sync_below_rf_3_warns_in_plain_words(rf):
    (warning,) = durability_warnings("periodic", simple(rf), "LOCAL_QUORUM", keyspace="ks")
    assert f"ks keeps {rf} replica(s)" in warning
    assert "commitlog_sync: periodic" in warning
    assert "fencing breaks" in warning
    assert "batch or group" in warning


def test_periodic_sync_at_rf_3_is_fine():
    assert durability_warnings("periodic", simple(3), "LOCAL_QUORUM") == []
    assert durability_warnings("periodic", {"class": NTS, "dc1": "3", "dc2": "5"}, "QUORUM") == []


def test_the_local_data_center_decides_and_without_one_the_thinnest():
    replication = {"class": NTS, "dc1": "3", "dc2": "1"}
    assert durability_warnings("periodic", replication, "LOCAL_QUORUM", datacenter="dc1") == []
    assert len(durability_warnings("periodic", replication, "LOCAL_QUORUM")) == 1
    assert len(durability_warnings("periodic", replication, "LOCAL_QUORUM", datacenter="dc2")) == 1


@pytest.mark.parametrize("level", ["ONE", "LOCAL_ONE", "ANY", "local_one"])
def test_single_replica_consistency_warns(level):
    (warning,) = durability_warnings("group", simple(3), level)
    assert f"consistency {level.upper()} is below a quorum" in warning
    assert "LOCAL_QUORUM" in warning


@pytest.mark.parametrize(
    ("level", "rf", "warns"),
    [("TWO", 3, False), ("TWO", 5, True), ("THREE", 5, False), ("THREE", 7, True)],
)
def test_counted_consistency_is_judged_against_the_replica_count(level, rf, warns):
    found = durability_warnings("group", simple(rf), level)
    assert bool(found) is warns, found


@pytest.mark.parametrize("level", ["QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"])
def test_quorum_levels_need_no_warning(level):
    assert durability_warnings("group", simple(5), level, "SERIAL") == []


def test_a_non_serial_serial_consistency_warns():
    (warning,) = durability_warnings("group", simple(3), "LOCAL_QUORUM", "LOCAL_ONE")
    assert "serial consistency LOCAL_ONE" in warning


def test_unknown_facts_give_no_warning_about_them():
    # Astra DB: the commit log mode is not readable; the check then says nothing about it.
    assert durability_warnings(None, {"class": NTS, "us-east1": "3"}, "LOCAL_QUORUM") == []
    assert durability_warnings("periodic", None, "LOCAL_QUORUM") == []


def test_both_findings_are_reported_together():
    assert len(durability_warnings("periodic", simple(1), "ONE")) == 2


# --------------------------------------------------------------------------- shared node


def _config(keyspace: str, **cassandra: object) -> PersistenceConfig:
    from harness import servers

    endpoint = servers.cassandra_endpoint()
    hosts = ",".join(part.rpartition(":")[0] or part for part in endpoint.split(","))
    port = int(endpoint.split(",")[0].rpartition(":")[2] or 9042)
    block = {"hosts": hosts, "port": port, "keyspace": keyspace, **cassandra}
    return parse_config(
        {"persistence": {"defaultStore": "c", "datastores": {"c": {"cassandra": block}}}}
    )


def _with_consistency(config: PersistenceConfig, level: str) -> PersistenceConfig:
    """``config`` with a consistency the YAML validation refuses, as code could still build it
    (``model_copy`` does not validate): the doctor's check must catch it on its own."""
    cassandra = config.datastore().cassandra
    assert cassandra is not None
    pair = cassandra.consistency.default.model_copy(update={"consistency": level})
    block = cassandra.consistency.model_copy(update={"default": pair})
    store = config.datastore().model_copy(
        update={"cassandra": cassandra.model_copy(update={"consistency": block})}
    )
    return config.model_copy(update={"datastores": {config.default_store: store}})


@pytest.fixture(scope="module")
async def shared_keyspace() -> AsyncIterator[str]:
    name = f"pc_doctor_{uuid.uuid4().hex[:12]}"
    async with open_datastore(_config(name).datastore()):
        pass
    yield name
    from cassandra.cluster import Cluster

    config = _config(name).datastore().cassandra
    assert config is not None
    cluster = Cluster(config.host_list, port=config.port)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
    finally:
        cluster.shutdown()


def test_doctor_warns_about_periodic_sync_at_rf_1_and_still_passes(
    shared_keyspace, tmp_path, monkeypatch
):
    config = _config(shared_keyspace)
    cassandra = config.datastore().cassandra
    assert cassandra is not None
    path = tmp_path / "persistence.yaml"
    path.write_text(
        "persistence:\n"
        "  defaultStore: c\n"
        "  datastores:\n"
        "    c:\n"
        "      cassandra:\n"
        f"        hosts: {cassandra.hosts}\n"
        f"        port: {cassandra.port}\n"
        f"        keyspace: {shared_keyspace}\n"
    )
    monkeypatch.setenv("COLUMNS", "160")
    result = CliRunner().invoke(cli, ["--config", str(path), "doctor"])
    assert result.exit_code == 0, result.output
    assert "durability" in result.stdout
    assert "WARN" in result.stdout
    assert "FAIL" not in result.stdout
    assert "commit log periodic" in result.stdout
    assert "WARNING:" in result.stdout
    assert f"keyspace {shared_keyspace} keeps 1 replica(s)" in result.stdout
    assert "commitlog_sync: periodic" in result.stdout


async def test_doctor_warns_about_a_consistency_below_a_quorum(shared_keyspace):
    report = await run_doctor(_with_consistency(_config(shared_keyspace), "LOCAL_ONE"))
    assert report.ok, report.failures
    durability = report.checks[-1]
    assert durability.name == "durability"
    assert durability.status == "warn"
    assert any("consistency LOCAL_ONE is below a quorum" in w for w in report.warnings)
    assert any("commitlog_sync: periodic" in w for w in report.warnings)


def test_a_yaml_consistency_of_one_is_refused_before_connecting(tmp_path):
    path = tmp_path / "persistence.yaml"
    path.write_text(
        "persistence:\n  defaultStore: c\n  datastores:\n    c:\n      cassandra:\n"
        "        consistency:\n          default:\n            consistency: ONE\n"
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "doctor"])
    assert result.exit_code != 0
    assert "consistency" in result.output
    assert "Traceback" not in result.output


async def test_sql_backends_get_no_durability_check():
    config = parse_config(
        {
            "persistence": {
                "defaultStore": "m",
                "datastores": {"m": {"sql": {"pluginName": "sqlite", "databaseName": ":memory:"}}},
            }
        }
    )
    report = await run_doctor(config)
    assert "durability" not in [check.name for check in report.checks]
    assert report.warnings == []
