"""How a visibility query runs on Cassandra: the typed tree split into index-served parts.

SAI on Cassandra 5 answers a conjunction of restrictions (equality on an indexed column or a
map entry, ranges on an indexed numeric column, ``CONTAINS`` on an indexed set) inside one
partition, in clustering order, but neither ``OR``, ``IN`` nor an ``ORDER BY``. So the tree
is brought to disjunctive normal form (``IN`` on an indexed attribute becomes an ``OR`` of
equalities), each conjunct becomes one statement per bucket, and the store merges the
conjuncts' ordered results. ``StartTime`` bounds become clustering bounds and prune buckets.
What no index serves is left to the reference evaluator, which the store runs on every row it
reads, so a plan only ever narrows what is read, never what is answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from persistence_cassandra.records import to_epoch_ms
from persistence_cassandra.visibility.records import SearchAttributeType
from persistence_cassandra.visibility.tree import (
    And,
    Attribute,
    AttributeKind,
    Between,
    Compare,
    Expr,
    In,
    Literal,
    Or,
)

__all__ = [
    "KEYWORD_LIST_SEPARATOR",
    "MAX_CONJUNCTS",
    "ConjunctPlan",
    "QueryPlan",
    "keyword_list_entry",
    "plan_query",
]

MAX_CONJUNCTS = 32
"""Beyond this many conjuncts the query runs as one unindexed scan of the buckets."""
KEYWORD_LIST_SEPARATOR = "\x1f"
NO_UPPER_BOUND = 2**62

_INDEXED_EQUALITY = {"workflow_id", "workflow_type", "task_queue", "status"}
_ENTRY_COLUMNS = {
    SearchAttributeType.KEYWORD: "sa_keyword",
    SearchAttributeType.INT: "sa_int",
    SearchAttributeType.BOOL: "sa_bool",
    SearchAttributeType.DATETIME: "sa_datetime",
}
_RANGE_OPERATORS = {"<", "<=", ">", ">="}


def keyword_list_entry(name: str, value: str) -> str:
    """How one KeywordList item is kept in the indexed set (``name<US>value``)."""
    return f"{name}{KEYWORD_LIST_SEPARATOR}{value}"


def _bound(value: Literal) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # an ExecutionStatus is bound as its number
    if isinstance(value, str | float):
        return value
    return to_epoch_ms(value)


@dataclass(slots=True)
class ConjunctPlan:
    """One conjunct: the SAI restrictions and start-time bounds a statement can carry."""

    restrictions: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    start_low: int = 0
    """Inclusive lower bound of StartTime in ms."""
    start_high: int = NO_UPPER_BOUND
    """Inclusive upper bound of StartTime in ms."""
    exact: bool = True
    """Every predicate of the conjunct is served (no residual evaluation is needed)."""
    _used: set[tuple[str, object]] = field(default_factory=set)

    @property
    def indexed(self) -> bool:
        return bool(self.restrictions)

    @property
    def empty(self) -> bool:
        return self.start_low > self.start_high

    def _restrict(self, key: tuple[str, object], cql: str, params: tuple[object, ...]) -> None:
        # One restriction per column (or map entry, or range side): Cassandra refuses two.
        if key in self._used:
            self.exact = False
            return
        self._used.add(key)
        self.restrictions.append((cql, params))

    def add(self, leaf: Expr) -> None:
        if not self._try_add(leaf):
            self.exact = False

    def _try_add(self, leaf: Expr) -> bool:
        if not isinstance(leaf, Compare | Between):
            return False
        attribute = leaf.attribute
        if attribute.kind is AttributeKind.SYSTEM:
            return self._add_system(attribute, leaf)
        if not isinstance(leaf, Compare) or leaf.operator != "=":
            return False
        value = _bound(leaf.value)
        if attribute.type is SearchAttributeType.KEYWORD_LIST:
            entry = keyword_list_entry(attribute.name, str(value))
            self._restrict(("kwl", entry), "sa_keyword_list_values CONTAINS ?", (entry,))
            return True
        column = _ENTRY_COLUMNS.get(attribute.type)
        if column is None:
            return False
        self._restrict((column, attribute.name), f"{column}[?] = ?", (attribute.name, value))
        return True

    def _add_system(self, attribute: Attribute, leaf: Compare | Between) -> bool:
        column = attribute.field
        if isinstance(leaf, Between):
            low, high = _bound(leaf.low), _bound(leaf.high)
            return self._add_range(column, ">=", low) and self._add_range(column, "<=", high)
        value = _bound(leaf.value)
        if column in _INDEXED_EQUALITY and leaf.operator == "=":
            self._restrict((column, "="), f"{column} = ?", (value,))
            return True
        if leaf.operator == "=" and column in ("start_time", "close_time"):
            return self._add_range(column, ">=", value) and self._add_range(column, "<=", value)
        if leaf.operator in _RANGE_OPERATORS:
            return self._add_range(column, leaf.operator, value)
        return False

    def _add_range(self, column: str, operator: str, value: object) -> bool:
        if column == "start_time":
            assert isinstance(value, int)
            if operator in (">", ">="):
                self.start_low = max(self.start_low, value + (operator == ">"))
            else:
                self.start_high = min(self.start_high, value - (operator == "<"))
            return True
        if column != "close_time":
            return False
        side = "low" if operator in (">", ">=") else "high"
        self._restrict((column, side), f"close_time {operator} ?", (value,))
        return True


@dataclass(frozen=True, slots=True)
class QueryPlan:
    conjuncts: tuple[ConjunctPlan, ...]

    @property
    def start_low(self) -> int:
        return min(c.start_low for c in self.conjuncts)

    @property
    def start_high(self) -> int:
        return max(c.start_high for c in self.conjuncts)

    @property
    def exact(self) -> bool:
        """One conjunct, fully served: a server-side COUNT answers a count."""
        return len(self.conjuncts) == 1 and self.conjuncts[0].exact


def _expand_in(leaf: In) -> Expr:
    attribute = leaf.attribute
    indexed = (
        attribute.field in _INDEXED_EQUALITY
        if attribute.kind is AttributeKind.SYSTEM
        else attribute.type in _ENTRY_COLUMNS or attribute.type is SearchAttributeType.KEYWORD_LIST
    )
    if not indexed:
        return leaf
    return Or(tuple(Compare(attribute, "=", value) for value in leaf.values))


def _dnf(expr: Expr) -> list[list[Expr]] | None:
    """Conjuncts of leaves whose OR is ``expr``; None when there would be too many."""
    if isinstance(expr, In):
        expanded = _expand_in(expr)
        return [[expr]] if expanded is expr else _dnf(expanded)
    if isinstance(expr, Or):
        result: list[list[Expr]] = []
        for item in expr.items:
            part = _dnf(item)
            if part is None:
                return None
            result.extend(part)
            if len(result) > MAX_CONJUNCTS:
                return None
        return result
    if isinstance(expr, And):
        product: list[list[Expr]] = [[]]
        for item in expr.items:
            part = _dnf(item)
            if part is None or len(product) * len(part) > MAX_CONJUNCTS:
                return None
            product = [left + right for left in product for right in part]
        return product
    return [[expr]]


def plan_query(where: Expr | None) -> QueryPlan:
    if where is None:
        return QueryPlan((ConjunctPlan(),))
    conjuncts = _dnf(where)
    if conjuncts is None:
        return QueryPlan((ConjunctPlan(exact=False),))
    plans: list[ConjunctPlan] = []
    for leaves in conjuncts:
        plan = ConjunctPlan()
        for leaf in leaves:
            plan.add(leaf)
        if not plan.empty:
            plans.append(plan)
    if not plans:  # every conjunct is contradictory on StartTime
        return QueryPlan((ConjunctPlan(start_low=1, start_high=0),))
    if any(not plan.indexed for plan in plans) and len(plans) > 1:
        # One conjunct reads every row of its buckets anyway: read them once, for all.
        low = min(p.start_low for p in plans)
        high = max(p.start_high for p in plans)
        return QueryPlan((ConjunctPlan(start_low=low, start_high=high, exact=False),))
    return QueryPlan(tuple(plans))
