"""What comes before medusa runs: the ``backup:`` block, the medusa.ini written from it, the
refusals (Astra DB, SQL datastores, no block), and medusa's environment when the package index
cannot be reached. No server is needed."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from backup_support import cassandra_store, run_cli, write_config

from persistence_cassandra.backup import ASTRA_BACKUP_MESSAGE, load_backup_settings
from persistence_cassandra.backup.medusa import render_medusa_ini
from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.errors import ConfigError

NODE = {
    "address": "10.0.0.5",
    "cassandraYaml": "/etc/cassandra/cassandra.yaml",
    "startCmd": "/usr/local/bin/start-cassandra",
    "stopCmd": "/usr/local/bin/stop-cassandra",
    "nodetool": "/usr/bin/nodetool",
    "jmxPort": 7199,
}


def test_medusa_ini_from_the_backup_block(tmp_path: Path) -> None:
    s3 = {
        "provider": "s3",
        "bucket": "prod-backups",
        "prefix": "east",
        "options": {"region": "eu-west-1", "key_file": "/etc/medusa/credentials"},
    }
    store = cassandra_store("10.0.0.5", 9042, "ks", user="app", password="s3cret")
    config = write_config(tmp_path, store, [NODE], storage=s3)
    settings = load_backup_settings(config, "cass")
    cassandra = CassandraConfig.model_validate(store["cassandra"])
    ini = render_medusa_ini(settings, settings.nodes[0], cassandra)
    assert "s3cret" not in ini  # the CQL password goes through medusa's environment
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(ini)
    assert dict(parsed["storage"]) == {
        "storage_provider": "s3",
        "bucket_name": "prod-backups",
        "fqdn": "10.0.0.5",
        "use_sudo_for_restore": "False",
        "backup_grace_period_in_days": "0",
        "prefix": "east",
        "region": "eu-west-1",
        "key_file": "/etc/medusa/credentials",
    }
    assert parsed["cassandra"]["nodetool_port"] == "7199"
    assert parsed["cassandra"]["start_cmd"] == "/usr/local/bin/start-cassandra"
    assert parsed["cassandra"]["use_sudo"] == "False"


@pytest.mark.parametrize(
    ("storage", "node", "problem"),
    [
        ({"options": {"regoin": "x"}}, {}, "'regoin' is not a medusa 0.31.0 setting"),
        ({"options": {"fqdn": "x"}}, {}, "'fqdn' is set by this block's own keys"),
        ({"bucket": "a/b"}, {}, "backup.cass.storage.bucket: must be letters"),
        ({}, {"startCmd": None}, "backup.cass.nodes.0.startCmd"),
    ],
)
def test_mistakes_in_the_backup_block(
    tmp_path: Path, storage: dict[str, object], node: dict[str, object], problem: str
) -> None:
    entry = {k: v for k, v in {**NODE, **node}.items() if v is not None}
    config = write_config(tmp_path, cassandra_store("h", 9042, "ks"), [entry], storage=storage)
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        load_backup_settings(config, "cass")


async def test_astra_refuses_backups_in_one_line(tmp_path: Path) -> None:
    astra = {"astra": {"secureConnectBundle": str(tmp_path / "bundle.zip"), "token": "AstraCS:x"}}
    config = write_config(tmp_path, cassandra_store("h", 9042, "ks", **astra), [NODE])
    run = await run_cli("--config", str(config), "backup", "list")
    assert run.exit_code == 1, run.output
    assert run.error_lines == [f"error: {ASTRA_BACKUP_MESSAGE}"]
    assert "Traceback" not in run.stderr


async def test_refusals_before_medusa(tmp_path: Path) -> None:
    sql = {"sql": {"pluginName": "sqlite", "databaseName": str(tmp_path / "x.db")}}
    on_sqlite = await run_cli("--config", str(write_config(tmp_path, sql, None)), "backup", "list")
    assert on_sqlite.exit_code == 2, on_sqlite.output
    assert "backups (medusa) are for Cassandra datastores" in on_sqlite.error_lines[0]
    config = write_config(tmp_path, cassandra_store("h", 9042, "ks"), None)
    no_block = await run_cli("--config", str(config), "backup", "list")
    assert no_block.exit_code == 2, no_block.output
    assert "no 'backup: {cass: ...}' block" in no_block.error_lines[0]
    no_config = await run_cli("backup", "list")
    assert no_config.exit_code == 2 and "backups need --config FILE" in no_config.stderr


async def test_medusa_environment_with_the_package_index_unreachable(tmp_path: Path) -> None:
    config = write_config(tmp_path, cassandra_store("h", 9042, "ks"), [NODE])
    unreachable = {
        "PC_MEDUSA_HOME": str(tmp_path / "medusa-env"),
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # discard port: nothing answers
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "3",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_FIND_LINKS": "",
    }
    run = await run_cli("--config", str(config), "backup", "list", env=unreachable)
    assert run.exit_code == 1, run.output
    (line,) = run.error_lines
    assert "cannot create medusa's environment: cassandra-medusa==0.31.0" in line
    assert "could not be fetched from the package index (http://127.0.0.1:9/simple)" in line
    assert "PC_MEDUSA_BIN" in line
    assert not (tmp_path / "medusa-env").exists(), "a failed attempt leaves nothing behind"
