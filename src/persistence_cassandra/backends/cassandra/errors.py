"""The one boundary where cassandra-driver exceptions become persistence errors.

What a failure means depends on whether the request could have changed data:

* A **write** whose request reached a coordinator and then failed without a definite answer
  (a server write timeout, the protocol v5 ``CAS_WRITE_UNKNOWN`` error 0x1700, a client-side
  timeout, a connection lost with the request in flight, a partial write failure, too few
  replicas alive at the *commit* level of a lightweight transaction, after its proposal was
  accepted) has an unknown outcome: ``Timeout(may_have_committed=True)``. Reporting it as a
  clean failure would let a caller retry a conditional write that then fails against its own
  first attempt.
* A **read** that timed out is ``Timeout(may_have_committed=False)``.
* The coordinator refused the request before doing anything (not enough replicas alive at
  the serial level or for a read, overloaded, bootstrapping) or no host could be asked:
  ``Unavailable``, which the retry middleware may safely repeat because nothing was applied.
* The request itself is wrong (syntax, invalid, unauthorized, bad credentials):
  ``InvalidRequest``.

The driver's own retry policy is disabled for writes (see ``session.py``) so that these
decisions are made here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import cassandra
from cassandra import WriteType
from cassandra.cluster import NoHostAvailable, QueryExhausted, UserTypeDoesNotExist
from cassandra.connection import (
    ConnectionBusy,
    ConnectionException,
    ProtocolError,
    ProtocolVersionUnsupported,
)
from cassandra.metadata import NoMurmur3
from cassandra.pool import NoConnectionsAvailable
from cassandra.protocol import (
    BadCredentials,
    CDCWriteException,
    ClientWriteError,
    ErrorMessage,
    InternalError,
    IsBootstrappingErrorMessage,
    NotSupportedError,
    OverloadedErrorMessage,
    PreparedQueryNotFound,
    ProtocolException,
    ServerError,
    TruncateError,
)
from cassandra.protocol import RequestValidationException as RequestValidationMessage
from cassandra.query import TraceUnavailable
from cassandra.segment import CrcException

from persistence_cassandra import errors

__all__ = [
    "CAS_WRITE_UNKNOWN",
    "describe_driver_error",
    "is_explicitly_mapped",
    "translate_error",
]

CAS_WRITE_UNKNOWN = 0x1700
"""Protocol v5 error code for a lightweight transaction whose outcome is unknown; the Python
driver has no class for it and raises a bare ``cassandra.protocol.ErrorMessage``."""


@dataclass(frozen=True, slots=True)
class _Failure:
    exc: BaseException
    is_write: bool

    @property
    def text(self) -> str:
        return f"{type(self.exc).__name__}: {self.exc}"


def _unknown_outcome(what: str) -> Callable[[_Failure], errors.PersistenceError]:
    """A failure after the request reached the server: a write may have been applied."""

    def rule(failure: _Failure) -> errors.PersistenceError:
        if failure.is_write:
            return errors.Timeout(
                f"{what}; the write may have been applied ({failure.text})",
                may_have_committed=True,
            )
        return errors.Timeout(f"{what} ({failure.text})", may_have_committed=False)

    return rule


def _write_timeout(failure: _Failure) -> errors.PersistenceError:
    assert isinstance(failure.exc, cassandra.WriteTimeout)
    kind = "lightweight transaction" if failure.exc.write_type == WriteType.CAS else "write"
    # Every server write timeout, CAS or not, leaves the write possibly applied on some
    # replicas: the CAS case is the one where that matters most (Paxos may still commit it).
    return errors.Timeout(
        f"{kind} timed out on the server; outcome unknown ({failure.text})",
        may_have_committed=True,
    )


def _server_error_message(failure: _Failure) -> errors.PersistenceError:
    assert isinstance(failure.exc, ErrorMessage)
    if failure.exc.code == CAS_WRITE_UNKNOWN:
        return errors.Timeout(
            f"lightweight transaction outcome unknown (CAS_WRITE_UNKNOWN) ({failure.text})",
            may_have_committed=True,
        )
    return _unknown_outcome("unexpected server error")(failure)


def _unavailable(what: str) -> Callable[[_Failure], errors.PersistenceError]:
    def rule(failure: _Failure) -> errors.PersistenceError:
        return errors.Unavailable(f"{what} ({failure.text})")

    return rule


_SERIAL_LEVELS = frozenset(
    {cassandra.ConsistencyLevel.SERIAL, cassandra.ConsistencyLevel.LOCAL_SERIAL}
)


def _not_enough_replicas(failure: _Failure) -> errors.PersistenceError:
    assert isinstance(failure.exc, cassandra.Unavailable)
    if failure.is_write and failure.exc.consistency not in _SERIAL_LEVELS:
        # A lightweight transaction checks its Paxos participants at the serial level before
        # anything is proposed; Unavailable at the commit level comes after a quorum accepted
        # the proposal, which a later Paxos round completes. A plain write refused at this level
        # was not applied, but the error does not say which of the two it was.
        return errors.Timeout(
            f"not enough replicas alive to commit; the write may have been applied "
            f"({failure.text})",
            may_have_committed=True,
        )
    return errors.Unavailable(f"not enough replicas alive ({failure.text})")


def _invalid(what: str) -> Callable[[_Failure], errors.PersistenceError]:
    def rule(failure: _Failure) -> errors.PersistenceError:
        return errors.InvalidRequest(f"{what} ({failure.text})")

    return rule


def _no_host_available(failure: _Failure) -> errors.PersistenceError:
    assert isinstance(failure.exc, NoHostAvailable)
    # A dict of host -> error, or (no host in the local data center) a bare list of hosts.
    found = failure.exc.errors
    per_host = list(found.values()) if isinstance(found, dict) else []
    if per_host and all(
        isinstance(e, (cassandra.AuthenticationFailed, BadCredentials)) for e in per_host
    ):
        return errors.InvalidRequest(f"authentication failed ({failure.text})")
    # The driver only moves on to another host when the request was not sent (or, for reads,
    # when retrying is safe), so exhausting the hosts never leaves a write half-done.
    return errors.Unavailable(f"no Cassandra host could serve the request ({failure.text})")


# Checked in order: subclasses before their bases. ``ErrorMessage`` subclasses that the driver
# converts with ``to_exception()`` before raising (timeouts, unavailable, syntax, ...) are
# covered through the ``cassandra`` exception they become, and are listed too for the cases
# where the driver raises the message itself.
_RULES: tuple[
    tuple[tuple[type[BaseException], ...], Callable[[_Failure], errors.PersistenceError]], ...
] = (
    ((cassandra.WriteTimeout,), _write_timeout),
    ((cassandra.ReadTimeout,), _unknown_outcome("read timed out on the server")),
    ((cassandra.OperationTimedOut,), _unknown_outcome("request timed out in the client")),
    ((cassandra.WriteFailure,), _unknown_outcome("write failed on some replicas")),
    ((cassandra.ReadFailure,), _unavailable("read failed on some replicas")),
    (
        (cassandra.CDCWriteFailure, CDCWriteException),
        _unavailable("write rejected: CDC space is full"),
    ),
    ((cassandra.Unavailable,), _not_enough_replicas),
    ((OverloadedErrorMessage,), _unavailable("coordinator overloaded")),
    ((IsBootstrappingErrorMessage,), _unavailable("coordinator is bootstrapping")),
    ((TruncateError,), _unavailable("truncate failed")),
    ((PreparedQueryNotFound,), _unavailable("prepared statement unknown to the server")),
    ((NoHostAvailable,), _no_host_available),
    ((NoConnectionsAvailable, ConnectionBusy), _unavailable("no connection available")),
    ((ProtocolVersionUnsupported,), _unavailable("protocol version not supported")),
    (
        (ConnectionException, CrcException, ProtocolError),
        _unknown_outcome("connection failed with the request in flight"),
    ),
    ((cassandra.UnresolvableContactPoints,), _unavailable("no contact point resolves")),
    (
        (cassandra.AuthenticationFailed, BadCredentials, cassandra.Unauthorized),
        _invalid("not authorized"),
    ),
    ((cassandra.AlreadyExists,), lambda f: errors.AlreadyExists(f.text)),
    (
        (
            cassandra.InvalidRequest,
            cassandra.ConfigurationException,
            cassandra.RequestValidationException,
            cassandra.FunctionFailure,
            RequestValidationMessage,
            ProtocolException,
        ),
        _invalid("request rejected by the server"),
    ),
    ((ServerError,), _unknown_outcome("internal server error")),
    ((ClientWriteError,), _unknown_outcome("client write failure")),
    (
        (
            cassandra.UnsupportedOperation,
            cassandra.DependencyException,
            UserTypeDoesNotExist,
            QueryExhausted,
            NotSupportedError,
            InternalError,
            NoMurmur3,
        ),
        _invalid("request not supported by the driver"),
    ),
    ((TraceUnavailable,), _unavailable("query trace not available")),
    ((ErrorMessage,), _server_error_message),
    ((cassandra.CoordinationFailure,), _unknown_outcome("coordination failure")),
    ((cassandra.RequestExecutionException,), _unknown_outcome("request failed")),
    ((cassandra.DriverException,), _unknown_outcome("driver error")),
)


def _rule_for(
    exc_type: type[BaseException],
) -> Callable[[_Failure], errors.PersistenceError] | None:
    for classes, rule in _RULES:
        if issubclass(exc_type, classes):
            return rule
    return None


def is_explicitly_mapped(exc_type: type[BaseException]) -> bool:
    """Whether a rule names ``exc_type`` or one of its bases (used by the mapping test)."""
    return _rule_for(exc_type) is not None


def translate_error(exc: BaseException, *, is_write: bool = True) -> errors.PersistenceError:
    """The persistence error for a driver exception; chain it with ``raise ... from exc``.

    ``is_write`` says whether the failed request could change data: only then can a timeout
    mean that it may have committed. It defaults to the safe reading (a write).
    """
    if isinstance(exc, errors.PersistenceError):
        return exc
    failure = _Failure(exc, is_write)
    rule = _rule_for(type(exc))
    if rule is not None:
        return rule(failure)
    # Not a driver exception (a bug in a callback, a codec error...): if it happened after the
    # request was sent, a write's outcome is unknown; claiming otherwise would be unsafe.
    return _unknown_outcome("unexpected failure")(failure)


_SERVER_MESSAGE = re.compile(r'message="(.*)"', re.DOTALL)


def describe_driver_error(exc: BaseException) -> str:
    """One line for a cassandra-driver exception, for tools that report rather than classify
    (the schema tool): the server's own message where it sent one."""
    if isinstance(exc, NoHostAvailable):
        per_host = getattr(exc, "errors", None)
        if isinstance(per_host, dict) and per_host:
            host, error = next(iter(per_host.items()))
            return f"no host available ({host}: {describe_driver_error(error)})"
        reason = str(exc.args[0]) if exc.args else ""
        return f"no host available ({reason})" if reason else "no host available"
    if isinstance(exc, cassandra.WriteTimeout):
        write_type = getattr(exc, "write_type", None)
        return f"write timed out (write type {write_type}); the outcome is unknown"
    if isinstance(exc, cassandra.OperationTimedOut):
        return "the request timed out; the outcome is unknown"
    text = str(exc).strip()
    match = _SERVER_MESSAGE.search(text)
    if match:
        return match.group(1)
    return text.splitlines()[0] if text else type(exc).__name__
