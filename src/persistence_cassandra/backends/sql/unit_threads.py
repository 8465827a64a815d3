"""Units of work handed from an event loop to threads that own database connections.

A unit goes into a queue; the thread that takes it runs it and settles the caller's asyncio
future with ``call_soon_threadsafe``. That is one queue put and one loop wake-up per store
operation. ``run_in_executor`` costs about twice the CPU for the same hop (a
``concurrent.futures.Future`` with its condition variable, chained to an asyncio future by
callbacks on both sides), which on a point read was as much as the query itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from persistence_cassandra.backends.sql.transaction import Tx

__all__ = ["STOP", "Unit", "UnitQueue", "deliver", "serve", "settle", "submit"]

T = TypeVar("T")

STOP = object()
"""Queued once per thread to end it, after every unit queued before it."""


@dataclass(slots=True)
class Unit:
    work: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    write: bool = False


UnitQueue = queue.SimpleQueue[Unit | object]


def settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """On the caller's loop: hand over the outcome, unless the caller stopped waiting."""
    if future.done():  # the caller was cancelled; the outcome has nobody to go to
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def deliver(unit: Unit, ok: bool, value: Any) -> None:
    """From a thread: send ``unit``'s outcome to its caller's loop."""
    with contextlib.suppress(RuntimeError):  # the caller's loop is closed
        unit.loop.call_soon_threadsafe(settle, unit.future, ok, value)


async def submit(units: UnitQueue, work: Callable[[Tx], T], *, write: bool = False) -> T:
    """Queue ``work`` for the threads serving ``units`` and wait for its outcome."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    units.put(Unit(work, future, loop, write))
    return await future


def serve(
    units: UnitQueue,
    run: Callable[[Unit], Any],
    failure: Callable[[BaseException], BaseException] = lambda exc: exc,
) -> None:
    """A thread's loop: run each unit it takes from ``units`` and deliver the outcome (an
    exception passed through ``failure``), until it takes :data:`STOP`."""
    while True:
        unit = units.get()
        if not isinstance(unit, Unit):  # STOP
            return
        try:
            ok, value = True, run(unit)
        except BaseException as exc:
            ok, value = False, failure(exc)
        deliver(unit, ok, value)
