"""A TLS pass-through proxy that routes each connection by its SNI name, like Astra's.

Astra DB gives a client one address for every node: an SNI proxy. The driver opens each
connection there with the node's host id as the TLS server name, and the proxy forwards the
still-encrypted stream to that node, which terminates TLS itself (so the client certificate
reaches the node). This proxy does the same on 127.0.0.1: it reads the ClientHello, takes the
``server_name`` extension, and forwards the bytes unchanged to the node registered under that
host id. A connection without a known host id is refused and recorded, which is how the tests
prove that the driver really sent the host id.

It runs its own asyncio loop on a daemon thread, so a blocking caller (the driver, a test) can
use it without an event loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["SniProxy", "SniProxyStats", "server_name_from_client_hello"]

_HANDSHAKE_RECORD = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME_EXTENSION = 0x0000
_HOST_NAME = 0x00
_RECORD_HEADER = 5
_CHUNK = 64 * 1024
_HELLO_TIMEOUT = 10.0


def server_name_from_client_hello(record: bytes) -> str | None:
    """The SNI host name of a TLS record holding a ClientHello; ``None`` if it has none or
    the bytes are not a ClientHello (RFC 8446 4.1.2, RFC 6066 3)."""
    try:
        if record[0] != _HANDSHAKE_RECORD or record[_RECORD_HEADER] != _CLIENT_HELLO:
            return None
        pos = _RECORD_HEADER + 4  # handshake type and 3-byte length
        pos += 2 + 32  # legacy_version, random
        pos += 1 + record[pos]  # legacy_session_id
        pos += 2 + int.from_bytes(record[pos : pos + 2], "big")  # cipher_suites
        pos += 1 + record[pos]  # legacy_compression_methods
        end = pos + 2 + int.from_bytes(record[pos : pos + 2], "big")
        pos += 2
        while pos + 4 <= end:
            kind = int.from_bytes(record[pos : pos + 2], "big")
            size = int.from_bytes(record[pos + 2 : pos + 4], "big")
            pos += 4
            if kind == _SERVER_NAME_EXTENSION:
                names_end = pos + 2 + int.from_bytes(record[pos : pos + 2], "big")
                pos += 2
                while pos + 3 <= names_end:
                    name_type = record[pos]
                    length = int.from_bytes(record[pos + 1 : pos + 3], "big")
                    pos += 3
                    if name_type == _HOST_NAME:
                        if pos + length > len(record):
                            return None  # cut short: never route by part of a name
                        return record[pos : pos + length].decode("ascii")
                    pos += length
                return None
            pos += size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


@dataclass
class SniProxyStats:
    """What the proxy saw; read by tests (lists only grow, appended on the proxy thread)."""

    routed: list[str] = field(default_factory=list)
    """SNI names of the connections forwarded to a node."""
    refused: list[str | None] = field(default_factory=list)
    """SNI names (``None``: none sent) of the connections refused."""


class SniProxy:
    """Listens on ``host:port`` (0 = any free port) and forwards by SNI to ``routes``."""

    def __init__(
        self, routes: Mapping[str, tuple[str, int]], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._routes = dict(routes)
        self._host = host
        self._requested_port = port
        self.port = 0
        self.stats = SniProxyStats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="astra-sni-proxy", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """``host:port``, as the metadata service's ``sni_proxy_address``."""
        return f"{self._host}:{self.port}"

    def start(self) -> SniProxy:
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, self._host, self._requested_port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def close(self) -> None:
        """Stop listening and cut every forwarded connection (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._forward(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            hello = await asyncio.wait_for(self._read_first_record(reader), _HELLO_TIMEOUT)
            name = server_name_from_client_hello(hello) if hello else None
            route = self._routes.get(name) if name is not None else None
            if route is None:
                self.stats.refused.append(name)
                return
            self.stats.routed.append(name)  # type: ignore[arg-type]  # route implies a name
            upstream_reader, upstream = await asyncio.open_connection(*route)
            upstream.write(hello)
            await asyncio.gather(
                _pipe(reader, upstream), _pipe(upstream_reader, writer), return_exceptions=True
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # a client that went away, or a node that is down: the client sees a reset
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()

    @staticmethod
    async def _read_first_record(reader: asyncio.StreamReader) -> bytes:
        header = await reader.readexactly(_RECORD_HEADER)
        length = int.from_bytes(header[3:5], "big")
        return header + await reader.readexactly(length)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream; then close ``sink``, which ends the opposite pipe too."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    finally:
        with contextlib.suppress(Exception):
            sink.close()
