"""The driver's secure-connect-bundle path, end to end on the stand: bundle -> metadata service
(mutual TLS) -> SNI proxy (host id as SNI) -> node (TLS with a client certificate, token auth)."""

from __future__ import annotations

import json
import socket
import ssl
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cassandra import AuthenticationFailed, DriverException
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.connection import SniEndPoint

from harness.astra_stand import (
    TOKEN_ROLE,
    AstraStand,
    BundleContents,
    issue_certificates,
    write_secure_connect_bundle,
)


def _bundle_config(stand: AstraStand) -> dict[str, Any]:
    with zipfile.ZipFile(stand.bundle_path) as bundle:
        config: dict[str, Any] = json.loads(bundle.read("config.json"))
        return config


def test_the_bundle_holds_what_the_driver_reads(astra_stand: AstraStand) -> None:
    assert astra_stand.metadata is not None
    with zipfile.ZipFile(astra_stand.bundle_path) as bundle:
        assert {"config.json", "ca.crt", "cert", "key"} <= set(bundle.namelist())
    config = _bundle_config(astra_stand)
    assert config["host"] == astra_stand.settings.bundle_host
    assert config["port"] == astra_stand.metadata.port
    assert config["keyspace"] == astra_stand.keyspace
    assert config["localDC"] == "datacenter1"


def test_the_driver_connects_through_metadata_service_and_sni_proxy(
    astra_stand: AstraStand,
) -> None:
    assert astra_stand.metadata is not None and astra_stand.proxy is not None
    served_before = len(astra_stand.metadata.requests.served)
    routed_before = len(astra_stand.proxy.stats.routed)
    cluster = astra_stand.token_cluster()
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version, host_id FROM system.local").one()
        assert row.release_version.startswith("5.0")
        assert str(row.host_id) == astra_stand.host_id
        assert cluster.protocol_version == 4
        # Every node is reached through the proxy under its host id, as on Astra.
        endpoints = [host.endpoint for host in cluster.metadata.all_hosts()]
        assert endpoints and all(isinstance(e, SniEndPoint) for e in endpoints)
        assert {e.address for e in endpoints} == {"127.0.0.1"}
        assert {e.port for e in endpoints} == {astra_stand.proxy.port}
    finally:
        cluster.shutdown()
    new_requests = astra_stand.metadata.requests.served[served_before:]
    # The driver asked the metadata service once, presenting the bundle's client certificate.
    assert new_requests == [("/metadata", "astra-stand-client")]
    new_routes = astra_stand.proxy.stats.routed[routed_before:]
    assert new_routes and set(new_routes) == {astra_stand.host_id}


def test_the_proxy_refuses_a_server_name_that_is_no_host_id(astra_stand: AstraStand) -> None:
    assert astra_stand.proxy is not None
    context = ssl.create_default_context(cafile=str(astra_stand.certificates.ca_cert))
    with (
        socket.create_connection(("127.0.0.1", astra_stand.proxy.port), timeout=10) as raw,
        pytest.raises((ssl.SSLError, OSError)),
    ):
        context.wrap_socket(raw, server_hostname="not-a-host-id.example")
    assert "not-a-host-id.example" in astra_stand.proxy.stats.refused


def test_a_wrong_token_is_refused(astra_stand: AstraStand) -> None:
    cluster = Cluster(
        cloud={"secure_connect_bundle": str(astra_stand.bundle_path)},
        auth_provider=PlainTextAuthProvider(TOKEN_ROLE, "AstraCS:local:not-the-token"),
        protocol_version=4,
    )
    try:
        with pytest.raises(NoHostAvailable) as caught:
            cluster.connect()
    finally:
        cluster.shutdown()
    assert any(isinstance(e, AuthenticationFailed) for e in caught.value.errors.values())


def _bundle_with(stand: AstraStand, path: Path, *, ca: Path, cert: Path, key: Path) -> Path:
    config = _bundle_config(stand)
    return write_secure_connect_bundle(
        path,
        BundleContents(
            host=config["host"],
            port=config["port"],
            cql_port=config["cql_port"],
            keyspace=config["keyspace"],
            local_dc=config["localDC"],
            ca_cert=ca,
            client_cert=cert,
            client_key=key,
        ),
    )


def test_a_bundle_whose_ca_did_not_sign_the_server_is_refused(
    astra_stand: AstraStand, tmp_path: Path
) -> None:
    """The driver really verifies the server against the bundle's ca.crt."""
    foreign = issue_certificates(tmp_path / "foreign")
    mine = astra_stand.certificates
    bundle = _bundle_with(
        astra_stand,
        tmp_path / "foreign-ca.zip",
        ca=foreign.ca_cert,
        cert=mine.client_cert,
        key=mine.client_key,
    )
    with pytest.raises(DriverException, match="metadata service"):
        Cluster(cloud={"secure_connect_bundle": str(bundle)}, protocol_version=4)


def test_a_client_certificate_of_another_ca_is_refused(
    astra_stand: AstraStand, tmp_path: Path
) -> None:
    assert astra_stand.metadata is not None
    foreign = issue_certificates(tmp_path / "foreign")
    bundle = _bundle_with(
        astra_stand,
        tmp_path / "foreign-client.zip",
        ca=astra_stand.certificates.ca_cert,
        cert=foreign.client_cert,
        key=foreign.client_key,
    )
    failures_before = len(astra_stand.metadata.requests.failed_handshakes)
    with pytest.raises(DriverException, match="metadata service"):
        Cluster(cloud={"secure_connect_bundle": str(bundle)}, protocol_version=4)
    # The service notes the refusal on its own thread, possibly after the client gave up.
    deadline = time.monotonic() + 10
    while len(astra_stand.metadata.requests.failed_handshakes) == failures_before:
        assert time.monotonic() < deadline, "the metadata service saw no refused handshake"
        time.sleep(0.05)


def _node_context(stand: AstraStand, *, client_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(stand.certificates.ca_cert))
    if client_certificate:
        context.load_cert_chain(
            str(stand.certificates.client_cert), str(stand.certificates.client_key)
        )
    return context


def _handshake_and_read(stand: AstraStand, context: ssl.SSLContext, server_name: str) -> None:
    """TLS straight to the node; a CQL OPTIONS frame makes TLS 1.3 report a refused client."""
    with (
        socket.create_connection(("127.0.0.1", stand.settings.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(bytes([0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]))
        if not tls.recv(9):
            raise ConnectionResetError("closed by the node")


def test_the_node_requires_a_client_certificate(astra_stand: AstraStand) -> None:
    with pytest.raises((ssl.SSLError, OSError)):
        _handshake_and_read(
            astra_stand, _node_context(astra_stand, client_certificate=False), "localhost"
        )
    _handshake_and_read(
        astra_stand, _node_context(astra_stand, client_certificate=True), "localhost"
    )


def test_the_node_certificate_names_the_bundle_host(astra_stand: AstraStand) -> None:
    """cql-proxy (and other name-checking clients) verify the node against the bundle's host."""
    context = _node_context(astra_stand, client_certificate=True)
    assert context.check_hostname
    _handshake_and_read(astra_stand, context, astra_stand.settings.bundle_host)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake_and_read(astra_stand, context, "db.example.com")


def test_plaintext_cql_is_refused(astra_stand: AstraStand) -> None:
    with socket.create_connection(("127.0.0.1", astra_stand.settings.port), timeout=10) as raw:
        raw.sendall(bytes([0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]))
        try:
            reply = raw.recv(9)
        except OSError:
            reply = b""
    assert not reply.startswith(b"\x84")  # no CQL v4 response frame
