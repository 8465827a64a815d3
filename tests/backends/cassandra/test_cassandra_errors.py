"""Every exception class the driver defines is translated by an explicit rule, and the rules
that decide "may have committed" say what the contract requires."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import cassandra
import pytest
from cassandra import ConsistencyLevel, WriteType
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.protocol import ErrorMessage, OverloadedErrorMessage, SyntaxException

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.errors import (
    CAS_WRITE_UNKNOWN,
    is_explicitly_mapped,
    translate_error,
)

# The object mapper (cassandra.cqlengine) is a separate layer the backend never imports.
_NOT_USED = ("cassandra.cqlengine",)


def _driver_exception_classes() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module_info in pkgutil.iter_modules(cassandra.__path__, "cassandra."):
        if module_info.name.startswith(_NOT_USED):
            continue
        try:
            module = importlib.import_module(module_info.name)
        except Exception:  # optional reactors (gevent, eventlet, twisted...) are not installed
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("cassandra"):
                found.add(value)
    found.update(
        value
        for _, value in inspect.getmembers(cassandra, inspect.isclass)
        if issubclass(value, BaseException)
    )
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


DRIVER_EXCEPTIONS = _driver_exception_classes()


def test_the_driver_exposes_the_exceptions_we_expect() -> None:
    names = {cls.__name__ for cls in DRIVER_EXCEPTIONS}
    assert {"WriteTimeout", "ReadTimeout", "OperationTimedOut", "NoHostAvailable"} <= names
    assert len(DRIVER_EXCEPTIONS) > 40


@pytest.mark.parametrize("exc_type", DRIVER_EXCEPTIONS, ids=lambda cls: cls.__qualname__)
def test_every_driver_exception_class_is_mapped(exc_type: type[BaseException]) -> None:
    assert is_explicitly_mapped(exc_type), f"{exc_type.__module__}.{exc_type.__qualname__}"


def _write_timeout(write_type: int) -> cassandra.WriteTimeout:
    return cassandra.WriteTimeout(
        "timed out",
        consistency=ConsistencyLevel.LOCAL_SERIAL,
        required_responses=1,
        received_responses=0,
        write_type=write_type,
    )


def test_a_cas_write_timeout_may_have_committed() -> None:
    error = translate_error(_write_timeout(WriteType.CAS), is_write=True)
    assert isinstance(error, errors.Timeout)
    assert error.may_have_committed is True
    assert "lightweight transaction" in str(error)


def test_any_server_write_timeout_may_have_committed() -> None:
    for write_type in (WriteType.SIMPLE, WriteType.BATCH, WriteType.BATCH_LOG):
        error = translate_error(_write_timeout(write_type), is_write=True)
        assert isinstance(error, errors.Timeout) and error.may_have_committed


def test_protocol_v5_cas_write_unknown_may_have_committed() -> None:
    # The driver has no class for code 0x1700 and raises the bare ErrorMessage.
    message = ErrorMessage(
        code=CAS_WRITE_UNKNOWN, message="CAS operation result is unknown", info=None
    )
    error = translate_error(message, is_write=True)
    assert isinstance(error, errors.Timeout)
    assert error.may_have_committed is True
    assert "CAS_WRITE_UNKNOWN" in str(error)


def test_timeouts_on_reads_did_not_commit() -> None:
    read_timeout = cassandra.ReadTimeout("slow", received_responses=0, required_responses=1)
    for exc in (read_timeout, cassandra.OperationTimedOut("client gave up")):
        error = translate_error(exc, is_write=False)
        assert isinstance(error, errors.Timeout)
        assert error.may_have_committed is False


def test_a_client_side_timeout_of_a_write_is_an_unknown_outcome() -> None:
    error = translate_error(cassandra.OperationTimedOut("client gave up"), is_write=True)
    assert isinstance(error, errors.Timeout) and error.may_have_committed


def test_a_connection_lost_with_a_write_in_flight_is_an_unknown_outcome() -> None:
    lost = ConnectionShutdown("connection closed")
    written = translate_error(lost, is_write=True)
    assert isinstance(written, errors.Timeout) and written.may_have_committed
    read = translate_error(lost, is_write=False)
    assert isinstance(read, errors.Timeout) and not read.may_have_committed


@pytest.mark.parametrize(
    "exc",
    [
        cassandra.Unavailable("down", consistency=9, required_replicas=2, alive_replicas=1),
        OverloadedErrorMessage(code=0x1001, message="overloaded", info=None),
        NoHostAvailable("no host", {"127.0.0.1": ConnectionRefusedError()}),
        # The driver's form when no host is in the local data center: a list, not a dict.
        NoHostAvailable("no host in the local dc", ["127.0.0.1:9042"]),
    ],
    ids=["unavailable", "overloaded", "no-host", "no-host-in-dc"],
)
def test_refused_requests_are_unavailable_even_for_writes(exc: BaseException) -> None:
    # Unavailable promises "not applied": the retry middleware repeats it safely.
    assert isinstance(translate_error(exc, is_write=True), errors.Unavailable)


def test_unavailable_at_the_commit_level_of_a_write_is_an_unknown_outcome() -> None:
    # LOCAL_QUORUM (6): a lightweight transaction's commit phase, after its proposal was
    # accepted; LOCAL_SERIAL (9) above is its prepare phase, before anything was proposed.
    commit = cassandra.Unavailable("down", consistency=6, required_replicas=2, alive_replicas=1)
    written = translate_error(commit, is_write=True)
    assert isinstance(written, errors.Timeout) and written.may_have_committed
    assert isinstance(translate_error(commit, is_write=False), errors.Unavailable)


def test_bad_requests_are_invalid() -> None:
    syntax = SyntaxException(code=0x2000, message="line 1:0 no viable alternative", info=None)
    assert isinstance(translate_error(syntax, is_write=True), errors.InvalidRequest)
    invalid = cassandra.InvalidRequest("Batch too large")
    assert isinstance(translate_error(invalid, is_write=True), errors.InvalidRequest)


def test_authentication_failures_are_not_transient() -> None:
    failure = NoHostAvailable(
        "no host", {"127.0.0.1": cassandra.AuthenticationFailed("bad credentials")}
    )
    assert isinstance(translate_error(failure, is_write=False), errors.InvalidRequest)


def test_persistence_errors_pass_through_and_unknown_exceptions_are_unsafe_for_writes() -> None:
    mine = errors.NotFound("x")
    assert translate_error(mine, is_write=True) is mine
    unexpected = translate_error(RuntimeError("callback bug"), is_write=True)
    assert isinstance(unexpected, errors.Timeout) and unexpected.may_have_committed
