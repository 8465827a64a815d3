"""The local Astra DB stand: an Astra-profile node, its roles, a bundle, a metadata service and an
SNI proxy, started together so the driver's secure-connect-bundle path runs for real.

Start-up, in order (each step is timed in :attr:`AstraStand.timings`):

1. **certificates**: a private CA, the node's certificate and a client certificate
   (:mod:`.certificates`), made once and kept in the stand directory;
2. **node**: ``tools/cassandra_local.py`` with the ``astra`` profile (PasswordAuthenticator,
   CassandraAuthorizer, client TLS with client certificates required, Astra's guardrails), on
   its own port (9142) and directory, so the plain development node on 9042 is never touched.
   A node already running there is reused;
3. **setup**, as the built-in superuser (what Astra's portal does for a user): the keyspace of
   the bundle, created with NetworkTopologyStrategy, and the application role ``token``, a
   non-superuser whose password is the stand's ``AstraCS:local:...`` token. Guardrails skip
   superusers, so everything the tests do goes through that role. It may create, read, write
   and drop tables in the keyspace (``CREATE``, ``SELECT``, ``MODIFY``, ``DROP`` on it) and
   holds every right on the tables it creates; it never gets ``CREATE`` on all keyspaces or
   ``ALTER`` on a keyspace, so keyspace DDL is refused as on Astra, and ``DROP KEYSPACE`` is
   refused by the ``drop_keyspace_enabled: false`` guardrail;
4. **services**: the SNI proxy (routing the node's host id to its CQL port) and the metadata
   service (naming that proxy and host id), on free ports of 127.0.0.1, then the secure
   connect bundle pointing at them.

The services live in the process that started the stand (daemon threads). The node is shared:
every process using it holds a lease (a file named by its pid), and the last one to close stops
the node if a stand started it, unless ``PC_KEEP_SERVERS=1``. A node started by hand
(``tools/cassandra_local.py``) is never stopped by the stand.

The node runs with ``-XX:TieredStopAtLevel=1`` (no C2 compiler): on this project's 2-core
machines it comes up in about 25 s instead of 30-70 s under load, and the conformance suite runs
faster too, because C2 compilation no longer competes with the tests for the two cores.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import servers
from harness.astra_stand.bundle import (
    BundleContents,
    write_secure_connect_bundle,
)
from harness.astra_stand.certificates import (
    StandCertificates,
    issue_certificates,
)
from harness.astra_stand.metadata_service import (
    ContactInfo,
    MetadataService,
)
from harness.astra_stand.node_leases import NodeLeases
from harness.astra_stand.sni_proxy import SniProxy
from persistence_cassandra.config import DatastoreConfig

__all__ = [
    "DEFAULT_KEYSPACE",
    "DEFAULT_PORT",
    "KEYSPACE_PERMISSIONS",
    "TOKEN_ROLE",
    "AstraStand",
    "StandSettings",
    "close_shared_stand",
    "shared_stand",
]

DEFAULT_PORT = 9142
DEFAULT_KEYSPACE = "astra_ks"
TOKEN_ROLE = "token"
"""Astra's user name for token authentication; the token is the password."""
KEYSPACE_PERMISSIONS = ("CREATE", "SELECT", "MODIFY", "DROP")
LOCAL_DC = "datacenter1"
"""The datacenter of Cassandra's SimpleSnitch, which the stand's node uses."""
BUNDLE_NAME = "secure-connect-astra-stand.zip"
_SUPERUSER = ("cassandra", "cassandra")
_SETUP_TIMEOUT = 60.0
FAST_START_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


@dataclass(frozen=True)
class StandSettings:
    """Where and how the stand runs; defaults honour ``PC_ASTRA_PORT``/``PC_ASTRA_STAND_DIR``."""

    port: int = field(default_factory=lambda: _env_int("PC_ASTRA_PORT", DEFAULT_PORT))
    """The node's CQL port (TLS only)."""
    directory: Path | None = field(default_factory=lambda: _env_path("PC_ASTRA_STAND_DIR"))
    """Certificates, token and node; default ``<cache>/node-astra-<port>``."""
    keyspace: str = DEFAULT_KEYSPACE
    bundle_host: str = "localhost"
    """The bundle's ``host``: the metadata service's name, in the node certificate too."""
    metadata_port: int = 0
    proxy_port: int = 0
    bundle_path: Path | None = None
    """Default: a private temporary directory, removed on close."""
    heap: str | None = None
    jvm_options: tuple[str, ...] = FAST_START_JVM_OPTIONS
    timeout: float = 240.0
    quiet: bool = True


def _tool() -> Any:
    return servers._cassandra_tool()


class AstraStand:
    """A running stand. Make one with :meth:`start`; :meth:`close` stops what it started."""

    def __init__(self, settings: StandSettings) -> None:
        self.settings = settings
        tool = _tool()
        self.directory = (
            settings.directory.expanduser().resolve()
            if settings.directory is not None
            else tool.default_cache_root() / f"node-astra-{settings.port}"
        )
        self.certificates = StandCertificates(self.directory / "tls")
        self._leases = NodeLeases(self.directory)
        self._holds_lease = False
        self.keyspace = settings.keyspace
        self.token = ""
        self.host_id = ""
        self.release_version = ""
        self.started_node = False
        self.timings: dict[str, float] = {}
        self.proxy: SniProxy | None = None
        self.metadata: MetadataService | None = None
        self._temporary: Path | None = None
        self._bundle_path: Path | None = None
        self._admin: Any = None  # cassandra.cluster.Cluster of the superuser
        self._admin_session: Any = None
        self._closed = False
        self._token_is_new = False

    # ----------------------------------------------------------------------- start-up

    @classmethod
    def start(cls, settings: StandSettings | None = None) -> AstraStand:
        """Bring every part up (blocking; about 30 s when the node must start, 2 s if it
        runs). Raises :class:`~harness.servers.ServerUnavailable`."""
        stand = cls(settings or StandSettings())
        try:
            stand._start()
        except BaseException:
            stand.close(stop_node=stand.started_node)
            raise
        return stand

    def _start(self) -> None:
        began = time.monotonic()
        with self._timed("certificates"):
            certificates = issue_certificates(
                self.certificates.directory,
                dns_names=tuple(dict.fromkeys((self.settings.bundle_host, "localhost"))),
                ip_addresses=("127.0.0.1",),
            )
            self.token = self._load_token()
        with self._timed("node"), self._leases.locked():
            self._leases.acquire()
            self._holds_lease = True
            self._start_node(certificates)
            if self.started_node:
                self._leases.mark_started(True)
        with self._timed("setup"):
            self._connect_admin()
            self._set_up_roles_and_keyspace()
        with self._timed("services"):
            self._start_services()
        self.timings["total"] = time.monotonic() - began

    @contextlib.contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        began = time.monotonic()
        yield
        self.timings[step] = time.monotonic() - began

    def node_settings(self) -> Any:
        """The ``cassandra_local.NodeSettings`` of the stand's node."""
        tool = _tool()
        options: dict[str, Any] = {}
        if self.settings.heap:
            options["heap"] = self.settings.heap
        return tool.NodeSettings(
            port=self.settings.port,
            data_dir=self.directory / "node",
            timeout=self.settings.timeout,
            quiet=self.settings.quiet,
            username=_SUPERUSER[0],
            password=_SUPERUSER[1],
            yaml=tool.YamlSettings(profile="astra"),
            client_tls=tool.ClientTls.from_dir(self.certificates.directory),
            extra_jvm_options=self.settings.jvm_options,
            **options,
        )

    def _load_token(self) -> str:
        path = self.directory / "token"
        with contextlib.suppress(FileNotFoundError):
            token = path.read_text(encoding="ascii").strip()
            if token:
                return token
        token = f"AstraCS:local:{secrets.token_hex(32)}"
        self._token_is_new = True
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # first writer wins when several processes start the stand at once
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(token + "\n")
        return token

    def _start_node(self, certificates: StandCertificates) -> None:
        tool = _tool()
        settings = self.node_settings()
        if certificates.issued_now and tool.node_status(settings).running:
            # A node still holding the previous CA would refuse every new client.
            tool.stop_node(settings)
        try:
            info = tool.start_node(settings)
        except tool.CassandraLocalError as exc:
            details = f"\n{exc.details}" if exc.details else ""
            raise servers.ServerUnavailable(
                f"the Astra stand's node did not start: {exc.message}{details}"
            ) from exc
        self.started_node = not info.already_running
        self.release_version = info.release_version or ""

    def _admin_ssl_context(self) -> ssl.SSLContext:
        # Full verification, name included: the driver dials 127.0.0.1, a SAN of the node.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(self.certificates.ca_cert))
        context.load_cert_chain(
            certfile=str(self.certificates.client_cert), keyfile=str(self.certificates.client_key)
        )
        return context

    def _connect_admin(self) -> None:
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy

        profile = ExecutionProfile(
            load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=LOCAL_DC),
            request_timeout=_SETUP_TIMEOUT,
        )
        deadline = time.monotonic() + _SETUP_TIMEOUT
        while True:
            cluster = Cluster(
                ["127.0.0.1"],
                port=self.settings.port,
                ssl_context=self._admin_ssl_context(),
                auth_provider=PlainTextAuthProvider(*_SUPERUSER),
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                protocol_version=5,
            )
            try:
                self._admin_session = cluster.connect()
                self._admin = cluster
                return
            except Exception as exc:  # the superuser role appears shortly after CQL opens
                cluster.shutdown()
                if time.monotonic() > deadline:
                    raise servers.ServerUnavailable(
                        f"the Astra stand's node refused the superuser: {exc}"
                    ) from exc
                time.sleep(0.5)

    def superuser(self) -> Any:
        """A ``cassandra.cluster.Session`` of the superuser, straight to the node (TLS).
        Guardrails do not apply to it: it plays Astra's portal and DevOps API."""
        if self._admin_session is None:
            raise RuntimeError("the stand is not started")
        return self._admin_session

    def _set_up_roles_and_keyspace(self) -> None:
        session = self.superuser()
        token = self.token.replace("'", "''")
        exists = session.execute(
            "SELECT role FROM system_auth.roles WHERE role = %s", (TOKEN_ROLE,)
        ).one()
        if exists is None:
            session.execute(
                f"CREATE ROLE IF NOT EXISTS '{TOKEN_ROLE}' "
                f"WITH PASSWORD = '{token}' AND LOGIN = true AND SUPERUSER = false"
            )
        elif self._token_is_new:
            # A token file made after the role (deleted by hand while the node kept its
            # data). Only then: Cassandra refuses a second password change within 5 s.
            session.execute(f"ALTER ROLE '{TOKEN_ROLE}' WITH PASSWORD = '{token}'")
        self.create_keyspace(self.keyspace)
        row = session.execute("SELECT host_id FROM system.local").one()
        self.host_id = str(row.host_id)

    def _start_services(self) -> None:
        self.proxy = SniProxy(
            {self.host_id: ("127.0.0.1", self.settings.port)}, port=self.settings.proxy_port
        ).start()
        self.metadata = MetadataService(
            ContactInfo(
                local_dc=LOCAL_DC,
                sni_proxy_address=self.proxy.address,
                contact_points=[self.host_id],
            ),
            ca_file=str(self.certificates.ca_cert),
            cert_file=str(self.certificates.node_cert),
            key_file=str(self.certificates.node_key),
            port=self.settings.metadata_port,
        ).start()
        path = self.settings.bundle_path
        if path is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="pc-astra-stand-"))
            path = self._temporary / BUNDLE_NAME
        self._bundle_path = write_secure_connect_bundle(
            path,
            BundleContents(
                host=self.settings.bundle_host,
                port=self.metadata.port,
                cql_port=self.settings.port,
                keyspace=self.keyspace,
                local_dc=LOCAL_DC,
                ca_cert=self.certificates.ca_cert,
                client_cert=self.certificates.client_cert,
                client_key=self.certificates.client_key,
            ),
        )

    # ----------------------------------------------------------------------- use

    @property
    def bundle_path(self) -> Path:
        if self._bundle_path is None:
            raise RuntimeError("the stand is not started")
        return self._bundle_path

    def cassandra_config(self, keyspace: str | None = None) -> dict[str, Any]:
        """The ``cassandra:`` block of a datastore on the stand, as a user writes it for Astra."""
        return {
            "keyspace": keyspace or self.keyspace,
            "astra": {"secureConnectBundle": str(self.bundle_path), "token": self.token},
        }

    def datastore_config(self, keyspace: str | None = None) -> DatastoreConfig:
        return DatastoreConfig.model_validate({"cassandra": self.cassandra_config(keyspace)})

    def token_cluster(self, **options: Any) -> Any:
        """A driver ``Cluster`` of the token role through the bundle (not connected yet).

        Its default consistency is LOCAL_QUORUM: on Astra the driver picks that itself, because
        the server advertises ``PRODUCT_TYPE=DATASTAX_APOLLO``, which Apache Cassandra does not;
        left at the driver's LOCAL_ONE every write would hit the consistency guardrail.
        """
        from cassandra import ConsistencyLevel
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

        options.setdefault("protocol_version", 4)
        options.setdefault(
            "execution_profiles",
            {
                EXEC_PROFILE_DEFAULT: ExecutionProfile(
                    load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(LOCAL_DC)),
                    consistency_level=ConsistencyLevel.LOCAL_QUORUM,
                    serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
                )
            },
        )
        return Cluster(
            cloud={"secure_connect_bundle": str(self.bundle_path)},
            auth_provider=PlainTextAuthProvider(TOKEN_ROLE, self.token),
            **options,
        )

    def create_keyspace(self, name: str | None = None) -> str:
        """Create a keyspace the token role may use, as Astra's portal would; returns its name."""
        keyspace = name or f"pc_astra_{uuid.uuid4().hex[:12]}"
        session = self.superuser()
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            f"{{'class': 'NetworkTopologyStrategy', '{LOCAL_DC}': 1}}"
        )
        for permission in KEYSPACE_PERMISSIONS:
            session.execute(f"GRANT {permission} ON KEYSPACE {keyspace} TO '{TOKEN_ROLE}'")
        return keyspace

    def drop_keyspace(self, name: str) -> None:
        """Drop a keyspace, as Astra's portal would (the token role cannot)."""
        self.superuser().execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)

    # ----------------------------------------------------------------------- shutdown

    def close(self, *, stop_node: bool | None = None) -> None:
        """Stop the services and remove the temporary bundle; stop the node when
        ``stop_node`` (default: when no other process uses it, a stand started it and
        ``PC_KEEP_SERVERS`` is not 1)."""
        if self._closed:
            return
        self._closed = True
        for service in (self.metadata, self.proxy):
            if service is not None:
                with contextlib.suppress(Exception):
                    service.close()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.shutdown()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
        if not self._holds_lease and not stop_node:
            return
        with self._leases.locked():
            others = self._leases.release() if self._holds_lease else False
            if stop_node is None:
                stop_node = (
                    not others
                    and self._leases.started_by_stand
                    and os.environ.get("PC_KEEP_SERVERS") != "1"
                )
            if stop_node:
                with contextlib.suppress(Exception):
                    self.stop_node()

    def stop_node(self) -> bool:
        """Stop the stand's node now (whoever uses it); True if it was running."""
        stopped: bool = _tool().stop_node(self.node_settings())
        self._leases.mark_started(False)
        return stopped

    def __enter__(self) -> AstraStand:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_shared: AstraStand | None = None
_shared_lock = threading.Lock()


def shared_stand() -> AstraStand:
    """The stand of this process, started on first use and closed at exit (tests share it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = AstraStand.start()
            atexit.register(close_shared_stand)
        return _shared


def close_shared_stand() -> None:
    """Close the stand of :func:`shared_stand` (at exit, or at the end of a test session)."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None
