"""Our binder (``binding.bind``) against the driver's ``PreparedStatement.bind`` on a real node:
the same bytes for every value, the same rules for nulls, unset values and mistakes."""

from __future__ import annotations

import pytest
from cassandra.query import UNSET_VALUE

from persistence_cassandra import errors
from persistence_cassandra.backends.cassandra.binding import bind
from persistence_cassandra.backends.cassandra.history_store import INSERT_NODE
from persistence_cassandra.backends.cassandra.session import CassandraSession

NODE = ("tree", "branch", 7, 3, 1, b"events", "proto3")


async def test_values_encode_as_the_driver_encodes_them(raw_session: CassandraSession) -> None:
    prepared = await raw_session.prepare(INSERT_NODE)
    for values in (NODE, (*NODE[:5], None, None), NODE[:5], (*NODE[:5], UNSET_VALUE, "p")):
        ours, drivers = bind(prepared, values), prepared.bind(values)
        assert ours.values == drivers.values
        assert ours.routing_key == drivers.routing_key
        assert ours.keyspace == drivers.keyspace


async def test_mistakes_are_refused_as_the_driver_refuses_them(
    raw_session: CassandraSession,
) -> None:
    prepared = await raw_session.prepare(INSERT_NODE)
    with pytest.raises(ValueError, match="Too many arguments"):
        bind(prepared, (*NODE, "extra"))
    with pytest.raises(ValueError, match="routing key"):
        bind(prepared, (UNSET_VALUE, *NODE[1:]))
    with pytest.raises(ValueError, match="routing key"):
        bind(prepared, ())
    with pytest.raises(TypeError, match='column "node_id"'):
        bind(prepared, ("tree", "branch", "seven", 3, 1, b"events", "proto3"))


async def test_a_value_of_the_wrong_type_is_one_invalid_request(
    raw_session: CassandraSession,
) -> None:
    with pytest.raises(errors.InvalidRequest, match="cannot bind values"):
        await raw_session.write(INSERT_NODE, ("tree", "branch", "seven", 3, 1, b"e", "p"))
