"""The conformance suite as a backend author gets it: the package alone, no ``tools/harness``.

The suite runs in a child pytest whose root is a temporary directory holding nothing but the
two files the plugin's docstring asks for, so neither this checkout's ``conftest.py`` nor
``tools`` is importable there. The built-in targets then find servers only through
``PC_POSTGRES_DSN`` / ``PC_CASSANDRA_HOSTS``, and a missing one fails with the variable to set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = """
import pytest

from persistence_cassandra.testing.targets import get_target, selected_target_names

pytest_plugins = ["persistence_cassandra.testing.plugin"]


@pytest.fixture(scope="session", params=selected_target_names())
async def stores(request):
    async with get_target(request.param).open() as bundle:
        yield bundle
"""

SUITE = "from persistence_cassandra.testing.suite import *  # noqa: F403\n"

PYTEST_INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


def _author_tree(root: Path) -> Path:
    (root / "conftest.py").write_text(CONFTEST)
    (root / "test_my_backend.py").write_text(SUITE)
    (root / "pytest.ini").write_text(PYTEST_INI)
    return root


def _run_suite(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root), *args],
        cwd=root,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_harness_is_not_in_the_package() -> None:
    import persistence_cassandra.testing as testing

    package = Path(testing.__file__).parent
    for gone in ("servers.py", "local_cluster.py", "fault_schedule.py", "docker_gate.py"):
        assert not (package / gone).exists(), gone
    assert not (package / "astra_stand").exists()


def test_only_the_server_free_and_environment_targets_are_built_in(tmp_path: Path) -> None:
    probe = (
        "from persistence_cassandra.testing.targets import default_target_names\n"
        "print(','.join(default_target_names()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "sqlite-memory,sqlite-file,postgres,cassandra"


def test_the_suite_runs_against_the_authors_own_cassandra(tmp_path: Path) -> None:
    endpoint = os.environ.get("PC_CASSANDRA_HOSTS")
    if not endpoint:
        from harness import servers

        endpoint = servers.cassandra_endpoint()
    done = _run_suite(
        _author_tree(tmp_path),
        {"PC_TEST_TARGETS": "sqlite-memory,cassandra", "PC_CASSANDRA_HOSTS": endpoint},
        "-k",
        "TestShardStore or TestTaskQueues",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and "skipped" not in done.stdout


@pytest.mark.parametrize(
    ("target", "variable"), [("cassandra", "PC_CASSANDRA_HOSTS"), ("postgres", "PC_POSTGRES_DSN")]
)
def test_a_target_without_its_server_fails_naming_the_variable(
    tmp_path: Path, target: str, variable: str
) -> None:
    done = _run_suite(
        _author_tree(tmp_path),
        {"PC_TEST_TARGETS": target, variable: ""},
        "-k",
        "TestShardStore",
    )
    assert done.returncode != 0
    assert f"set {variable}" in done.stdout
    assert "skipped" not in done.stdout
