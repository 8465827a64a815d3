"""The ``astra`` profile of ``tools/cassandra_local.py``: what it writes into cassandra.yaml and
how it refuses to start without TLS files (no server needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import servers
from harness.astra_stand import issue_certificates


@pytest.fixture(scope="module")
def tool() -> Any:
    return servers._cassandra_tool()


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_certificates(tmp_path_factory.mktemp("stand") / "tls").directory


def _astra_settings(tool: Any, tls_dir: Path, tmp_path: Path) -> Any:
    return tool.NodeSettings(
        port=9999,
        data_dir=tmp_path / "node",
        yaml=tool.YamlSettings(profile="astra"),
        client_tls=tool.ClientTls.from_dir(tls_dir),
    )


def test_the_profile_turns_on_auth_client_tls_and_astras_guardrails(
    tool: Any, tls_dir: Path, tmp_path: Path
) -> None:
    config = tool.cassandra_yaml_config(_astra_settings(tool, tls_dir, tmp_path))
    assert config["authenticator"] == {
        "class_name": "org.apache.cassandra.auth.PasswordAuthenticator"
    }
    assert config["authorizer"] == "CassandraAuthorizer"
    tls = config["client_encryption_options"]
    assert (tls["enabled"], tls["optional"], tls["require_client_auth"]) == (True, False, True)
    assert tls["keystore"] == str(tls_dir / "node.pem")
    assert tls["truststore"] == str(tls_dir / "ca.crt")
    assert config["write_consistency_levels_disallowed"] == ["ANY", "ONE", "LOCAL_ONE"]
    assert config["drop_keyspace_enabled"] is False
    assert config["default_secondary_index"] == "sai"
    assert (config["batch_size_warn_threshold"], config["batch_size_fail_threshold"]) == (
        "64KiB",
        "640KiB",
    )
    ignored = set(config["table_properties_ignored"])
    assert {"compaction", "gc_grace_seconds", "caching"} <= ignored
    # Apache refuses to start with names that are no table properties (Astra lists them).
    assert "nodesync" not in ignored and not any(p.startswith("dse_") for p in ignored)
    assert "default_time_to_live" not in ignored and "comment" not in ignored


def test_the_dev_profile_stays_plain(tool: Any, tmp_path: Path) -> None:
    config = tool.cassandra_yaml_config(tool.NodeSettings(port=9999, data_dir=tmp_path))
    assert config["authenticator"] == "AllowAllAuthenticator"
    assert "client_encryption_options" not in config
    assert "write_consistency_levels_disallowed" not in config


def test_the_profile_without_tls_files_is_a_usage_error(tool: Any, tmp_path: Path) -> None:
    settings = tool.NodeSettings(port=9999, yaml=tool.YamlSettings(profile="astra"))
    with pytest.raises(tool.CassandraLocalError, match="needs TLS files") as caught:
        settings.validate()
    assert caught.value.exit_code == 2
    missing = tool.NodeSettings(
        port=9999,
        yaml=tool.YamlSettings(profile="astra"),
        client_tls=tool.ClientTls.from_dir(tmp_path / "empty"),
    )
    with pytest.raises(tool.CassandraLocalError, match="missing"):
        missing.validate()


def test_the_command_line_knows_the_profile(tool: Any, tls_dir: Path) -> None:
    args = tool._build_parser().parse_args(
        ["status", "--profile", "astra", "--tls-dir", str(tls_dir), "--port", "9999"]
    )
    settings = tool._settings_from_args(args)
    assert settings.yaml.profile == "astra"
    assert settings.client_tls == tool.ClientTls.from_dir(tls_dir)
    assert (settings.username, settings.password) == ("cassandra", "cassandra")
