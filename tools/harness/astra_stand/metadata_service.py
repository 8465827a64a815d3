"""Astra's metadata service on 127.0.0.1: ``GET /metadata`` over mutual TLS.

With a secure connect bundle the driver first asks ``https://<host>:<port>/metadata`` (host and
port from the bundle's ``config.json``, with the bundle's CA and client certificate) where the
cluster is. The answer names the local datacenter, the SNI proxy to dial and the host ids to use
as SNI names (``cassandra/datastax/cloud/__init__.py``, ``parse_metadata_info``)::

    {"version": 1, "region": "local",
     "contact_info": {"type": "sni_proxy", "local_dc": "datacenter1",
                      "sni_proxy_address": "127.0.0.1:40123",
                      "contact_points": ["f4f5e133-cff2-4045-8817-1220d1da1921"]}}

Like Astra's, the service refuses a client without a certificate of the bundle's CA.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ContactInfo", "MetadataService"]


@dataclass(frozen=True, slots=True)
class ContactInfo:
    local_dc: str
    sni_proxy_address: str
    contact_points: Sequence[str]
    region: str = "local"

    def document(self) -> dict[str, Any]:
        return {
            "version": 1,
            "region": self.region,
            "contact_info": {
                "type": "sni_proxy",
                "local_dc": self.local_dc,
                "sni_proxy_address": self.sni_proxy_address,
                "contact_points": list(self.contact_points),
            },
        }


@dataclass
class MetadataRequests:
    """Requests served, as (path, client certificate common name); read by tests."""

    served: list[tuple[str, str | None]] = field(default_factory=list)
    failed_handshakes: list[str] = field(default_factory=list)
    """Why TLS failed, e.g. a client without a certificate of the bundle's CA."""


class _TlsHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, service: Any) -> None:
        super().__init__(address, _MetadataHandler)
        self.context = context
        self.service = service

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        # The handshake runs on the handler's thread (setup), so one slow client cannot stall
        # the accept loop.
        wrapped = self.context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A refused client is part of what the service does, not a crash to print.
        error = sys.exc_info()[1]
        self.service.requests.failed_handshakes.append(f"{type(error).__name__}: {error}")


def _common_name(certificate: Any) -> str | None:
    for relative_name in (certificate or {}).get("subject", ()):
        for key, value in relative_name:
            if key == "commonName":
                return str(value)
    return None


class _MetadataHandler(BaseHTTPRequestHandler):
    server: _TlsHttpServer
    request: ssl.SSLSocket

    def setup(self) -> None:
        self.request.settimeout(10)
        self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        service: MetadataService = self.server.service
        common_name = _common_name(self.request.getpeercert())
        service.requests.served.append((self.path, common_name))
        if self.path.split("?", 1)[0] != "/metadata":
            self.send_error(404)
            return
        body = json.dumps(service.contact_info.document()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on the test output


class MetadataService:
    """Serves ``contact_info`` on ``https://host:port/metadata`` from a daemon thread."""

    def __init__(
        self,
        contact_info: ContactInfo,
        *,
        ca_file: str,
        cert_file: str,
        key_file: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.contact_info = contact_info
        self.requests = MetadataRequests()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile=cert_file, keyfile=key_file)
        context.load_verify_locations(cafile=ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
        self._server = _TlsHttpServer((host, port), context, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="astra-metadata-service",
            daemon=True,
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def start(self) -> MetadataService:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
