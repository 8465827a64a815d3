"""A driver connection whose socket is served by the stores' asyncio event loop.

The driver's stock connections (libev) run their sockets on an I/O thread of their own. A
request from the event loop then crosses threads twice: the write is queued for the I/O thread
and its wakeup sent (a request timer is handed over the same way), and the response is decoded
on the I/O thread and handed back through ``call_soon_threadsafe``, a wakeup of the loop. Each
crossing is a system call, a context switch and a GIL hand-over; on the bench's lifecycle they
cost more client CPU than our whole layer (issue 18, ``docs/benchmarks.md``).

:class:`LoopConnection` keeps the driver's protocol code (framing, stream ids, the handshake,
the response futures) and replaces only the transport: the socket is registered with the
event loop, a write from the loop is sent at once (what the kernel does not take waits for
the socket to be writable), responses are decoded on the loop, and request timers are the
loop's ``call_later``. The driver's own threads (the control connection, heartbeats, pool
creation, retries) still send from their threads: their writes, timers and closes are passed
to the loop with ``call_soon_threadsafe``.

What it asks of its user: the loop must keep running while the cluster is open, and blocking
driver calls (connect, prepare, shutdown) must stay off the loop, as they always had to, since
they wait for responses only the loop can read. ``CassandraSession`` keeps both.
"""

from __future__ import annotations

import asyncio
import io
import ssl
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from cassandra.connection import Connection, ConnectionBusy, ConnectionShutdown
from cassandra.protocol import ProtocolHandler

from persistence_cassandra.backends.cassandra.framing import UncompressedSegmentCodec

__all__ = ["LoopConnection", "loop_connection_class"]

_FRAMING = UncompressedSegmentCodec()

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _LoopTimer:
    """A request timer on the loop: what ``ResponseFuture`` needs of one (``cancel``)."""

    __slots__ = ("_cancelled", "_handle")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        loop_thread: int,
        timeout: float,
        callback: Callable[[], object],
    ) -> None:
        self._cancelled = False
        self._handle: asyncio.TimerHandle | None = None
        if threading.get_ident() == loop_thread:
            self._handle = loop.call_later(timeout, callback)
        else:
            loop.call_soon_threadsafe(self._arm, loop, timeout, callback)

    def _arm(
        self, loop: asyncio.AbstractEventLoop, timeout: float, callback: Callable[[], object]
    ) -> None:
        if not self._cancelled:
            self._handle = loop.call_later(timeout, callback)

    def cancel(self) -> None:
        # A cancelled handle drops its callback at once, so the response it would time out
        # (and its rows) is not kept alive by the loop's timer heap.
        self._cancelled = True
        if self._handle is not None:
            self._handle.cancel()


class LoopConnection(Connection):  # type: ignore[misc]  # the driver is untyped
    """The driver's connection over a socket the event loop serves.

    Used through :func:`loop_connection_class`, which binds it to one loop.
    """

    _loop: asyncio.AbstractEventLoop
    _loop_thread: int
    is_closed: bool  # the driver's attributes this class reads and sets
    is_defunct: bool

    @classmethod
    def initialize_reactor(cls) -> None:
        """Nothing to start: the reactor is the caller's event loop."""

    @classmethod
    def create_timer(cls, timeout: float, callback: Callable[[], object]) -> _LoopTimer:
        return _LoopTimer(cls._loop, cls._loop_thread, timeout, callback)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Connection.__init__(self, *args, **kwargs)
        self._unsent: deque[bytes | memoryview] = deque()
        # Blocking connect (and TLS handshake) in the connecting thread, which is never the
        # loop's: the driver's factory then waits for the handshake the loop will read.
        self._connect_socket()
        self._socket.setblocking(False)
        self._fd: int = self._socket.fileno()
        try:
            # Queued before the first write below, so the reader is in place first.
            self._loop.call_soon_threadsafe(self._watch)
        except RuntimeError as exc:  # the loop is closed
            self._socket.close()
            raise ConnectionShutdown(f"the event loop of {self.endpoint} is closed") from exc
        self._send_options_message()

    def _enable_checksumming(self) -> None:
        Connection._enable_checksumming(self)
        if not self.compressor:
            self._segment_codec = _FRAMING

    def send_msg(
        self,
        msg: Any,
        request_id: int,
        cb: Callable[[Any], object],
        encoder: Callable[..., bytes] = ProtocolHandler.encode_message,
        decoder: Callable[..., Any] = ProtocolHandler.decode_message,
        result_metadata: Any = None,
    ) -> int:
        # The driver's, with a segment framed as one bytes join instead of through a BytesIO.
        if self.is_defunct:
            raise ConnectionShutdown(f"Connection to {self.endpoint} is defunct")
        if self.is_closed:
            raise ConnectionShutdown(f"Connection to {self.endpoint} is closed")
        if not self._socket_writable:
            raise ConnectionBusy(f"Connection {self.endpoint} is overloaded")
        self._requests[request_id] = (cb, decoder, result_metadata)
        data: bytes = encoder(
            msg,
            request_id,
            self.protocol_version,
            compressor=self.compressor,
            allow_beta_protocol_version=self.allow_beta_protocol_version,
        )
        if self._is_checksumming_enabled:
            codec = self._segment_codec
            if codec is _FRAMING:
                data = _FRAMING.frame(data)
            else:
                buffer = io.BytesIO()
                codec.encode(buffer, data)
                data = buffer.getvalue()
        self.push(data)
        return len(data)

    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _watch(self) -> None:
        if not self.is_closed:
            self._loop.add_reader(self._fd, self._on_readable)

    def push(self, data: bytes) -> None:
        if self._on_loop():
            self._send(data)
            return
        try:
            self._loop.call_soon_threadsafe(self._send, data)
        except RuntimeError as exc:
            self.defunct(exc)

    def _send(self, data: bytes) -> None:
        if self.is_closed:
            return
        if self._unsent:  # keep the order: behind what already waits
            self._unsent.append(data)
            return
        try:
            sent = self._socket.send(data)
        except _WOULD_BLOCK:
            sent = 0
        except OSError as exc:
            self.defunct(exc)
            return
        if sent < len(data):
            self._unsent.append(memoryview(data)[sent:])
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        while self._unsent:
            data = self._unsent[0]
            try:
                sent = self._socket.send(data)
            except _WOULD_BLOCK:
                return
            except OSError as exc:
                self.defunct(exc)
                return
            if sent < len(data):
                self._unsent[0] = memoryview(data)[sent:]
                return
            self._unsent.popleft()
        self._loop.remove_writer(self._fd)

    def _on_readable(self) -> None:
        sock = self._socket
        size: int = self.in_buffer_size
        # A TLS socket may hold decrypted bytes the selector does not see: read them too.
        tls = isinstance(sock, ssl.SSLSocket)
        peer_closed = False
        try:
            while True:
                chunk = sock.recv(size)
                if not chunk:
                    peer_closed = True
                    break
                self._iobuf.write(chunk)
                if len(chunk) < size and not (tls and sock.pending()):
                    break
        except _WOULD_BLOCK:
            pass
        except OSError as exc:
            self.defunct(exc)
            return
        if self._iobuf.tell():
            self.process_io_buffer()
        if peer_closed:
            self.close()

    def close(self) -> None:
        with self.lock:
            if self.is_closed:
                return
            self.is_closed = True
        if self._on_loop():
            self._close_socket()
        else:
            try:
                self._loop.call_soon_threadsafe(self._close_socket)
            except RuntimeError:  # the loop is closed: nothing watches the socket any more
                self._socket.close()
        if not self.is_defunct:
            self.error_all_requests(ConnectionShutdown(f"Connection to {self.endpoint} was closed"))
            # don't leave a connect waiting for a handshake that will not come
            self.connected_event.set()

    def _close_socket(self) -> None:
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._unsent.clear()
        self._socket.close()


def loop_connection_class(loop: asyncio.AbstractEventLoop) -> type[LoopConnection]:
    """A :class:`LoopConnection` class bound to ``loop``, to be called from that loop's thread
    (the driver takes a connection class, not an instance, so the loop is a class attribute)."""
    return type(
        "LoopConnection",
        (LoopConnection,),
        {"_loop": loop, "_loop_thread": threading.get_ident(), "__module__": __name__},
    )
