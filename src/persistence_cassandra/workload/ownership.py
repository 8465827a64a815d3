"""Which member of a group owns which shard: rendezvous (highest random weight) hashing.

Every member computes the assignment from the same inputs (the live member ids read from
cluster membership, and the shard count), so they agree without talking to each other once
their views agree. Rendezvous hashing moves only the shards of a member that leaves (or the
ones a joining member wins): the survivors keep what they had, which keeps a takeover to the
dead member's shards alone. Pure: no I/O, tested with hypothesis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["assign_shards", "shard_owner", "shards_of"]


def _weight(member: str, shard_id: int) -> int:
    digest = hashlib.blake2b(f"{member}\x00{shard_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_owner(members: Iterable[str], shard_id: int) -> str:
    """The member with the highest weight for ``shard_id`` (ties broken by id)."""
    candidates = list(members)
    if not candidates:
        raise ValueError("no members to own the shard")
    return max(candidates, key=lambda member: (_weight(member, shard_id), member))


def assign_shards(members: Iterable[str], shards: int) -> dict[str, set[int]]:
    """Every member's shards among ``1..shards`` (members owning none map to an empty set)."""
    unique = sorted(set(members))
    assignment: dict[str, set[int]] = {member: set() for member in unique}
    for shard_id in range(1, shards + 1):
        assignment[shard_owner(unique, shard_id)].add(shard_id)
    return assignment


def shards_of(member: str, members: Iterable[str], shards: int) -> set[int]:
    """The shards ``member`` owns when ``members`` are live (empty if it is not among them)."""
    return assign_shards(members, shards).get(member, set())
