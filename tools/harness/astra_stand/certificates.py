"""The stand's private certificate authority: a CA, the node's certificate and a client one.

Astra DB uses mutual TLS twice: the metadata service and every CQL connection (through the SNI
proxy, terminated by the node) check the client certificate of the secure connect bundle, and
the client checks the server against the bundle's ``ca.crt``. The stand reproduces both with
one CA made by ``openssl``:

* ``node.crt`` (and ``node.pem`` = key + chain, the form Cassandra's PEM keystore reads) serves
  the node and the metadata service. Its names are the bundle's ``host``, ``localhost`` and
  ``127.0.0.1``: cql-proxy verifies the node against the bundle's host name, a direct
  connection against the address it dials. It cannot name the node's host id, which the
  driver sends as SNI, because Cassandra only picks that id on its first start; the Python
  driver does not check the name on that path (its bundle context has ``check_hostname`` off)
  but does verify the chain.
* ``client.crt``/``client.key`` go into the bundle as ``cert``/``key``.

Files are made once per directory and reused while they hold the requested names, so a node
that keeps running keeps trusting them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CertificateError", "StandCertificates", "issue_certificates"]

VALID_DAYS = 3650
_NAMES_FILE = "names.json"


class CertificateError(RuntimeError):
    """``openssl`` is missing or failed."""


@dataclass(frozen=True, slots=True)
class StandCertificates:
    """PEM files of one stand (names as ``cassandra_local.ClientTls.from_dir`` expects)."""

    directory: Path
    issued_now: bool = False
    """True when :func:`issue_certificates` made them (a running node trusts older ones)."""

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def node_cert(self) -> Path:
        return self.directory / "node.crt"

    @property
    def node_key(self) -> Path:
        return self.directory / "node.key"

    @property
    def node_pem(self) -> Path:
        """Node key followed by its certificate and the CA: Cassandra's PEM keystore."""
        return self.directory / "node.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    @property
    def files(self) -> tuple[Path, ...]:
        return (
            self.ca_cert,
            self.ca_key,
            self.node_cert,
            self.node_key,
            self.node_pem,
            self.client_cert,
            self.client_key,
        )

    def recorded_names(self) -> dict[str, list[str]] | None:
        try:
            names: dict[str, list[str]] = json.loads(
                (self.directory / _NAMES_FILE).read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            return None
        return names


def _openssl(*args: str, cwd: Path) -> None:
    executable = shutil.which("openssl")
    if executable is None:
        raise CertificateError("openssl not found on PATH (apt-get install openssl)")
    try:
        done = subprocess.run(
            [executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CertificateError(f"openssl {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed: {done.stderr.strip()[-600:]}")


def _issue(
    work: Path,
    name: str,
    *,
    subject: str,
    usage: str,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> None:
    """``<name>.key`` and ``<name>.crt`` signed by the CA in ``work``."""
    alt = [f"DNS:{d}" for d in dns_names] + [f"IP:{ip}" for ip in ip_addresses]
    extensions = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if alt:
        extensions.append("subjectAltName=" + ",".join(alt))
    (work / f"{name}.ext").write_text("\n".join(extensions) + "\n", encoding="ascii")
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
        "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=work,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", str(VALID_DAYS), "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.crt", cwd=work,
    )  # fmt: skip


def _generate(work: Path, dns_names: Sequence[str], ip_addresses: Sequence[str]) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(VALID_DAYS), "-sha256",
        "-subj", "/O=persistence-cassandra/CN=Astra stand CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.crt", cwd=work,
    )  # fmt: skip
    _issue(
        work,
        "node",
        subject=f"/O=persistence-cassandra/CN={dns_names[0] if dns_names else 'astra-stand'}",
        usage="serverAuth",
        dns_names=dns_names,
        ip_addresses=ip_addresses,
    )
    _issue(
        work, "client", subject="/O=persistence-cassandra/CN=astra-stand-client", usage="clientAuth"
    )
    node_pem = "".join(
        (work / part).read_text(encoding="ascii") for part in ("node.key", "node.crt", "ca.crt")
    )
    (work / "node.pem").write_text(node_pem, encoding="ascii")
    for leftover in work.glob("*.csr"):
        leftover.unlink()
    for private in work.glob("*.key"):
        private.chmod(0o600)
    (work / "node.pem").chmod(0o600)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # several test processes may share a stand
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def issue_certificates(
    directory: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
) -> StandCertificates:
    """The certificates in ``directory``, made now unless present with the same names."""
    directory = directory.expanduser().resolve()
    certificates = StandCertificates(directory)
    wanted = {"dns": list(dns_names), "ip": list(ip_addresses)}
    with _locked(directory.parent / f".{directory.name}.lock"):
        if certificates.recorded_names() == wanted and all(f.is_file() for f in certificates.files):
            return certificates
        directory.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
        try:
            _generate(work, dns_names, ip_addresses)
            (work / _NAMES_FILE).write_text(json.dumps(wanted) + "\n", encoding="utf-8")
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(work, directory)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return StandCertificates(directory, issued_now=True)
