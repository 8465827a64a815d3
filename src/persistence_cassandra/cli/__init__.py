"""The ``persistence-cassandra`` command line: thin click adapters over documented functions.

The entry point is :func:`persistence_cassandra.cli.main.main`; this package is imported only
by the command line, never by the library.
"""
