"""The SNI proxy's ClientHello parser, on real ClientHellos made by Python's TLS stack (no
server needed)."""

from __future__ import annotations

import contextlib
import ssl

from hypothesis import given
from hypothesis import strategies as st

from harness.astra_stand import server_name_from_client_hello


def client_hello(server_name: str | None) -> bytes:
    """The first TLS record a client sends, as the driver's connection would send it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):  # waits for a server: the hello is out
        connection.do_handshake()
    return outgoing.read()


def test_the_host_id_the_driver_sends_is_found() -> None:
    host_id = "f4f5e133-cff2-4045-8817-1220d1da1921"
    assert server_name_from_client_hello(client_hello(host_id)) == host_id


def test_a_hello_without_server_name_has_none() -> None:
    assert server_name_from_client_hello(client_hello(None)) is None


def test_bytes_that_are_not_a_client_hello_have_none() -> None:
    assert server_name_from_client_hello(b"\x04\x00\x00\x00\x05\x00\x00\x00\x00") is None
    assert server_name_from_client_hello(b"") is None


@given(st.integers(min_value=0, max_value=600))
def test_a_truncated_hello_never_raises(cut: int) -> None:
    hello = client_hello("db.example.com")
    assert server_name_from_client_hello(hello[:cut]) in (None, "db.example.com")


@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    found = server_name_from_client_hello(b"\x16\x03\x01" + data)
    assert found is None or isinstance(found, str)
