"""Refuse any non-loopback connection attempt while the tests run.

The guard wraps `socket.socket.connect` and `connect_ex` (which `socket.create_connection`,
ssl, asyncio's `sock_connect` and trio's sockets all go through) and raises before the system
call when an AF_INET/AF_INET6 address is not a loopback literal or "localhost". Binding is not
affected, so servers under test start normally; Unix sockets pass.

`NetworkAccessDenied` deliberately is not an OSError: a client that turns socket errors into
connect failures must not hide a test that tried to reach the network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class NetworkAccessDenied(RuntimeError):
    """A test tried to connect to an address that is not loopback."""


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1, IPv4-mapped loopback and the name "localhost"."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_address(sock: socket.socket, address: Any) -> None:
    """Raise NetworkAccessDenied unless `address` is loopback (or not an IP family)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        raise NetworkAccessDenied(
            f"tests may only connect to loopback, not {address!r}: "
            "use a fixture server on 127.0.0.1 (tests/servers)"
        )


@contextlib.contextmanager
def refuse_non_loopback() -> Iterator[None]:
    """Install the guard for the duration of the block (re-entrant: restores what it found)."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        check_address(self, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check_address(self, address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
