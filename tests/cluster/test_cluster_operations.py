"""What an operator does on the cluster: an RF 3 keyspace through the schema tool, the schema on
it, and `doctor`, which must not warn about durability there (RF 3 at quorum survives one
node's loss even with the periodic commit log the cluster runs)."""

from __future__ import annotations

import asyncio
import uuid

from click.testing import CliRunner

from harness.local_cluster import LocalCluster
from harness.targets import cluster_persistence_config
from persistence_cassandra.cli.main import cli
from persistence_cassandra.doctor import run_doctor


def _schema(cluster: LocalCluster, keyspace: str, *args: str) -> tuple[int, str]:
    hosts = ",".join(cluster.hosts)
    result = CliRunner().invoke(
        cli,
        ["schema", "--ep", hosts, "-p", str(cluster.port), "-k", keyspace, *args],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


async def test_rf3_keyspace_schema_and_doctor(cluster: LocalCluster) -> None:
    keyspace = f"pc_ops_{uuid.uuid4().hex[:10]}"
    code, output = await asyncio.to_thread(
        _schema, cluster, keyspace, "create-keyspace", "--rf", "3", "--dc", cluster.datacenter
    )
    assert code == 0, output
    assert "NetworkTopologyStrategy {dc1: 3}" in output
    try:
        # Temporal's order: version tables at 0.0, then every version of the bundled set.
        for command in (
            ("setup-schema", "-v", "0.0"),
            ("update-schema", "-s", "cassandra/persistence"),
        ):
            code, output = await asyncio.to_thread(_schema, cluster, keyspace, *command)
            assert code == 0, output
        config = cluster_persistence_config(cluster, keyspace)
        report = await run_doctor(config)
        assert report.ok, report.failures
        durability = next(check for check in report.checks if check.name == "durability")
        assert durability.status == "ok", durability
        assert "RF dc1: 3" in durability.detail and "periodic" in durability.detail, durability
        assert report.warnings == []
    finally:
        code, output = await asyncio.to_thread(_schema, cluster, keyspace, "drop-keyspace", "-f")
        assert code == 0, output
