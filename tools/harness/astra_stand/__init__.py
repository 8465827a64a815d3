"""A local stand-in for Astra DB, so the driver's secure-connect-bundle path runs for real.

Apache Cassandra 5.0 with the ``astra`` profile of ``tools/cassandra_local.py`` (authentication,
client TLS with client certificates, Astra's guardrails), a non-superuser ``token`` role, a
generated secure connect bundle, the HTTPS metadata service the driver asks first and the SNI
proxy it then dials. ``docs/astra.md`` explains what it emulates and what it cannot.

* :class:`AstraStand` / :func:`shared_stand`: start it from Python (tests);
* ``python -m harness.astra_stand start``: run it in the foreground and
  print the bundle, token and a ``persistence:`` config for it.
"""

from __future__ import annotations

from harness.astra_stand.bundle import (
    BundleContents,
    write_secure_connect_bundle,
)
from harness.astra_stand.certificates import (
    StandCertificates,
    issue_certificates,
)
from harness.astra_stand.metadata_service import (
    ContactInfo,
    MetadataService,
)
from harness.astra_stand.sni_proxy import (
    SniProxy,
    server_name_from_client_hello,
)
from harness.astra_stand.stand import (
    DEFAULT_KEYSPACE,
    DEFAULT_PORT,
    KEYSPACE_PERMISSIONS,
    TOKEN_ROLE,
    AstraStand,
    StandSettings,
    close_shared_stand,
    shared_stand,
)

__all__ = [
    "DEFAULT_KEYSPACE",
    "DEFAULT_PORT",
    "KEYSPACE_PERMISSIONS",
    "TOKEN_ROLE",
    "AstraStand",
    "BundleContents",
    "ContactInfo",
    "MetadataService",
    "SniProxy",
    "StandCertificates",
    "StandSettings",
    "close_shared_stand",
    "issue_certificates",
    "server_name_from_client_hello",
    "shared_stand",
    "write_secure_connect_bundle",
]
