"""Random executions, random queries: every backend answers as the reference evaluator does,
page by page (run with ``PC_TEST_TARGETS``; ``PC_VISIBILITY_EXAMPLES`` sets the examples)."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persistence_cassandra.records import DataBlob
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.visibility_data import (
    VisibilityPair,
    collect_listing,
    history_start,
    new_namespace,
)
from persistence_cassandra.visibility.records import ExecutionStatus, VisibilityStart
from persistence_cassandra.visibility.reference_store import ReferenceVisibilityStore

EXAMPLES = int(os.environ.get("PC_VISIBILITY_EXAMPLES", "25"))
BASE = history_start().replace(minute=0, second=0)
OFFSETS = st.integers(min_value=0, max_value=6 * 60)  # minutes: several hour buckets


def _time(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


_STATUS_NAMES = [status.query_name for status in ExecutionStatus]


def _quoted(values: list[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


LEAVES = st.one_of(
    st.builds(
        lambda op, v: f"WorkflowType {op} '{v}'",
        st.sampled_from(["=", "!="]),
        st.sampled_from("abc"),
    ),
    st.builds(
        lambda vs: f"WorkflowType IN ({_quoted(vs)})",
        st.lists(st.sampled_from("abc"), min_size=1, max_size=3),
    ),
    st.builds(
        lambda op, v: f"ExecutionStatus {op} '{v}'",
        st.sampled_from(["=", "!="]),
        st.sampled_from(_STATUS_NAMES[:4]),
    ),
    st.builds(
        lambda vs: f"ExecutionStatus IN ({_quoted(vs)})",
        st.lists(st.sampled_from(_STATUS_NAMES[:4]), min_size=1, max_size=3),
    ),
    st.builds(lambda v: f"TaskQueue = '{v}'", st.sampled_from(["q1", "q2"])),
    st.builds(lambda v: f"WorkflowId STARTS_WITH '{v}'", st.sampled_from(["w1", "w2", "w"])),
    st.builds(
        lambda op, v: f"CustomerId {op} '{v}'",
        st.sampled_from(["=", "!=", "<", ">="]),
        st.sampled_from(["c0", "c1", "c2"]),
    ),
    st.builds(
        lambda vs: f"CustomerId IN ({_quoted(vs)})",
        st.lists(st.sampled_from(["c0", "c1", "c2"]), min_size=1, max_size=2),
    ),
    st.builds(lambda v: f"Tags = '{v}'", st.sampled_from(["red", "blue"])),
    st.builds(
        lambda vs: f"Tags IN ({_quoted(vs)})",
        st.lists(st.sampled_from(["red", "blue", "gold"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: f"Amount {op} {v}",
        st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
        st.integers(0, 5),
    ),
    st.builds(lambda lo, hi: f"Amount BETWEEN {lo} AND {hi}", st.integers(0, 3), st.integers(2, 5)),
    st.builds(
        lambda op, v: f"Score {op} {v}",
        st.sampled_from(["<", ">="]),
        st.sampled_from([0.25, 0.5, 0.75]),
    ),
    st.builds(lambda v: f"Urgent = {v}", st.sampled_from(["true", "false"])),
    st.builds(
        lambda op, m: f"StartTime {op} '{_time(m)}'",
        st.sampled_from(["<", "<=", ">", ">=", "="]),
        OFFSETS,
    ),
    st.builds(
        lambda a, b: f"StartTime BETWEEN '{_time(min(a, b))}' AND '{_time(max(a, b))}'",
        OFFSETS,
        OFFSETS,
    ),
    st.builds(lambda op, m: f"CloseTime {op} '{_time(m)}'", st.sampled_from(["<", ">="]), OFFSETS),
    st.builds(
        lambda name, neg: f"{name} IS {'NOT ' if neg else ''}NULL",
        st.sampled_from(["CloseTime", "CustomerId", "Tags", "Amount"]),
        st.booleans(),
    ),
)

CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.builds(
        lambda items, joiner: "(" + f" {joiner} ".join(items) + ")",
        st.lists(inner, min_size=2, max_size=3),
        st.sampled_from(["AND", "OR"]),
    ),
    max_leaves=6,
)
ORDERS = st.sampled_from(
    [
        "",
        " ORDER BY StartTime DESC",
        " ORDER BY StartTime ASC",
        " ORDER BY CloseTime DESC",
        " ORDER BY CloseTime ASC",
    ]
)
QUERIES = st.builds(lambda c, o: (c + o).strip(), st.one_of(st.just(""), CONDITIONS), ORDERS)

EXECUTIONS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from("abc"),
            "queue": st.sampled_from(["q1", "q2"]),
            "start": OFFSETS,
            "close": st.one_of(
                st.none(),
                st.tuples(st.integers(0, 120), st.sampled_from(list(ExecutionStatus)[1:4])),
            ),
            "customer": st.one_of(st.none(), st.sampled_from(["c0", "c1", "c2"])),
            "tags": st.lists(st.sampled_from(["red", "blue", "gold"]), max_size=2, unique=True),
            "amount": st.one_of(st.none(), st.integers(0, 5)),
            "score": st.one_of(st.none(), st.sampled_from([0.1, 0.5, 0.9])),
            "urgent": st.one_of(st.none(), st.booleans()),
        }
    ),
    max_size=18,
)


async def _populate(pair: VisibilityPair, executions: list[dict[str, object]]) -> None:
    await pair.register()
    for index, execution in enumerate(executions):
        start_time = BASE + timedelta(minutes=int(execution["start"]))  # type: ignore[call-overload]
        values = {
            "CustomerId": execution["customer"], "Amount": execution["amount"],
            "Score": execution["score"], "Urgent": execution["urgent"], "Tags": execution["tags"],
        }  # fmt: skip
        attributes = {name: value for name, value in values.items() if value not in (None, [])}
        run_id = f"r{index:02d}"
        await pair.start(
            VisibilityStart(
                pair.namespace_id,
                f"w{index}",
                run_id,
                str(execution["type"]),
                str(execution["queue"]),
                start_time,
                start_time,
                DataBlob(b"", ""),
                attributes,
            )
        )
        close = execution["close"]
        if close is not None:
            minutes, status = close  # type: ignore[misc]
            await pair.close(run_id, start_time + timedelta(minutes=minutes), status)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    executions=EXECUTIONS,
    queries=st.lists(QUERIES, min_size=1, max_size=4),
    page_size=st.integers(1, 7),
)
async def test_backend_answers_as_the_reference(
    stores: StoreBundle, executions: list[dict[str, object]], queries: list[str], page_size: int
) -> None:
    assert stores.visibility is not None
    pair = VisibilityPair(stores.visibility, ReferenceVisibilityStore(), new_namespace())
    await _populate(pair, executions)
    for query in queries:
        expected = await collect_listing(pair.model, pair.namespace_id, query, page_size)
        actual = await collect_listing(pair.store, pair.namespace_id, query, page_size)
        assert actual == expected, query
        count = await pair.store.count_executions(pair.namespace_id, query)
        assert count == await pair.model.count_executions(pair.namespace_id, query), query
        by_status = await pair.store.count_executions_by_status(pair.namespace_id, query)
        assert by_status == await pair.model.count_executions_by_status(pair.namespace_id, query), (
            query
        )
