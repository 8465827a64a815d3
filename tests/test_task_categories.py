"""The task-category registry's CLI spec: ``ID:NAME:immediate|scheduled``, one clear line for
a mistake."""

from __future__ import annotations

import pytest

from persistence_cassandra.errors import ConfigError
from persistence_cassandra.records import TaskCategoryType
from persistence_cassandra.task_categories import register_task_category_spec, task_category


def test_a_spec_registers_its_category() -> None:
    category = register_task_category_spec("961:SPEC_CALLBACK:Scheduled")
    assert (category.id, category.name, category.category_type) == (
        961,
        "SPEC_CALLBACK",
        TaskCategoryType.SCHEDULED,
    )
    assert task_category(961) is category


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("961", "expected ID:NAME"),
        ("x:NAME:immediate", "expected ID:NAME"),
        ("962:NAME:later", "expected ID:NAME"),
        ("1:OTHER:immediate", "already"),
        ("6:MEMORY:scheduled", "reserved"),
    ],
)
def test_a_bad_spec_is_a_config_error(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        register_task_category_spec(spec)
