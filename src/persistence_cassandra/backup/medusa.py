"""medusa, driven as a command: one ``medusa.ini`` per node, and the calls we make.

medusa names a node's backups after its ``fqdn`` and backs up the node it runs beside, so
several nodes on one machine (the local cluster) each get their own ini, with ``fqdn`` set to
the node's address, and share the storage: the cluster's backup is then complete in one place.
Secrets (the CQL password) go through medusa's environment variables, never into the file.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persistence_cassandra.backup.errors import BackupError
from persistence_cassandra.backup.settings import BackupNode, BackupSettings
from persistence_cassandra.config import CassandraConfig

__all__ = ["MedusaNode", "MedusaRun", "render_medusa_ini"]

COMMAND_TIMEOUT = 3600.0


def render_medusa_ini(
    settings: BackupSettings, node: BackupNode, cassandra: CassandraConfig | None = None
) -> str:
    """The ``medusa.ini`` of one node."""
    parser = configparser.ConfigParser(interpolation=None)
    storage = settings.storage
    storage_section: dict[str, str] = {
        "storage_provider": storage.provider,
        "bucket_name": storage.bucket,
        "fqdn": node.address,
        "use_sudo_for_restore": "False",
        # Our own deletions (a failed or empty backup) must not wait ten days.
        "backup_grace_period_in_days": "0",
    }
    if storage.is_local:
        storage_section["base_path"] = str(storage.local_root(settings.store).parent)
    if storage.prefix:
        storage_section["prefix"] = storage.prefix
    storage_section.update(storage.options)
    cassandra_section: dict[str, str] = {
        "config_file": node.cassandra_yaml,
        "start_cmd": node.start_cmd,
        "stop_cmd": node.stop_cmd,
        "use_sudo": "False",
        # Addresses stay addresses: the token map must name the node as fqdn does.
        "resolve_ip_addresses": "False",
        "nodetool_executable": node.nodetool,
    }
    if node.jmx_host:
        cassandra_section["nodetool_host"] = node.jmx_host
    if node.jmx_port is not None:
        cassandra_section["nodetool_port"] = str(node.jmx_port)
    if cassandra is not None and cassandra.tls.enabled and cassandra.tls.ca_file:
        cassandra_section["certfile"] = cassandra.tls.ca_file
        if cassandra.tls.cert_file and cassandra.tls.key_file:
            cassandra_section["usercert"] = cassandra.tls.cert_file
            cassandra_section["userkey"] = cassandra.tls.key_file
    cassandra_section.update(node.options)
    parser["storage"] = storage_section
    parser["cassandra"] = cassandra_section
    parser["checks"] = {"health_check": "cql"}
    parser["logging"] = {"enabled": "False"}
    parser["grpc"] = {"enabled": "False"}
    text = io.StringIO()
    text.write("# Written by persistence-cassandra backup; rewritten on every run.\n")
    parser.write(text)
    return text.getvalue()


@dataclass(frozen=True, slots=True)
class MedusaRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_line(self) -> str:
        """medusa's most telling line: its last ERROR, else its last line."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [
            line
            for line in lines
            if line.startswith("ERROR") and "Traceback" not in line and "handle_" not in line
        ]
        if errors:
            return errors[-1].removeprefix("ERROR: ")
        return lines[-1] if lines else f"exit code {self.returncode}"

    def json(self) -> Any:
        """The JSON document medusa printed (its last line that parses)."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith(("[", "{")):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        raise BackupError(f"medusa {' '.join(self.args)} printed no JSON: {self.error_line()}")


class MedusaNode:
    """medusa for one node: its ini (written on creation) and its commands."""

    def __init__(
        self,
        executable: Path,
        settings: BackupSettings,
        node: BackupNode,
        cassandra: CassandraConfig | None = None,
    ) -> None:
        self.executable = executable
        self.node = node
        self.work_dir = settings.work_root / node.address
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "tmp").mkdir(exist_ok=True)
        self.ini = self.work_dir / "medusa.ini"
        self.ini.write_text(render_medusa_ini(settings, node, cassandra), encoding="utf-8")
        self._env = dict(os.environ)
        # medusa keeps a "backup in progress" marker at a fixed name in the temp directory:
        # nodes backed up at once on one machine need temp directories of their own.
        self._env["TMPDIR"] = str(self.work_dir / "tmp")
        self._env.pop("PYTHONPATH", None)
        if cassandra is not None and cassandra.user and cassandra.password is not None:
            self._env["MEDUSA_CQL_USERNAME"] = cassandra.user
            self._env["MEDUSA_CQL_PASSWORD"] = cassandra.password.get_secret_value()

    @property
    def address(self) -> str:
        return self.node.address

    @property
    def log_path(self) -> Path:
        return self.work_dir / "medusa.log"

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> MedusaRun:
        command = [
            str(self.executable),
            "--config-file",
            str(self.ini),
            "--without-log-timestamp",
            *args,
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=self._env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise BackupError(
                f"medusa {args[0]} on {self.address} did not finish within {timeout:.0f}s"
            ) from None
        except OSError as exc:
            raise BackupError(f"cannot run medusa ({self.executable}): {exc.strerror}") from None
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"$ medusa {' '.join(args)}  (exit {done.returncode})\n")
            log.write(done.stdout)
            log.write(done.stderr)
        return MedusaRun(tuple(args), done.returncode, done.stdout, done.stderr)

    def nodetool(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """The node's nodetool with the flags and JMX address medusa will use."""
        command = [self.node.nodetool, "-Dcom.sun.jndi.rmiURLParsing=legacy"]
        if self.node.jmx_host:
            command += ["-h", self.node.jmx_host]
        if self.node.jmx_port is not None:
            command += ["-p", str(self.node.jmx_port)]
        try:
            return subprocess.run(
                [*command, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(command, 124, "", f"timed out after {timeout}s")
        except OSError as exc:
            return subprocess.CompletedProcess(command, 127, "", f"{exc.strerror}: {command[0]}")
