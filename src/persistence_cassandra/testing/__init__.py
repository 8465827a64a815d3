"""The exported conformance suite and its fixtures: product code, run unchanged on every backend.

* :mod:`.suite` holds the test classes (import them into a test module);
* :mod:`.plugin` is the pytest plugin with the fixtures they use besides ``stores``;
* :mod:`.builders` builds records with fresh ids, because one store bundle serves a whole
  session;
* :mod:`.targets` registers the datastores to run against (``PC_TEST_TARGETS``);
* :mod:`.servers` finds or starts the real servers the built-in targets need.

Nothing here is imported by the library itself.
"""
