"""Issue 14, item 9: ``schema status``, ``history`` and ``verify`` offer ``--json``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from persistence_cassandra.cli.main import cli
from persistence_cassandra.schema.bundled import EXPECTED_SCHEMA_VERSION


def test_schema_status_history_and_verify_print_json(tmp_path):
    target = ["schema", "--plugin", "sqlite", "--db", str(tmp_path / "s.db")]
    runner = CliRunner()
    for step in (["setup-schema", "-v", "0.0"], ["update-schema", "-s", "sqlite/persistence"]):
        result = runner.invoke(cli, [*target, *step])
        assert result.exit_code == 0, result.output + result.stderr

    def document(*args: str) -> dict:
        result = runner.invoke(cli, [*target, *args, "--json"])
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)

    status = document("status", "--schema-name", "sqlite/persistence")
    assert status["current_version"] == EXPECTED_SCHEMA_VERSION
    assert status["pending"] == []
    assert status["verify"]["ok"] is True
    history = document("history")
    assert [entry["new_version"] for entry in history["history"]][-1] == EXPECTED_SCHEMA_VERSION
    assert history["runs"]
    verify = document("verify", "--schema-name", "sqlite/persistence")
    assert verify["ok"] is True
    assert EXPECTED_SCHEMA_VERSION in verify["checked"]
