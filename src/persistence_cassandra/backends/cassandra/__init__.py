"""The Cassandra backend (Apache Cassandra 4.1+/5, Astra DB): lightweight transactions within
one partition carry every conditional write.

Modules: :mod:`.backend` (``BACKEND``, opening a bundle), :mod:`.session` (the one shared driver
session, bridged to asyncio), :mod:`.errors` (the one driver-exception translation), one module
per store (:mod:`.shard_store`, :mod:`.execution_store`, :mod:`.history_store`,
:mod:`.task_store`, :mod:`.metadata_store`, :mod:`.cluster_metadata_store`), the execution
write path (:mod:`.execution_rows`, :mod:`.execution_batch`, :mod:`.conflicts`) and
:mod:`.schema_setup`. Importing this package does not import the driver.
"""
