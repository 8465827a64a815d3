"""HistoryStore conformance, through the history branch manager: append and read, shadowing by
transaction id, forks, trims, reference-counted deletes, paging and reverse reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from persistence_cassandra.errors import InvalidRequest, NotFound
from persistence_cassandra.managers.history import MAX_EVENT_ID, HistoryBranchManager
from persistence_cassandra.managers.history_batch import HistoryEventBatch
from persistence_cassandra.records import ReadHistoryBranchRequest
from persistence_cassandra.stores import StoreBundle
from persistence_cassandra.testing.builders import collect_pages, now, random_shard_id

__all__ = ["TestHistoryBranch", "TestHistoryForkAndDelete"]


def batch(first: int, count: int, tag: str = "") -> HistoryEventBatch:
    return HistoryEventBatch(
        first, [f"{tag}event-{n}".encode() for n in range(first, first + count)]
    )


class Branch:
    """One branch being written the way a history service writes: each batch names the
    transaction of the batch before it."""

    def __init__(self, history: HistoryBranchManager, shard_id: int, token: bytes) -> None:
        self.history = history
        self.shard_id = shard_id
        self.token = token
        self.branch = history.parse_branch_token(token)

    async def append(
        self, first: int, count: int, txn: int, prev: int, *, tag: str = "", new: bool = False
    ) -> HistoryEventBatch:
        written = batch(first, count, tag)
        await self.history.append_history_nodes(
            self.shard_id, self.token, written, txn, prev, is_new_branch=new, info=f"test:{tag}"
        )
        return written

    async def read(
        self, min_event_id: int = 1, max_event_id: int = MAX_EVENT_ID, page_size: int = 100
    ) -> list[HistoryEventBatch]:
        return [
            b
            async for b in self.history.iter_history(
                self.shard_id, self.token, min_event_id, max_event_id, page_size
            )
        ]

    async def read_reverse(
        self, max_event_id: int, last_txn: int, page_size: int = 100
    ) -> list[HistoryEventBatch]:
        found: list[HistoryEventBatch] = []
        token = b""
        while True:
            page = await self.history.read_history_branch_reverse(
                self.shard_id, self.token, max_event_id, last_txn, page_size, token
            )
            found += page.batches
            if not page.next_page_token:
                return found
            token = page.next_page_token

    async def fork(self, fork_node_id: int, info: str = "") -> Branch:
        forked = await self.history.fork_history_branch(
            self.shard_id, self.token, fork_node_id, info
        )
        return Branch(self.history, self.shard_id, forked.new_branch_token)


async def _new_branch(history: HistoryBranchManager) -> Branch:
    return Branch(history, random_shard_id(), history.new_branch_token())


async def _raw_rows(stores: StoreBundle, branch: Branch, branch_id: str) -> list[tuple[int, int]]:
    items, _ = await collect_pages(
        lambda token: stores.history.read_history_branch(
            ReadHistoryBranchRequest(
                shard_id=branch.shard_id,
                tree_id=branch.branch.tree_id,
                branch_id=branch_id,
                min_node_id=1,
                max_node_id=MAX_EVENT_ID,
                page_size=50,
                next_page_token=token,
                metadata_only=True,
            )
        )
    )
    return [(row.node_id, row.txn_id) for row in items]


async def _base_with_four_batches(
    history: HistoryBranchManager,
) -> tuple[Branch, list[HistoryEventBatch]]:
    base = await _new_branch(history)
    written = [
        await base.append(1, 2, txn=1, prev=0, new=True),
        await base.append(3, 2, txn=2, prev=1),
        await base.append(5, 2, txn=3, prev=2),
        await base.append(7, 2, txn=4, prev=3),
    ]
    return base, written


class TestHistoryBranch:
    async def test_append_then_read_the_first_batch(self, history: HistoryBranchManager) -> None:
        branch = await _new_branch(history)
        first = await branch.append(1, 3, txn=10, prev=0, new=True)
        page = await history.read_history_branch(branch.shard_id, branch.token, 1, MAX_EVENT_ID, 10)
        assert page.batches == [first]
        assert page.transaction_ids == [10]
        assert page.next_page_token == b""
        assert page.size_bytes > 0

    async def test_read_of_an_empty_branch_is_not_found(
        self, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        with pytest.raises(NotFound):
            await history.read_history_branch(branch.shard_id, branch.token, 1, MAX_EVENT_ID, 10)

    async def test_many_batches_read_back_in_order_across_pages(
        self, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        written: list[HistoryEventBatch] = []
        first, prev = 1, 0
        for n in range(1, 21):
            written.append(await branch.append(first, 1 + n % 4, txn=n, prev=prev, new=n == 1))
            first, prev = written[-1].next_event_id, n
        assert await branch.read(page_size=3) == written
        assert await branch.read(page_size=1000) == written

    async def test_read_between_event_ids(self, history: HistoryBranchManager) -> None:
        base, written = await _base_with_four_batches(history)
        assert await base.read(3, 7) == written[1:3]
        assert await base.read(5) == written[2:]
        assert await base.read(1, 2) == written[:1]

    async def test_append_is_an_idempotent_upsert(self, history: HistoryBranchManager) -> None:
        branch = await _new_branch(history)
        first = await branch.append(1, 2, txn=1, prev=0, new=True)
        await branch.append(1, 2, txn=1, prev=0, new=True)
        assert await branch.read() == [first]

    async def test_a_higher_transaction_shadows_a_node_and_what_came_before(
        self, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        one = await branch.append(1, 2, txn=1, prev=0, new=True)
        await branch.append(3, 2, txn=2, prev=1, tag="lost-")
        await branch.append(5, 1, txn=3, prev=2, tag="lost-")  # a write that failed later on
        retry = await branch.append(3, 4, txn=4, prev=1, tag="retry-")
        seven = await branch.append(7, 2, txn=5, prev=4)
        for page_size in (1, 2, 100):
            assert await branch.read(page_size=page_size) == [one, retry, seven]

    async def test_append_validation(self, stores: StoreBundle) -> None:
        history = HistoryBranchManager(stores.history, transaction_size_limit=200)
        branch = await _new_branch(history)
        shard_id, token = branch.shard_id, branch.token
        with pytest.raises(InvalidRequest):
            await history.append_history_nodes(shard_id, token, HistoryEventBatch(1, []), 1, 0)
        with pytest.raises(InvalidRequest):
            await history.append_history_nodes(shard_id, token, batch(0, 1), 1, 0)
        with pytest.raises(InvalidRequest):
            await history.append_history_nodes(shard_id, token, batch(1, 1), 0, 0)
        with pytest.raises(InvalidRequest):
            await history.append_history_nodes(shard_id, token, batch(1, 1), 5, 5)
        with pytest.raises(InvalidRequest):
            big = HistoryEventBatch(1, [b"x" * 300])
            await history.append_history_nodes(shard_id, token, big, 1, 0, is_new_branch=True)
        with pytest.raises(InvalidRequest):
            await history.append_history_nodes(shard_id, b"not a token", batch(1, 1), 1, 0)
        with pytest.raises(NotFound):
            await branch.read()

    async def test_a_foreign_paging_token_is_an_invalid_request(
        self, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        await branch.append(1, 2, txn=1, prev=0, new=True)
        for token in (b"garbage", b'{"k":"rev","r":0,"s":"","t":1,"e":1}'):
            with pytest.raises(InvalidRequest):
                await history.read_history_branch(
                    branch.shard_id, branch.token, 1, MAX_EVENT_ID, 10, token
                )

    async def test_reverse_read_follows_the_transaction_chain(
        self, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        one = await branch.append(1, 2, txn=1, prev=0, new=True)
        three = await branch.append(3, 2, txn=2, prev=1)
        await branch.append(5, 3, txn=3, prev=2, tag="lost-")
        five = await branch.append(5, 2, txn=4, prev=2)
        seven = await branch.append(7, 1, txn=5, prev=4)
        await branch.append(8, 1, txn=6, prev=5, tag="uncommitted-")
        for page_size in (1, 3, 100):
            got = await branch.read_reverse(8, last_txn=5, page_size=page_size)
            assert got == [seven, five, three, one]

    async def test_reverse_read_of_an_unknown_transaction_is_not_found(
        self, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        await branch.append(1, 2, txn=1, prev=0, new=True)
        with pytest.raises(NotFound):
            await branch.read_reverse(3, last_txn=42)

    async def test_trim_removes_rows_off_the_committed_chain(
        self, stores: StoreBundle, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        one = await branch.append(1, 2, txn=1, prev=0, new=True)
        three = await branch.append(3, 2, txn=2, prev=1)
        five = await branch.append(5, 2, txn=3, prev=2)
        # a write whose mutable-state update failed: it shadows the committed node 5
        bogus = await branch.append(5, 3, txn=4, prev=2, tag="bogus-")
        assert await branch.read() == [one, three, bogus]
        deleted = await history.trim_history_branch(branch.shard_id, branch.token, 5, 3)
        assert deleted == 1
        assert await branch.read() == [one, three, five]
        rows = await _raw_rows(stores, branch, branch.branch.branch_id)
        assert rows == [(1, 1), (3, 2), (5, 3)]

    async def test_trim_gives_up_when_the_chain_cannot_be_followed(
        self, stores: StoreBundle, history: HistoryBranchManager
    ) -> None:
        branch = await _new_branch(history)
        await branch.append(1, 2, txn=1, prev=0, new=True)
        await branch.append(3, 2, txn=2, prev=1)
        await branch.append(3, 2, txn=3, prev=1, tag="retry-")
        assert await history.trim_history_branch(branch.shard_id, branch.token, 3, 99) == 0
        assert len(await _raw_rows(stores, branch, branch.branch.branch_id)) == 3

    async def test_tree_rows_carry_the_branch_and_its_info(
        self, history: HistoryBranchManager
    ) -> None:
        before = now() - timedelta(seconds=5)
        branch = await _new_branch(history)
        await branch.append(1, 1, txn=1, prev=0, new=True, tag="first")
        tree = await history.get_history_tree(branch.shard_id, branch.branch.tree_id)
        assert len(tree) == 1
        assert tree[0].branch == branch.branch
        assert tree[0].branch_token == branch.token
        assert tree[0].info == "test:first"
        assert before <= tree[0].fork_time <= now() + timedelta(seconds=5)

    async def test_an_unknown_tree_has_no_branches(self, history: HistoryBranchManager) -> None:
        branch = await _new_branch(history)
        assert await history.get_history_tree(branch.shard_id, branch.branch.tree_id) == []

    async def test_scan_of_all_tree_branches_pages_through_ours(
        self, history: HistoryBranchManager
    ) -> None:
        ours: set[tuple[str, str]] = set()
        for _ in range(3):
            branch = await _new_branch(history)
            await branch.append(1, 2, txn=1, prev=0, new=True)
            fork = await branch.fork(3)
            ours |= {
                (branch.branch.tree_id, branch.branch.branch_id),
                (fork.branch.tree_id, fork.branch.branch_id),
            }
        items, pages = await collect_pages(
            lambda token: history.get_all_history_tree_branches(2, token)
        )
        seen = {(d.tree_id, d.branch_id) for d in items}
        assert ours <= seen
        assert pages >= 3


class TestHistoryForkAndDelete:
    async def test_fork_reads_the_shared_prefix_then_its_own_nodes(
        self, history: HistoryBranchManager
    ) -> None:
        base, written = await _base_with_four_batches(history)
        fork = await base.fork(5, info="reset")
        assert await fork.read() == written[:2]
        five = await fork.append(5, 3, txn=10, prev=2, new=True, tag="fork-")
        assert await fork.read() == [*written[:2], five]
        assert await base.read() == written
        assert fork.branch.ancestors[-1].end_node_id == 5

    async def test_fork_at_node_one_or_below_is_invalid(
        self, history: HistoryBranchManager
    ) -> None:
        base, _ = await _base_with_four_batches(history)
        for node in (1, 0):
            with pytest.raises(InvalidRequest):
                await base.fork(node)

    async def test_append_below_the_fork_point_is_invalid(
        self, history: HistoryBranchManager
    ) -> None:
        base, _ = await _base_with_four_batches(history)
        fork = await base.fork(5)
        with pytest.raises(InvalidRequest):
            await fork.append(3, 1, txn=10, prev=1, new=True)

    async def test_shadowing_on_the_last_branch_of_a_fork(
        self, history: HistoryBranchManager
    ) -> None:
        base, written = await _base_with_four_batches(history)
        fork = await base.fork(5)
        await fork.append(5, 1, txn=10, prev=2, new=True, tag="lost-")
        retry = await fork.append(5, 2, txn=11, prev=2, new=True, tag="retry-")
        seven = await fork.append(7, 1, txn=12, prev=11, tag="fork-")
        for page_size in (1, 100):
            assert await fork.read(page_size=page_size) == [*written[:2], retry, seven]

    async def test_shadowing_on_a_non_last_branch_of_a_fork(
        self, history: HistoryBranchManager
    ) -> None:
        base = await _new_branch(history)
        one = await base.append(1, 2, txn=1, prev=0, new=True)
        await base.append(3, 2, txn=2, prev=1, tag="lost-")
        three = await base.append(3, 2, txn=3, prev=1, tag="retry-")
        await base.append(5, 2, txn=4, prev=3)
        fork = await base.fork(5)
        five = await fork.append(5, 1, txn=10, prev=3, new=True, tag="fork-")
        for page_size in (1, 100):
            assert await fork.read(page_size=page_size) == [one, three, five]
        assert await fork.read_reverse(6, last_txn=10, page_size=1) == [five, three, one]

    async def test_forks_of_forks_inside_and_after_ancestor_ranges(
        self, history: HistoryBranchManager
    ) -> None:
        base = await _new_branch(history)
        written = [
            await base.append(1, 2, txn=1, prev=0, new=True),
            await base.append(3, 2, txn=2, prev=1),
            await base.append(5, 2, txn=3, prev=2),
            await base.append(7, 2, txn=4, prev=3),
            await base.append(9, 2, txn=5, prev=4),
        ]
        first = await base.fork(7)
        first_seven = await first.append(7, 2, txn=20, prev=3, new=True, tag="f1-")
        first_nine = await first.append(9, 2, txn=21, prev=20, tag="f1-")
        # a fork point inside the first fork's ancestor range
        inside = await first.fork(5)
        assert [r.branch_id for r in inside.branch.ancestors] == [base.branch.branch_id]
        inside_five = await inside.append(5, 1, txn=30, prev=2, new=True, tag="in-")
        assert await inside.read() == [*written[:2], inside_five]
        # a fork point inside the first fork's own nodes
        after = await first.fork(9)
        after_nine = await after.append(9, 1, txn=40, prev=20, new=True, tag="after-")
        assert await after.read(page_size=1) == [*written[:3], first_seven, after_nine]
        assert await first.read() == [*written[:3], first_seven, first_nine]
        assert await base.read() == written
        assert await after.read_reverse(10, last_txn=40, page_size=2) == [
            after_nine,
            first_seven,
            *reversed(written[:3]),
        ]
        tree = await history.get_history_tree(base.shard_id, base.branch.tree_id)
        assert {d.branch_id for d in tree} == {
            b.branch.branch_id for b in (base, first, inside, after)
        }

    async def test_trim_on_a_fork_never_deletes_ancestor_rows(
        self, stores: StoreBundle, history: HistoryBranchManager
    ) -> None:
        base = await _new_branch(history)
        one = await base.append(1, 2, txn=1, prev=0, new=True)
        await base.append(3, 2, txn=2, prev=1, tag="lost-")
        three = await base.append(3, 2, txn=3, prev=1)
        fork = await base.fork(5)
        five = await fork.append(5, 1, txn=10, prev=3, new=True)
        await fork.append(5, 2, txn=11, prev=3, new=True, tag="bogus-")
        assert await history.trim_history_branch(fork.shard_id, fork.token, 5, 10) == 1
        assert await fork.read() == [one, three, five]
        assert await _raw_rows(stores, base, base.branch.branch_id) == [(1, 1), (3, 3), (3, 2)]

    async def test_delete_the_base_first_keeps_what_the_fork_reads(
        self, stores: StoreBundle, history: HistoryBranchManager
    ) -> None:
        base, written = await _base_with_four_batches(history)
        fork = await base.fork(5)
        five = await fork.append(5, 1, txn=10, prev=2, new=True, tag="fork-")
        six = await fork.append(6, 2, txn=11, prev=10, tag="fork-")
        await history.delete_history_branch(base.shard_id, base.token)
        assert await fork.read(page_size=1) == [*written[:2], five, six]
        assert await _raw_rows(stores, base, base.branch.branch_id) == [(1, 1), (3, 2)]
        tree = await history.get_history_tree(base.shard_id, base.branch.tree_id)
        assert [d.branch_id for d in tree] == [fork.branch.branch_id]
        await history.delete_history_branch(fork.shard_id, fork.token)
        assert await _raw_rows(stores, base, base.branch.branch_id) == []
        assert await _raw_rows(stores, fork, fork.branch.branch_id) == []
        assert await history.get_history_tree(base.shard_id, base.branch.tree_id) == []

    async def test_delete_the_fork_first_keeps_the_whole_base(
        self, stores: StoreBundle, history: HistoryBranchManager
    ) -> None:
        base, written = await _base_with_four_batches(history)
        fork = await base.fork(5)
        await fork.append(5, 1, txn=10, prev=2, new=True, tag="fork-")
        await history.delete_history_branch(fork.shard_id, fork.token)
        assert await base.read() == written
        assert await _raw_rows(stores, fork, fork.branch.branch_id) == []
        tree = await history.get_history_tree(base.shard_id, base.branch.tree_id)
        assert [d.branch_id for d in tree] == [base.branch.branch_id]
        await history.delete_history_branch(base.shard_id, base.token)
        assert await _raw_rows(stores, base, base.branch.branch_id) == []
        with pytest.raises(NotFound):
            await base.read()

    async def test_deleting_a_middle_fork_keeps_what_its_own_fork_reads(
        self, stores: StoreBundle, history: HistoryBranchManager
    ) -> None:
        base, written = await _base_with_four_batches(history)
        middle = await base.fork(5)
        middle_five = await middle.append(5, 2, txn=10, prev=2, new=True, tag="mid-")
        await middle.append(7, 2, txn=11, prev=10, tag="mid-")
        leaf = await middle.fork(7)
        leaf_seven = await leaf.append(7, 1, txn=20, prev=10, new=True, tag="leaf-")
        await history.delete_history_branch(middle.shard_id, middle.token)
        assert await leaf.read() == [*written[:2], middle_five, leaf_seven]
        assert await _raw_rows(stores, middle, middle.branch.branch_id) == [(5, 10)]
        assert await base.read() == written
