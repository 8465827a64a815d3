"""This checkout's test harness: the real servers the tests run against, and their faults.

Not part of the wheel (a backend author runs the conformance suite against servers of their own,
see :mod:`persistence_cassandra.testing.targets`). ``tests/conftest.py`` loads it; ``pytest``
finds it because ``tools`` is on its ``pythonpath`` (``pyproject.toml``).

* :mod:`.servers` finds or starts a Cassandra node and a PostgreSQL server;
* :mod:`.targets` makes the built-in targets use them and registers the Astra-stand and cluster
  targets;
* :mod:`.astra_stand` is the local Astra DB stand; :mod:`.local_cluster` the 3-node cluster,
  :mod:`.fault_schedule` the faults inflicted on it;
* :mod:`.docker_gate` is the pytest plugin that starts servers with pytest-docker when a Docker
  engine answers.
"""
