"""A member group in several OS processes on this host, coordinated by the calling one.

:func:`run_member_group` starts N member processes (``multiprocessing`` with the *spawn*
start method: each is a fresh interpreter opening its own connection), optionally kills or
pauses one of them mid-run, waits for all of them, then runs the group check
(:func:`.check_group`) and returns the combined report.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from persistence_cassandra.config import PersistenceConfig
from persistence_cassandra.factory import OpenOptions, open_persistence
from persistence_cassandra.workload.engine import WorkloadOptions, resolve_settings
from persistence_cassandra.workload.group import EXPIRY_SECONDS, run_member
from persistence_cassandra.workload.group_check import GroupReport, KillRecord, check_group
from persistence_cassandra.workload.ownership import assign_shards
from persistence_cassandra.workload.report import Counters

__all__ = ["KillPlan", "run_member_group"]


@dataclass(frozen=True, slots=True)
class KillPlan:
    """Which member to stop mid-run, and how."""

    member: int | None = None
    """Index of the member (``m<index>``); ``None``: the one owning the most shards."""
    after_workflows: int = 5
    """Stop it once it has completed this many workflows."""
    mode: str = "kill"
    """``kill``: SIGKILL. ``pause``: SIGSTOP, then SIGCONT once its shards were taken over;
    the victim runs without self-fencing (a worst-case zombie), so the writes it still makes
    reach the store and must be refused by the range-id fence."""

    def __post_init__(self) -> None:
        if self.mode not in ("kill", "pause"):
            raise ValueError("kill mode must be 'kill' or 'pause'")


def _member_process(
    config: PersistenceConfig | None,
    store: str | None,
    create_schema: bool,
    group: str,
    options: WorkloadOptions,
    default_shards: int,
    member: str,
    expected: int,
    completed: Synchronized[int],
    self_fence: bool,
) -> None:
    async def main() -> None:
        open_options = OpenOptions(create_schema=True) if create_schema else None
        persistence = await open_persistence(config, store=store, options=open_options)
        async with persistence:
            settings = resolve_settings(options, default_shards)

            def progress(line: str) -> None:
                print(line, file=sys.stderr, flush=True)

            counters = Counters()
            task = asyncio.create_task(
                run_member(
                    persistence,
                    group,
                    settings,
                    member,
                    expected_members=expected,
                    on_progress=progress,
                    counters=counters,
                    self_fence=self_fence,
                )
            )
            while not task.done():
                # The parent watches this to decide when "mid-run" is.
                completed.value = counters.workflows_completed
                await asyncio.wait({task}, timeout=0.1)
            await task

    asyncio.run(main())


def run_member_group(
    config: PersistenceConfig | None = None,
    *,
    processes: int = 3,
    options: WorkloadOptions | None = None,
    kill: KillPlan | None = None,
    store: str | None = None,
    group: str | None = None,
    create_schema: bool = False,
    default_shards: int = 4,
    on_progress: Callable[[str], None] | None = None,
) -> GroupReport:
    """Run a group of ``processes`` members on ``config`` (``None``: the embedded SQLite file
    store), optionally stopping one mid-run, then check every workflow of the group.

    The returned report's ``kill`` records when the victim was stopped; its
    :meth:`~GroupReport.takeover_seconds` are the delays from then to each range bump.
    """
    if processes < 1:
        raise ValueError("processes must be at least 1")
    if kill is not None and processes < 2:
        raise ValueError("stopping a member needs at least 2 processes")
    options = options or WorkloadOptions()
    seed_options = options if options.seed is not None else _with_seed(options)
    group = group or f"wl-{uuid.uuid4().hex[:8]}"
    members = [f"m{index}" for index in range(processes)]
    shards = seed_options.shards or default_shards
    victim: str | None = None
    if kill is not None:
        if kill.member is not None:
            if not 0 <= kill.member < processes:
                raise ValueError(f"kill.member must be in 0..{processes - 1}")
            victim = members[kill.member]
        else:
            owned = assign_shards([f"{group}/{m}" for m in members], shards)
            victim = max(members, key=lambda m: (len(owned[f"{group}/{m}"]), m))
    if create_schema:
        # Once, here: several processes running DDL at once would race each other.
        asyncio.run(_create_schema(config, store))
        create_schema = False
    context = multiprocessing.get_context("spawn")
    counters = {member: context.Value("i", 0) for member in members}
    started = time.perf_counter()
    children = {
        member: context.Process(
            target=_member_process,
            args=(
                config,
                store,
                create_schema,
                group,
                seed_options,
                default_shards,
                member,
                processes,
                counters[member],
                not (kill is not None and kill.mode == "pause" and member == victim),
            ),
            name=f"workload-{member}",
        )
        for member in members
    }
    for child in children.values():
        child.start()
    kill_record: KillRecord | None = None
    try:
        if kill is not None and victim is not None:
            kill_record = _stop_victim(
                children[victim], counters[victim], victim, kill, on_progress
            )
        for child in children.values():
            child.join()
    finally:
        for child in children.values():
            if child.is_alive():
                child.kill()
                child.join()
    seconds = time.perf_counter() - started
    failed = [
        f"{m} (exit {c.exitcode})" for m, c in children.items() if c.exitcode != 0 and m != victim
    ]
    if failed:
        raise RuntimeError(f"workload members failed: {', '.join(failed)}")
    report = asyncio.run(_check(config, store, group))
    report.seconds = seconds
    report.kill = kill_record
    return report


def _with_seed(options: WorkloadOptions) -> WorkloadOptions:
    import random
    from dataclasses import replace

    return replace(options, seed=random.SystemRandom().randrange(2**32))


def _stop_victim(
    child: Any,
    completed: Synchronized[int],
    victim: str,
    kill: KillPlan,
    on_progress: Callable[[str], None] | None,
) -> KillRecord | None:
    while child.is_alive() and completed.value < kill.after_workflows:
        time.sleep(0.05)
    if not child.is_alive():
        return None
    at = time.time()
    if kill.mode == "kill":
        os.kill(child.pid, signal.SIGKILL)
    else:
        os.kill(child.pid, signal.SIGSTOP)
    if on_progress is not None:
        on_progress(
            f"{'killed' if kill.mode == 'kill' else 'paused'} member {victim} after "
            f"{completed.value} completed workflows"
        )
    if kill.mode == "pause":
        # Long enough for its record to expire and the others to take its shards over.
        time.sleep(EXPIRY_SECONDS + 3.0)
        os.kill(child.pid, signal.SIGCONT)
        if on_progress is not None:
            on_progress(f"resumed member {victim}: its in-flight writes must be fenced")
    return KillRecord(victim, kill.mode, at)


async def _create_schema(config: PersistenceConfig | None, store: str | None) -> None:
    persistence = await open_persistence(
        config, store=store, options=OpenOptions(create_schema=True)
    )
    await persistence.close()


async def _check(config: PersistenceConfig | None, store: str | None, group: str) -> GroupReport:
    async with await open_persistence(config, store=store) as persistence:
        return await check_group(persistence, group)
