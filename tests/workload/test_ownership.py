"""The pure shard assignment of a member group (rendezvous hashing)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from persistence_cassandra.workload.ownership import assign_shards

members = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True)


@given(members, st.integers(min_value=1, max_value=64))
def test_every_shard_has_exactly_one_owner(group, shards):
    assignment = assign_shards(group, shards)
    owned = [shard for mine in assignment.values() for shard in mine]
    assert sorted(owned) == list(range(1, shards + 1))
    assert set(assignment) == set(group)


@given(members, st.integers(min_value=1, max_value=64), st.randoms())
def test_the_order_of_the_view_does_not_matter(group, shards, rng):
    shuffled = list(group)
    rng.shuffle(shuffled)
    assert assign_shards(group, shards) == assign_shards(shuffled, shards)


@given(members.filter(lambda g: len(g) >= 2), st.integers(min_value=1, max_value=64), st.data())
def test_only_the_dead_members_shards_move(group, shards, data):
    dead = data.draw(st.sampled_from(group))
    before = assign_shards(group, shards)
    after = assign_shards([m for m in group if m != dead], shards)
    for member, mine in after.items():
        assert before[member] <= mine
        assert mine - before[member] <= before[dead]
