#!/usr/bin/env python3
"""Client CPU per call of our Cassandra store layer and of the raw baseline, network taken out.

``bench`` measures throughput against a real node, and on a small shared machine its figures
swing with whatever else the cores do. This tool answers the narrower question "how much
Python do we run per call that the raw driver does not": each bench operation is sent once
for real, for each side, while the rows the driver hands back are recorded; then the
operation is repeated with ``Session.execute_async`` (and our stores' direct requests,
``DirectSender._send``) answering at once from that recording, so everything of ours and of
the request building before the send runs, and nothing of the network, the server or the
response decoding does. The figure is the best of five rounds of CPU time
per call, one call in flight. It is a profiling aid for this repository, not a benchmark of
record: the bench is that.

    python tools/cassandra_client_cost.py --config c.yaml [--store NAME] [OPERATION ...]
    python tools/cassandra_client_cost.py --config c.yaml --profile execution.get_workflow_execution

``--profile`` adds a cProfile listing of our side of each operation.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import functools
import gc
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cassandra.cluster import Session

from persistence_cassandra.backends.cassandra.direct_requests import DirectSender
from persistence_cassandra.bench import open_raw_baseline
from persistence_cassandra.bench.fixtures import BenchWorker, prepare_workers
from persistence_cassandra.bench.operations import OPERATIONS
from persistence_cassandra.bench.runner import _namespace_id
from persistence_cassandra.config import load_config
from persistence_cassandra.errors import PersistenceError, UserFacingError
from persistence_cassandra.factory import open_persistence

Call = Callable[[BenchWorker], Awaitable[object]]


class _Reply:
    """What ``execute_async`` returns during the replay: the recorded rows, at once."""

    _paging_state = None
    _timer = None

    def __init__(self, rows: Any) -> None:
        self._rows = rows

    def add_callbacks(
        self,
        callback: Callable[..., object],
        errback: Callable[..., object],
        callback_args: tuple[Any, ...] = (),
        errback_args: tuple[Any, ...] = (),
    ) -> None:
        callback(self._rows, *callback_args)


async def _record(call: Call, worker: BenchWorker) -> list[Any]:
    """The answer of each request one real call sends, in order.

    Requests leave by two doors: ``DirectSender._send`` (our stores on the loop-served
    connection) and ``Session.execute_async`` (the raw baseline, and what the direct path hands
    back to the driver). Both are recorded, in the form each returns.
    """
    replies: list[Any] = []
    real_execute, real_send = Session.execute_async, DirectSender._send

    def recording(session: Session, *args: Any, **kwargs: Any) -> Any:
        response = real_execute(session, *args, **kwargs)
        slot = len(replies)
        replies.append(None)
        response.add_callbacks(lambda rows: replies.__setitem__(slot, rows), lambda _: None)
        return response

    def recording_direct(sender: DirectSender, *args: Any) -> Any:
        waiter = real_send(sender, *args)
        if waiter is not None:
            slot = len(replies)
            replies.append(None)
            waiter.add_done_callback(lambda done: replies.__setitem__(slot, done.result()))
        return waiter

    Session.execute_async = recording
    DirectSender._send = recording_direct
    try:
        await call(worker)
    finally:
        Session.execute_async, DirectSender._send = real_execute, real_send
    return replies


async def _replayed(call: Call, worker: BenchWorker, replies: list[Any], calls: int) -> float:
    """CPU seconds per call with every request answered from ``replies``."""
    real_execute, real_send = Session.execute_async, DirectSender._send
    position = 0

    def next_reply() -> Any:
        nonlocal position
        reply = replies[position % len(replies)]
        position += 1
        return reply

    def replay(_session: Session, *_args: Any, **_kwargs: Any) -> _Reply:
        return _Reply(next_reply())

    def replay_direct(sender: DirectSender, *_args: Any) -> asyncio.Future[Any]:
        answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        answered.set_result(next_reply())
        return answered

    # A copy: the replayed calls advance the worker's ids and versions, which the real node
    # never sees, and the next real call must still match what is stored.
    spare = copy.deepcopy(worker)
    Session.execute_async = replay
    DirectSender._send = replay_direct
    try:
        started = time.process_time()
        for _ in range(calls):
            position = 0
            await call(spare)
        return (time.process_time() - started) / calls
    finally:
        Session.execute_async, DirectSender._send = real_execute, real_send


async def _main(arguments: argparse.Namespace) -> None:
    config = load_config(arguments.config)
    datastore = config.datastore(arguments.store)
    if datastore.cassandra is None:
        sys.exit(f"error: datastore {arguments.store or config.default_store!r} is not cassandra")
    persistence = await open_persistence(config, store=arguments.store)
    raw = await open_raw_baseline(datastore)
    try:
        namespace_id = await _namespace_id(persistence)
        tag, shard = f"cc{time.time_ns():x}", 1_500_000 + time.time_ns() % 100_000
        ours_worker = (await prepare_workers(persistence, tag + "o", 1, shard, namespace_id))[0]
        raw_worker = (await prepare_workers(persistence, tag + "r", 1, shard + 1, namespace_id))[0]
        known = {operation.name: operation for operation in OPERATIONS}
        unknown = sorted(set(arguments.operations) - set(known))
        if unknown:
            sys.exit(f"error: unknown operation(s) {unknown} (known: {sorted(known)})")
        gc.collect()
        gc.freeze()
        print(f"{'operation':40} {'raw':>9} {'ours':>9} {'ours - raw':>11}  (µs CPU per call)")
        for name in arguments.operations or list(known):
            operation = known[name]
            calls = 300 if name == "workflow lifecycle" else 3000
            costs: dict[str, float] = {}
            sides: list[tuple[str, Call, BenchWorker]] = [
                ("raw", functools.partial(operation.raw, raw), raw_worker),
                ("ours", functools.partial(operation.ours, persistence), ours_worker),
            ]
            for side, call, worker in sides:
                replies = await _record(call, worker)
                rounds = [await _replayed(call, worker, replies, calls) for _ in range(5)]
                costs[side] = min(rounds) * 1e6
                if arguments.profile and side == "ours":
                    profile = cProfile.Profile()
                    profile.enable()
                    await _replayed(call, worker, replies, calls // 3)
                    profile.disable()
                    pstats.Stats(profile).sort_stats("tottime").print_stats(12)
            print(
                f"{name:40} {costs['raw']:9.1f} {costs['ours']:9.1f} "
                f"{costs['ours'] - costs['raw']:11.1f}",
                flush=True,
            )
    finally:
        await raw.close()
        await persistence.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a persistence config file")
    parser.add_argument("--store", help="the Cassandra datastore (default: defaultStore)")
    parser.add_argument("--profile", action="store_true", help="cProfile our side too")
    parser.add_argument("operations", nargs="*", help="bench operation names (default: all)")
    try:
        asyncio.run(_main(parser.parse_args()))
    except (PersistenceError, UserFacingError) as error:  # a bad config, an unreachable node
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
