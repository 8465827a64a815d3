"""Writing a secure connect bundle: the zip Astra DB's portal hands out, for the local stand.

Astra's bundle holds ``config.json``, ``ca.crt``, ``cert``, ``key``, ``cert.pfx``,
``identity.jks``, ``trustStore.jks`` and ``cqlshrc``. The Python driver reads ``config.json``
(``host``, ``port``, ``keyspace``, ``localDC``) and the three PEM files; cql-proxy reads the same
(reference/astra_and_tools.md 1.1). The stand writes exactly those, with the ``config.json``
fields a real bundle has, so a tool that reads more of ``config.json`` still finds them; the
Java keystores and the PKCS#12 copy are left out because no Python client opens them.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BundleContents", "write_secure_connect_bundle"]


@dataclass(frozen=True, slots=True)
class BundleContents:
    host: str
    """Name of the metadata service (Astra: ``<db id>-<region>.db.astra.datastax.com``)."""
    port: int
    """Port of the metadata service."""
    cql_port: int
    keyspace: str
    local_dc: str
    ca_cert: Path
    client_cert: Path
    client_key: Path

    def config_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "cql_port": self.cql_port,
            "keyspace": self.keyspace,
            "localDC": self.local_dc,
            "caCertLocation": "./ca.crt",
            "keyLocation": "./key",
            "certLocation": "./cert",
        }


def write_secure_connect_bundle(path: Path, contents: BundleContents) -> Path:
    """Write the bundle zip to ``path`` (atomically) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr("config.json", json.dumps(contents.config_json(), indent=2) + "\n")
            bundle.write(contents.ca_cert, "ca.crt")
            bundle.write(contents.client_cert, "cert")
            bundle.write(contents.client_key, "key")
        os.chmod(temporary, 0o600)  # it holds a private key, as a real bundle does
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
