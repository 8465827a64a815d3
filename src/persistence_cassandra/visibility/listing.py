"""Reading a whole listing page by page (integrity checks and tests compare these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from persistence_cassandra.stores import VisibilityStore

__all__ = ["collect_listing"]


async def collect_listing(
    store: VisibilityStore, namespace_id: str, query: str, page_size: int
) -> list[list[str]]:
    """Every page of ``query`` as run ids, page by page."""
    pages: list[list[str]] = []
    token = b""
    while True:
        page = await store.list_executions(namespace_id, query, page_size, token)
        pages.append([record.run_id for record in page.items])
        token = page.next_page_token
        if not token:
            return pages
        if len(pages) > 10_000:
            raise AssertionError(f"listing {query!r} does not end")
