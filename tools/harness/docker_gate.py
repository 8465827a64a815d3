"""pytest plugin: start the test servers with pytest-docker when a Docker engine answers.

pytest-docker errors (it does not skip) when there is no engine, so its ``docker_services``
fixture is requested lazily, only after ``docker info`` and ``docker compose version`` both
answered. The endpoints of the containers are handed to :mod:`.servers` through the same
environment variables an operator would set, so every later lookup finds them. Set
``PC_USE_DOCKER=0`` to never use Docker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.servers import docker_engine_available


@pytest.fixture(scope="session")
def docker_compose_file(pytestconfig: pytest.Config) -> str:
    return str(Path(str(pytestconfig.rootpath)) / "docker-compose.yml")


@pytest.fixture(scope="session", autouse=True)
def servers_from_docker(request: pytest.FixtureRequest) -> None:
    wanted = [v for v in ("PC_CASSANDRA_HOSTS", "PC_POSTGRES_DSN") if not os.environ.get(v)]
    if not wanted or os.environ.get("PC_USE_DOCKER") == "0" or not docker_engine_available():
        return
    compose = Path(str(request.config.rootpath)) / "docker-compose.yml"
    if not compose.is_file():
        return
    services = request.getfixturevalue("docker_services")
    ip = request.getfixturevalue("docker_ip")
    if "PC_CASSANDRA_HOSTS" in wanted:
        os.environ["PC_CASSANDRA_HOSTS"] = f"{ip}:{services.port_for('cassandra', 9042)}"
    if "PC_POSTGRES_DSN" in wanted:
        port = services.port_for("postgres", 5432)
        os.environ["PC_POSTGRES_DSN"] = f"postgresql://postgres@{ip}:{port}/postgres"
