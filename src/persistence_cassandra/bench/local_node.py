"""The database server's own CPU, when it runs on this machine (a loopback address).

On a small machine client and server share the cores, so a side's throughput is bounded by
its client CPU **and** the server CPU its requests cost. The bench reads the server's CPU time
around each slice from ``/proc/<pid>/stat`` (user and system, every thread), the process
found as the one listening on the store's address and port: the address matters as much as
the port, since local test clusters put several nodes on one port, one address each.
Anywhere else (a remote node, no ``/proc``) there is no figure, and the bench says so by
leaving the column out.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

__all__ = ["LocalProcess", "listening_pid"]

_LISTEN = "0A"
"""The TCP state /proc/net/tcp prints for a listening socket."""


def _proc_address(address: str, port: int) -> str:
    # /proc/net/tcp prints an IPv4 address as the hex of its 32 bits in host (little endian)
    # order, then the port in hex.
    return f"{bytes(reversed(socket.inet_aton(address))).hex().upper()}:{port:04X}"


def listening_pid(host: str, port: int) -> int | None:
    """The process of this machine listening on ``host:port``, if ``host`` is a loopback IPv4
    address (or a name for one) and the process is readable; else None."""
    try:
        address = socket.gethostbyname(host)
    except OSError:
        return None
    if not ipaddress.ip_address(address).is_loopback:
        return None
    wanted = {_proc_address(address, port), _proc_address("0.0.0.0", port)}
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = set()
    for line in lines:
        fields = line.split()
        if fields[3] == _LISTEN and fields[1] in wanted:
            inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                return int(process.name)
        except OSError:  # gone, or not ours to read
            continue
    return None


class LocalProcess:
    """A local process whose CPU time can be read (the server under the bench)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._stat = Path(f"/proc/{pid}/stat")
        self._ticks = os.sysconf("SC_CLK_TCK")

    @classmethod
    def serving(cls, host: str, port: int) -> LocalProcess | None:
        pid = listening_pid(host, port)
        return cls(pid) if pid is not None else None

    def cpu_seconds(self) -> float | None:
        """User and system CPU of every thread so far; None once the process is gone."""
        try:
            # The command name (in parentheses) may hold spaces: split after it.
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / self._ticks
