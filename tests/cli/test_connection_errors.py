"""Issue 14, item 5: a failed connection names the host and the reason, on one line."""

from __future__ import annotations

import os

import cassandra
import pytest
from cassandra.cluster import NoHostAvailable
from click.testing import CliRunner

from persistence_cassandra.backends.cassandra.connect_errors import connect_failure
from persistence_cassandra.cli.main import cli
from persistence_cassandra.config import CassandraConfig
from persistence_cassandra.errors import InvalidRequest, Unavailable


def cassandra_host() -> tuple[str, int]:
    first = os.environ.get("PC_CASSANDRA_HOSTS", "127.0.0.1:9042").split(",")[0]
    host, _, port = first.partition(":")
    return host, int(port or 9042)


def postgres_address() -> str:
    # The DSN of the test server; only its address is used here.
    dsn = os.environ.get("PC_POSTGRES_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/x")
    return dsn.rsplit("@", 1)[1].split("/", 1)[0]


def doctor_line(tmp_path, store: str) -> str:
    config = tmp_path / "c.yaml"
    config.write_text(f"persistence:\n  defaultStore: s\n  datastores:\n    s:\n{store}")
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[-1]


def cassandra_store(**settings: str | int) -> str:
    host, port = cassandra_host()
    values = {"hosts": host, "port": port, "connectTimeout": 3, **settings}
    body = "".join(f"        {key}: {value}\n" for key, value in values.items())
    return f"      cassandra:\n{body}"


@pytest.mark.cassandra
@pytest.mark.parametrize(
    ("settings", "needles"),
    [
        ({"hosts": "no-such-host.invalid"}, ["no-such-host.invalid", "do not resolve"]),
        ({"port": 1}, [":1", "connection refused"]),
        ({"datacenter": "no-such-dc"}, ["'no-such-dc'", "cassandra.datacenter", "datacenter1"]),
        (
            {"tls": "{enabled: true, enableHostVerification: false}"},
            ["TLS handshake failed", "cassandra.tls enabled"],
        ),
    ],
    ids=["unresolvable", "refused", "wrong-datacenter", "tls"],
)
def test_cassandra_connection_failures(tmp_path, settings, needles):
    line = doctor_line(tmp_path, cassandra_store(**settings))
    for needle in needles:
        assert needle in line, line


def test_an_empty_cassandra_host_list_is_a_config_error(tmp_path):
    line = doctor_line(tmp_path, cassandra_store(hosts="' , '"))
    assert "cassandra: hosts is empty" in line


def test_cassandra_authentication_failure_names_the_user_and_no_secret():
    config = CassandraConfig(hosts="10.1.2.3", user="app", password="s3cret")
    error = NoHostAvailable(
        "Unable to connect to any servers",
        {"10.1.2.3:9042": cassandra.AuthenticationFailed("Failed to authenticate to 10.1.2.3")},
    )
    failure = connect_failure(error, config)
    assert isinstance(failure, InvalidRequest)
    assert "10.1.2.3:9042: authentication failed (user 'app'" in str(failure)
    assert "s3cret" not in str(failure)


def test_an_unknown_driver_failure_keeps_the_target():
    failure = connect_failure(RuntimeError("boom"), CassandraConfig(hosts="h1,h2", port=9043))
    assert isinstance(failure, Unavailable)
    assert "h1,h2:9043" in str(failure)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("address", "password", "needles"),
    [
        (None, "wrong-password", ["password authentication failed", '"postgres"']),
        ("127.0.0.1:1", "postgres", ['"127.0.0.1", port 1', "refused"]),
        ("no-such-host.invalid:5432", "postgres", ["no-such-host.invalid"]),
    ],
    ids=["auth", "refused", "unresolvable"],
)
def test_postgres_connection_failures(tmp_path, address, password, needles):
    store = (
        "      sql:\n        pluginName: postgres\n        databaseName: postgres\n"
        f"        connectAddr: '{address or postgres_address()}'\n        user: postgres\n"
        f"        password: {password}\n"
    )
    line = doctor_line(tmp_path, store)
    for needle in needles:
        assert needle in line, line
    assert line.count("password authentication failed") <= 1
    assert "wrong-password" not in line


# ------------------------------------------------------------------ item 3: drivers


def test_the_readme_install_brings_every_backend_driver():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    required = " ".join(project["project"]["dependencies"])
    for driver in ("cassandra-driver", "psycopg"):
        assert driver in required


def test_a_missing_postgres_driver_names_the_extra(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "pg.yaml"
    config.write_text(
        "persistence:\n  defaultStore: p\n  datastores:\n    p:\n      sql:\n"
        "        pluginName: postgres\n        databaseName: app\n"
        "        connectAddr: 127.0.0.1:1\n"
    )
    # As if psycopg were not installed: an import of it fails.
    script = (
        "import sys; sys.modules['psycopg'] = None; "
        "from persistence_cassandra.cli.main import main; "
        f"sys.argv = ['persistence-cassandra', '--config', {str(config)!r}, 'doctor']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert "pip install 'persistence-cassandra[postgres]'" in line, result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ item 5: authentication


@pytest.fixture(scope="module")
def astra_stand():
    """The local Astra DB stand (token authentication, TLS through an SNI proxy), shared with
    the other tests of this process and closed at its exit."""
    from harness.astra_stand import shared_stand

    return shared_stand()


@pytest.mark.cassandra
def test_a_refused_astra_token_is_an_authentication_failure(tmp_path, astra_stand):
    bundle = astra_stand.bundle_path
    store = (
        "      cassandra:\n        keyspace: persistence\n        astra:\n"
        f"          secureConnectBundle: '{bundle}'\n          token: AstraCS:not-the-token\n"
    )
    line = doctor_line(tmp_path, store)
    assert f"Astra DB ({bundle.name})" in line, line
    assert "authentication failed (the token was refused; check cassandra.astra.token)" in line
    assert "not-the-token" not in line
