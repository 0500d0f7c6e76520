"""Name resolution for the connect step: which addresses a host name stands for, and the order
in which Happy Eyeballs (RFC 8305) tries them.

Job: a :class:`Resolver` turns ``(host, port)`` into socket addresses. :class:`SystemResolver`
(the default) asks ``getaddrinfo``; :class:`StaticResolver` answers from a map (tests, pinned
hosts, split-horizon setups) and can fall back to another resolver. Each may carry its own
``timeout``, which applies inside the connect timeout (the smaller of the two wins).
:func:`interleave` orders the answer as RFC 8305 section 4 asks: the first address's family
first, then alternating families, so a broken IPv6 path costs one attempt delay, not a timeout.

Never: reorder addresses within a family (the system's preference is kept), or return an
empty answer (an unknown name raises ``socket.gaierror``, like ``getaddrinfo``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "DEFAULT_HAPPY_EYEBALLS_DELAY",
    "ResolvedAddress",
    "Resolver",
    "StaticResolver",
    "check_delay",
    "checked",
    "connect_failure",
    "SystemResolver",
    "interleave",
    "literal_address",
    "resolve_limit",
]

DEFAULT_HAPPY_EYEBALLS_DELAY = 0.25
"""RFC 8305 section 5's recommended "Connection Attempt Delay": how long an attempt runs
alone before the next address is tried beside it."""

ResolvedAddress: TypeAlias = tuple[socket.AddressFamily, tuple[Any, ...]]
"""``(family, sockaddr)``: what ``socket.socket(family).connect(sockaddr)`` takes."""


@runtime_checkable
class Resolver(Protocol):
    """Turns a host name into socket addresses.

    ``resolve`` may block (the blocking client calls it on a worker thread bounded by the
    deadline; the async clients run it on a worker thread). A resolver that answers from
    memory sets ``in_memory = True`` and is called directly.
    """

    timeout: float | None
    in_memory: bool

    def resolve(self, host: str, port: int) -> Sequence[ResolvedAddress]: ...


class SystemResolver:
    """``getaddrinfo``: the operating system's resolver (hosts file, DNS, mDNS...)."""

    __slots__ = ("timeout",)
    in_memory = False

    def __init__(self, *, timeout: float | None = None) -> None:
        self.timeout = _check_timeout(timeout)

    def resolve(self, host: str, port: int) -> Sequence[ResolvedAddress]:
        return _unique(
            (family, address)
            for family, _, _, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )

    def __repr__(self) -> str:
        return f"SystemResolver(timeout={self.timeout!r})"


class StaticResolver:
    """Answers from a map of host names to IP addresses, in the order given.

    ``StaticResolver({"api.test": ["::1", "127.0.0.1"]})``. Names are matched without case and
    without a trailing dot. A name not in the map goes to ``fallback`` when one is given, else
    fails as an unknown host. IP literals are answered as themselves.
    """

    __slots__ = ("_fallback", "_hosts", "in_memory", "timeout")

    def __init__(
        self,
        hosts: Mapping[str, str | Sequence[str]],
        *,
        fallback: Resolver | None = None,
        timeout: float | None = None,
    ) -> None:
        table: dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]] = {}
        for name, addresses in hosts.items():
            listed = [addresses] if isinstance(addresses, str) else list(addresses)
            if not listed:
                raise ValueError(f"StaticResolver: {name!r} maps to no address")
            try:
                table[_key(name)] = tuple(ipaddress.ip_address(a) for a in listed)
            except ValueError as exc:
                raise ValueError(
                    f"StaticResolver: {name!r} maps to {listed!r}, which holds something that "
                    "is not an IP address (map names to IPv4 or IPv6 literals)"
                ) from exc
        self._hosts = table
        self._fallback = fallback
        self.timeout = _check_timeout(timeout)
        self.in_memory = fallback is None or fallback.in_memory

    def resolve(self, host: str, port: int) -> Sequence[ResolvedAddress]:
        addresses = self._hosts.get(_key(host))
        if addresses is not None:
            return [_socket_address(address, port) for address in addresses]
        literal = literal_address(host, port)
        if literal is not None:
            return literal
        if self._fallback is not None:
            return self._fallback.resolve(host, port)
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not in the StaticResolver's map")

    def __repr__(self) -> str:
        return f"StaticResolver({len(self._hosts)} names, fallback={self._fallback!r})"


def interleave(addresses: Sequence[ResolvedAddress]) -> list[ResolvedAddress]:
    """RFC 8305 section 4: alternate the families, starting with the first address's."""
    if len(addresses) < 2:
        return list(addresses)
    first = addresses[0][0]
    preferred = [a for a in addresses if a[0] == first]
    others = [a for a in addresses if a[0] != first]
    ordered: list[ResolvedAddress] = []
    for index in range(max(len(preferred), len(others))):
        ordered.extend(group[index] for group in (preferred, others) if index < len(group))
    return ordered


def literal_address(host: str, port: int) -> list[ResolvedAddress] | None:
    """``host`` as its own address when it is an IP literal (no lookup); else ``None``."""
    if "%" in host:  # a scoped IPv6 address: getaddrinfo turns the zone into its index
        try:
            found = socket.getaddrinfo(
                host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except socket.gaierror:
            return None
        return [(family, address) for family, _, _, _, address in found[:1]]
    try:
        return [_socket_address(ipaddress.ip_address(host.strip("[]")), port)]
    except ValueError:
        return None


def checked(host: str, addresses: Sequence[ResolvedAddress]) -> Sequence[ResolvedAddress]:
    """The answer, or the error an empty one deserves."""
    if not addresses:
        raise OSError(f"the resolver returned no address for {host!r}")
    return addresses


def connect_failure(code: int, target: ResolvedAddress) -> OSError:
    """The error of a failed connect attempt, naming the address it was for."""
    host, port = target[1][0], target[1][1]
    where = f"[{host}]:{port}" if target[0] == socket.AF_INET6 else f"{host}:{port}"
    return OSError(code, f"{os.strerror(code)} (connecting to {where})")


def resolve_limit(resolver: Resolver, remaining: float | None) -> float | None:
    """The time the lookup may take: the resolver's own timeout inside what the connect has
    left (``None``: no limit)."""
    if resolver.timeout is None:
        return remaining
    if remaining is None:
        return resolver.timeout
    return min(resolver.timeout, remaining)


def _socket_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> ResolvedAddress:
    if address.version == 6:
        return socket.AF_INET6, (str(address), port, 0, 0)
    return socket.AF_INET, (str(address), port)


def _unique(addresses: Any) -> list[ResolvedAddress]:
    seen: list[ResolvedAddress] = []
    for item in addresses:
        if item not in seen:
            seen.append(item)
    return seen


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def check_delay(delay: float) -> float:
    """A valid Happy Eyeballs connection attempt delay (RFC 8305 recommends 0.1 s to 2 s)."""
    if not 0 < delay <= 2:
        raise ValueError(
            f"happy_eyeballs_delay={delay!r}: give seconds above 0 and at most 2 "
            "(RFC 8305 recommends 0.25)"
        )
    return delay


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is not None and not timeout > 0:
        raise ValueError(f"resolver timeout={timeout!r}: give a number of seconds above 0")
    return timeout
