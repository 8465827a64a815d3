"""How many rows per second ``persistence-cassandra copy`` moves, per pair of backends.

Not a test (pytest does not collect it): run it by hand, from the repository root::

    .venv/bin/python tools/measure_copy_rate.py --workflows 3000

It fills an SQLite store with the copy tests' realistic workload, then runs the real command
(a child process, default options) for SQLite -> Cassandra, SQLite -> PostgreSQL,
Cassandra -> SQLite and PostgreSQL -> SQLite, and prints the rows, the copy time (without the
verification pass), rows/s, and the whole command's wall time. Servers come from
``harness.servers``; the keyspace and database it makes are dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

# The harness beside this script, and the copy tests' workload and store factory.
_TOOLS = Path(__file__).resolve().parent
sys.path[:0] = [str(_TOOLS), str(_TOOLS.parent / "tests" / "copy")]

from copy_support import run_cli, sqlite_store, write_config  # noqa: E402
from copy_workload import Shape, make_source  # noqa: E402

from conftest import StoreFactory  # noqa: E402

_COPIED = re.compile(r"copied ([\d,]+) rows in ([\d.]+) s \(([\d,]+) rows/s\)")


async def measure(workflows: int) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from harness import servers

    postgres = dict(conninfo_to_dict(servers.postgres_dsn()))
    host, _, port = servers.cassandra_endpoint().split(",")[0].rpartition(":")
    with tempfile.TemporaryDirectory(prefix="pc-copy-rate-") as directory:
        root = Path(directory)
        factory = StoreFactory(root, postgres, (host or port, int(port) if host else 9042))
        try:
            started = time.monotonic()
            source = await make_source(root, Shape(workflows=workflows, shards=4, seed=3))
            print(f"populated {workflows} workflows in {time.monotonic() - started:.1f} s")
            stores = {
                "sqlite": source.datastore,
                "cassandra": await factory.cassandra(),
                "postgres": await factory.postgres(),
                "sqlite-from-cassandra": sqlite_store(root / "from-cassandra.db"),
                "sqlite-from-postgres": sqlite_store(root / "from-postgres.db"),
            }
            config = write_config(root, stores)
            pairs = [
                ("sqlite", "cassandra"),
                ("sqlite", "postgres"),
                ("cassandra", "sqlite-from-cassandra"),
                ("postgres", "sqlite-from-postgres"),
            ]
            print(f"{'pair':<36} {'rows':>9} {'copy s':>8} {'rows/s':>8} {'wall s':>8}")
            for source_name, target_name in pairs:
                wall = time.monotonic()
                run = await run_cli(
                    "copy", "--config", str(config), "--from", source_name, "--to", target_name
                )
                wall = time.monotonic() - wall
                found = _COPIED.search(run.stdout)
                if run.exit_code != 0 or found is None:
                    raise SystemExit(f"{source_name} -> {target_name} failed:\n{run.stderr}")
                rows, seconds, rate = found.groups()
                pair = f"{source_name} -> {target_name.split('-')[0]}"
                print(f"{pair:<36} {rows:>9} {seconds:>8} {rate:>8} {wall:>8.1f}")
        finally:
            await factory.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=3000)
    asyncio.run(measure(parser.parse_args().workflows))


if __name__ == "__main__":
    main()
