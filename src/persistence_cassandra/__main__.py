"""``python -m persistence_cassandra``: the same command line as ``persistence-cassandra``."""

from __future__ import annotations

from persistence_cassandra.cli.main import main

if __name__ == "__main__":
    main()
