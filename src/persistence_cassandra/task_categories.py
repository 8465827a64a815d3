"""The registry of history task categories: the built-ins plus whatever a server adds.

Temporal keeps its categories in a registry the server builds at start-up, so a new feature
can bring its own queue of history tasks without a change to persistence. Here the same: a
:class:`~persistence_cassandra.records.TaskCategory` is a value (id, name, immediate or
scheduled) that every backend stores by its id, and :func:`register_task_category` adds one::

    CALLBACK = register_task_category(101, "CALLBACK", TaskCategoryType.IMMEDIATE)

Ids are persisted, so a category must keep its id (and its type: the type decides which table
or clustering order holds its tasks) for the life of the data. Registering the same category
twice returns the registered value; reusing an id or a name for something else is refused.
Decoding a stored id nobody registered raises :class:`UnknownTaskCategory` (a
:class:`~persistence_cassandra.errors.DataLoss`: the store holds tasks this process cannot
interpret), never a bare ``KeyError``.
"""

from __future__ import annotations

import threading

from persistence_cassandra.errors import ConfigError, DataLoss, InvalidRequest
from persistence_cassandra.records import TaskCategory, TaskCategoryType

__all__ = [
    "BUILTIN_TASK_CATEGORIES",
    "MAX_TASK_CATEGORY_ID",
    "RESERVED_TASK_CATEGORY_IDS",
    "TaskCategoryRegistry",
    "UnknownTaskCategory",
    "register_task_category",
    "register_task_category_spec",
    "registered_task_categories",
    "task_category",
    "task_category_registry",
]

BUILTIN_TASK_CATEGORIES: tuple[TaskCategory, ...] = (
    TaskCategory.TRANSFER,
    TaskCategory.TIMER,
    TaskCategory.REPLICATION,
    TaskCategory.VISIBILITY,
    TaskCategory.ARCHIVAL,
    TaskCategory.OUTBOUND,
)

RESERVED_TASK_CATEGORY_IDS = frozenset({6})
"""Temporal's in-memory timer: never persisted, so its id must never mean something else."""

MAX_TASK_CATEGORY_ID = 1_000_000
"""Cassandra stores a history task's row type as ``100 + id`` in an ``int``; SQL in an
integer column. A bound far below either limit keeps a typo from becoming a row type."""


class UnknownTaskCategory(DataLoss):
    """A stored or requested category id that no one registered in this process."""

    def __init__(self, category_id: int, known: list[TaskCategory]) -> None:
        names = ", ".join(f"{c.id} {c.name}" for c in known)
        super().__init__(
            f"unknown history task category id {category_id}: register it with "
            f"register_task_category before reading its tasks (registered: {names})"
        )
        self.category_id = category_id


class TaskCategoryRegistry:
    """Categories by id and by name; thread-safe, append-only."""

    def __init__(self, categories: tuple[TaskCategory, ...] = BUILTIN_TASK_CATEGORIES) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[int, TaskCategory] = {}
        self._by_name: dict[str, TaskCategory] = {}
        for category in categories:
            self._add(category)

    def _add(self, category: TaskCategory) -> TaskCategory:
        by_id = self._by_id.get(category.id)
        by_name = self._by_name.get(category.name)
        if by_id is not None and by_id == category:
            return by_id
        if by_id is not None:
            raise InvalidRequest(f"task category id {category.id} is already {by_id!r}")
        if by_name is not None:
            raise InvalidRequest(f"task category name {category.name!r} is already {by_name!r}")
        self._by_id[category.id] = category
        self._by_name[category.name] = category
        return category

    def register(
        self, category_id: int, name: str, category_type: TaskCategoryType
    ) -> TaskCategory:
        """Add a category (or return the same one registered before)."""
        if not isinstance(category_id, int) or not 1 <= category_id <= MAX_TASK_CATEGORY_ID:
            raise InvalidRequest(
                f"task category id must be an integer in 1..{MAX_TASK_CATEGORY_ID}, "
                f"got {category_id!r}"
            )
        if category_id in RESERVED_TASK_CATEGORY_IDS:
            raise InvalidRequest(f"task category id {category_id} is reserved")
        if not name:
            raise InvalidRequest("a task category needs a name")
        if not isinstance(category_type, TaskCategoryType):
            raise InvalidRequest(f"category_type must be a TaskCategoryType, got {category_type!r}")
        with self._lock:
            return self._add(TaskCategory(category_id, name, category_type))

    def get(self, category_id: int) -> TaskCategory:
        """The category with ``category_id``; :class:`UnknownTaskCategory` if none."""
        found = self._by_id.get(category_id)
        if found is None:
            raise UnknownTaskCategory(category_id, self.all())
        return found

    def by_name(self, name: str) -> TaskCategory:
        found = self._by_name.get(name)
        if found is None:
            raise InvalidRequest(
                f"unknown history task category {name!r} (registered: "
                f"{', '.join(c.name for c in self.all())})"
            )
        return found

    def all(self) -> list[TaskCategory]:
        """Every registered category, by id."""
        return sorted(self._by_id.values(), key=lambda category: category.id)


task_category_registry = TaskCategoryRegistry()
"""The process-wide registry that stores, copy and the workload consult."""


def register_task_category(
    category_id: int, name: str, category_type: TaskCategoryType
) -> TaskCategory:
    """Register a category in the process-wide registry (see the module docstring)."""
    return task_category_registry.register(category_id, name, category_type)


def task_category(category_id: int) -> TaskCategory:
    """The registered category with ``category_id``; :class:`UnknownTaskCategory` if none."""
    return task_category_registry.get(category_id)


def register_task_category_spec(spec: str) -> TaskCategory:
    """Register ``ID:NAME:immediate|scheduled`` (the CLI's ``--task-category``); a malformed
    spec or a conflicting registration is a :class:`~persistence_cassandra.errors.ConfigError`."""
    parts = spec.split(":")
    kinds = {"immediate": TaskCategoryType.IMMEDIATE, "scheduled": TaskCategoryType.SCHEDULED}
    if len(parts) != 3 or not parts[0].strip().isdigit() or parts[2].lower() not in kinds:
        raise ConfigError(
            f"--task-category {spec!r}: expected ID:NAME:immediate or ID:NAME:scheduled"
        )
    try:
        return register_task_category(int(parts[0]), parts[1], kinds[parts[2].lower()])
    except InvalidRequest as exc:
        raise ConfigError(f"--task-category {spec!r}: {exc}") from None


def registered_task_categories() -> list[TaskCategory]:
    """Every category registered in this process, by id (built-ins first)."""
    return task_category_registry.all()
