"""``python -m harness.astra_stand start|stop``: the stand by hand.

``start`` brings the stand up, prints the secure connect bundle, the token and a ``persistence:``
configuration for it, and serves the metadata service and SNI proxy until Ctrl-C (or SIGTERM);
the node is then stopped if this command started it (``--keep-node`` leaves it running).
``stop`` stops the stand's node.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from harness.astra_stand.stand import (
    BUNDLE_NAME,
    DEFAULT_KEYSPACE,
    AstraStand,
    StandSettings,
)
from harness.servers import ServerUnavailable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.astra_stand",
        description="A local Astra DB stand: Astra-profile Cassandra node, secure connect "
        "bundle, metadata service and SNI proxy.",
    )
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--port", type=int, help="node CQL port (default 9142, PC_ASTRA_PORT)")
    parser.add_argument("--dir", type=Path, help="stand directory (PC_ASTRA_STAND_DIR)")
    parser.add_argument("--keyspace", default=DEFAULT_KEYSPACE, help="the bundle's keyspace")
    parser.add_argument(
        "--bundle", type=Path, help=f"where to write the bundle (default <dir>/{BUNDLE_NAME})"
    )
    parser.add_argument("--metadata-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--proxy-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--keep-node", action="store_true", help="leave the node running")
    return parser


def _settings(args: argparse.Namespace) -> StandSettings:
    defaults = StandSettings()
    settings = StandSettings(
        port=args.port or defaults.port,
        directory=args.dir if args.dir is not None else defaults.directory,
        keyspace=args.keyspace,
        metadata_port=args.metadata_port,
        proxy_port=args.proxy_port,
        quiet=False,
    )
    # Kept after exit (unlike the tests' temporary one): a user points a config file at it.
    bundle = args.bundle or AstraStand(settings).directory / BUNDLE_NAME
    return dataclasses.replace(settings, bundle_path=bundle)


def _describe(stand: AstraStand) -> str:
    timings = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in stand.timings.items())
    bundle = stand.bundle_path
    metadata = f"{stand.settings.bundle_host}:{stand.metadata.port if stand.metadata else '?'}"
    return f"""Astra stand ready ({timings})
  node            127.0.0.1:{stand.settings.port} (TLS + client certificate, Cassandra \
{stand.release_version or "?"}), host id {stand.host_id}
  metadata        https://{metadata}/metadata
  SNI proxy       {stand.proxy.address if stand.proxy else "?"}
  bundle          {bundle}
  token           {stand.token}
  keyspace        {stand.keyspace}

persistence:
  defaultStore: astra
  datastores:
    astra:
      cassandra:
        keyspace: {stand.keyspace}
        astra:
          secureConnectBundle: {bundle}
          token: ${{ASTRA_TOKEN}}

  export ASTRA_TOKEN='{stand.token}'
  persistence-cassandra schema --secure-connect-bundle {bundle} --astra-token "$ASTRA_TOKEN" \\
      -k {stand.keyspace} setup-schema -v 0.0

Serving until Ctrl-C."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _settings(args)
    if args.command == "stop":
        print("stopped" if AstraStand(settings).stop_node() else "not running")
        return 0
    try:
        stand = AstraStand.start(settings)
    except ServerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(_describe(stand), flush=True)
    try:
        done.wait()
    finally:
        stand.close(stop_node=False if args.keep_node else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
