"""Configuration: validation, env-var secrets, masking, and one-line errors through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import default_config, load_config, parse_config
from persistence_cassandra.errors import ConfigError

SQLITE = "sql: {pluginName: sqlite, databaseName: /tmp/never-opened.db}"

BAD_CONFIGS = {
    "unknown_default_store": (
        f"persistence:\n  defaultStore: nope\n  datastores:\n    default:\n      {SQLITE}\n",
        "defaultStore 'nope'",
    ),
    "wrong_type": (
        "persistence:\n  defaultStore: default\n  numHistoryShards: many\n"
        f"  datastores:\n    default:\n      {SQLITE}\n",
        "persistence.numHistoryShards",
    ),
    "missing_key": (
        "persistence:\n  defaultStore: default\n  datastores:\n    default:\n"
        "      sql: {pluginName: postgres}\n",
        "persistence.datastores.default.sql.databaseName",
    ),
    "unknown_key": (
        "persistence:\n  defaultStore: default\n  datastores:\n    default:\n"
        "      cassandra: {hosts: 127.0.0.1, keyspce: temporal}\n",
        "persistence.datastores.default.cassandra.keyspce",
    ),
    "two_backends": (
        "persistence:\n  defaultStore: default\n  datastores:\n    default:\n"
        f"      {SQLITE}\n      cassandra: {{hosts: 127.0.0.1}}\n",
        "exactly one of",
    ),
    "weak_consistency": (
        "persistence:\n  defaultStore: default\n  datastores:\n    default:\n"
        "      cassandra: {consistency: {default: {consistency: ONE}}}\n",
        "consistency.default.consistency",
    ),
    "unknown_io_loop": (
        "persistence:\n  defaultStore: default\n  datastores:\n    default:\n"
        "      cassandra: {ioLoop: libev}\n",
        "persistence.datastores.default.cassandra.ioLoop",
    ),
    "bad_yaml": ("persistence:\n  defaultStore: [unclosed\n", "not valid YAML"),
    "not_a_mapping": ("- just\n- a list\n", "expected a mapping"),
}


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.delenv("PC_CONFIG", raising=False)
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def assert_one_line_error(result, needle: str, exit_code: int = 2) -> None:
    assert result.exit_code == exit_code, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", [["config", "validate"], ["config", "show"], ["doctor"]])
def test_bad_config_gives_one_line_naming_the_key(runner, tmp_path, case, command):
    text, needle = BAD_CONFIGS[case]
    path = write(tmp_path, case, text)
    result = runner.invoke(cli, ["--config", str(path), *command])
    assert_one_line_error(result, needle)
    assert str(path) in result.stderr


def test_missing_file(runner, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path / "absent.yaml"), "doctor"])
    assert_one_line_error(result, "does not exist")


def test_config_from_env_var(runner, tmp_path, monkeypatch):
    text, needle = BAD_CONFIGS["unknown_key"]
    monkeypatch.setenv("PC_CONFIG", str(write(tmp_path, "env", text)))
    assert_one_line_error(runner.invoke(cli, ["config", "validate"]), needle)


def test_unknown_store(runner, tmp_path):
    path = write(
        tmp_path, "ok", f"persistence:\n  defaultStore: a\n  datastores:\n    a:\n      {SQLITE}\n"
    )
    result = runner.invoke(cli, ["--config", str(path), "--store", "b", "config", "validate"])
    assert_one_line_error(result, "unknown datastore 'b' (known: a)")


def test_verbose_adds_the_traceback(runner, tmp_path):
    text, _ = BAD_CONFIGS["wrong_type"]
    path = write(tmp_path, "verbose", text)
    result = runner.invoke(cli, ["--config", str(path), "-v", "config", "validate"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_subprocess_bad_config_has_no_traceback(tmp_path):
    path = write(tmp_path, "BAD", BAD_CONFIGS["wrong_type"][0])
    env = {**os.environ, "PC_DATA_DIR": str(tmp_path / "data")}
    env.pop("PC_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "persistence_cassandra", "--config", str(path), "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert "numHistoryShards" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


SECRET_CONFIG = """
persistence:
  defaultStore: c
  numHistoryShards: 16
  datastores:
    c:
      cassandra:
        hosts: 10.0.0.1,10.0.0.2
        user: cassandra
        password: ${PC_TEST_PASSWORD}
        datacenter: dc1
        astra: {secureConnectBundle: /tmp/bundle.zip, token: "AstraCS:top-secret"}
    pg:
      sql:
        pluginName: postgres12
        databaseName: temporal
        connectAddr: 127.0.0.1:5432
        password: pg-secret
"""


def test_show_masks_every_secret(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("PC_TEST_PASSWORD", "hunter2")
    path = write(tmp_path, "secrets", SECRET_CONFIG)
    result = runner.invoke(cli, ["--config", str(path), "config", "show"])
    assert result.exit_code == 0, result.stderr
    for secret in ("hunter2", "AstraCS:top-secret", "pg-secret"):
        assert secret not in result.output
    shown = yaml.safe_load(result.output)["persistence"]
    cassandra = shown["datastores"]["c"]["cassandra"]
    assert cassandra["password"] == "****"
    assert cassandra["astra"]["token"] == "****"
    assert shown["datastores"]["pg"]["sql"]["password"] == "****"
    # Defaults are filled in, under Temporal's key names.
    assert cassandra["consistency"]["default"]["serialConsistency"] == "LOCAL_SERIAL"
    assert shown["numHistoryShards"] == 16
    # The output is itself a valid configuration once the masks are replaced.
    cassandra["password"] = "x"
    cassandra["astra"]["token"] = "x"
    shown["datastores"]["pg"]["sql"]["password"] = "x"
    assert parse_config({"persistence": shown}).num_history_shards == 16


def test_validate_summarises(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("PC_TEST_PASSWORD", "hunter2")
    path = write(tmp_path, "secrets", SECRET_CONFIG)
    result = runner.invoke(cli, ["--config", str(path), "--store", "pg", "config", "validate"])
    assert result.exit_code == 0, result.stderr
    assert "2 datastore(s); using 'pg' (postgres)" in result.output


def test_unset_secret_env_var_names_the_key(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("PC_TEST_PASSWORD", raising=False)
    path = write(tmp_path, "unset", SECRET_CONFIG)
    result = runner.invoke(cli, ["--config", str(path), "config", "validate"])
    assert_one_line_error(result, "persistence.datastores.c.cassandra.password")
    assert "PC_TEST_PASSWORD" in result.stderr


def test_secrets_never_in_repr(monkeypatch):
    monkeypatch.setenv("PC_TEST_PASSWORD", "hunter2")
    config = parse_config(yaml.safe_load(SECRET_CONFIG))
    assert "hunter2" not in repr(config)
    assert "AstraCS:top-secret" not in repr(config)
    assert config.datastore().cassandra.password.get_secret_value() == "hunter2"


def test_default_config_is_embedded_sqlite_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PC_DATA_DIR", str(tmp_path))
    config = default_config()
    assert config.datastore().backend_name == "sqlite"
    assert config.datastore().sql.database_name == str(tmp_path / "persistence.db")
    assert load_config(None) == config


def test_temporal_key_names_are_accepted():
    config = parse_config(
        {
            "persistence": {
                "defaultStore": "cass",
                "numHistoryShards": 512,
                "datastores": {
                    "cass": {
                        "cassandra": {
                            "hosts": "a,b , c",
                            "keyspace": "temporal",
                            "maxConns": 20,
                            "connectTimeout": 3,
                            "disableInitialHostLookup": True,
                            "tls": {"enabled": True, "caFile": "/ca.pem"},
                        }
                    }
                },
            }
        }
    )
    cassandra = config.datastore().cassandra
    assert cassandra.host_list == ["a", "b", "c"]
    assert cassandra.max_conns == 20
    assert cassandra.tls.ca_file == "/ca.pem"


def test_parse_error_is_config_error():
    with pytest.raises(ConfigError, match=r"persistence\.defaultStore: is required"):
        parse_config({"persistence": {"datastores": {}}})
