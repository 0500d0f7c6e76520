"""Happy Eyeballs (RFC 8305) for the blocking client: resolve, then race the addresses.

Job: :func:`resolve` asks the client's :class:`~flext_api.Resolver` within the resolver's own
timeout inside the connect deadline (a resolver that may block runs on a small shared worker
pool, so the caller stops waiting at its deadline even when ``getaddrinfo`` does not);
:func:`open_tcp` tries the answer in RFC 8305 order: the first address alone for the
connection attempt delay (250 ms), then the next one beside it, and so on, with a failed
attempt letting the next one start at once. The first socket to connect wins; every other
attempt is closed before returning.

Never: start a thread per attempt (non-blocking sockets and one selector do the racing),
return a half-connected socket, or leave a losing socket open.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from flext_api._resolver import (
    ResolvedAddress,
    Resolver,
    SystemResolver,
    checked,
    connect_failure,
    interleave,
    literal_address,
    resolve_limit,
)

__all__ = ["open_tcp", "resolve"]

_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY})


# getaddrinfo() blocks for as long as the system likes; running it here lets the caller stop
# waiting at its deadline. A lookup that outlives its caller finishes in the background and
# its result is dropped. Threads start lazily, on the first lookup of a name (not an IP).
def _new_workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="flext-api-dns")


_workers = _new_workers()


def _replace_workers_in_child() -> None:
    # A forked child inherits the executor but not its threads: it believes idle workers
    # exist and queues each lookup for them, so every connect by host name would time out.
    global _workers  # noqa: PLW0603 - the process-wide executor, replaced once per fork
    _workers = _new_workers()


os.register_at_fork(after_in_child=_replace_workers_in_child)


def resolve(
    resolver: Resolver, host: str, port: int, deadline: float | None
) -> Sequence[ResolvedAddress]:
    """The addresses for ``host``, within the resolver's timeout and the deadline."""
    literal = literal_address(host, port)
    if literal is not None:
        return literal
    if resolver.in_memory:
        return checked(host, resolver.resolve(host, port))
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        raise TimeoutError
    limit = resolve_limit(resolver, remaining)
    future = _workers.submit(resolver.resolve, host, port)
    try:
        return checked(host, future.result(limit))
    except TimeoutError:
        future.cancel()  # frees the slot if the lookup has not started yet
        raise TimeoutError(
            f"resolving {host!r} took longer than {limit:.3g} s"
            + (" (the resolver's timeout)" if limit == resolver.timeout else "")
        ) from None


def open_tcp(
    addresses: Sequence[ResolvedAddress], deadline: float | None, delay: float
) -> socket.socket:
    """A connected blocking socket to the first of ``addresses`` that answers (RFC 8305)."""
    if len(addresses) == 1:
        return _connect_one(addresses[0], deadline)
    pending = deque(interleave(addresses))
    attempts: dict[socket.socket, ResolvedAddress] = {}
    errors: list[OSError] = []
    winner: socket.socket | None = None
    next_start = 0.0
    with selectors.DefaultSelector() as selector:
        try:
            while winner is None and (pending or attempts):
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise TimeoutError
                if pending and (not attempts or now >= next_start):
                    started = _start(pending.popleft(), errors)
                    if started is None:
                        continue  # failed at once: the next address starts now
                    if isinstance(started, tuple):
                        winner = started[0]
                        break
                    attempts[started.sock] = started.address
                    selector.register(started.sock, selectors.EVENT_WRITE)
                    next_start = now + delay
                    continue
                wake = deadline
                if pending:
                    wake = next_start if deadline is None else min(next_start, deadline)
                timeout = None if wake is None else max(wake - time.monotonic(), 0.0)
                for key, _ in selector.select(timeout):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    selector.unregister(sock)
                    address = attempts.pop(sock)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code == 0 and winner is None:
                        winner = sock
                        continue
                    sock.close()
                    if code:
                        errors.append(connect_failure(code, address))
                        next_start = time.monotonic()  # a failure lets the next one start now
        finally:
            for sock in attempts:
                sock.close()
    if winner is None:
        raise errors[-1] if errors else OSError("no address to connect to")
    return _ready(winner)


class _Attempt:
    __slots__ = ("address", "sock")

    def __init__(self, sock: socket.socket, address: ResolvedAddress) -> None:
        self.sock = sock
        self.address = address


def _start(
    target: ResolvedAddress, errors: list[OSError]
) -> _Attempt | tuple[socket.socket] | None:
    """Begin a non-blocking connect: an attempt in progress, a socket already connected
    (as a 1-tuple), or ``None`` when it failed at once (the error is recorded)."""
    family, address = target
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        errors.append(exc)
        return None
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code == 0:
        return (sock,)
    if code in _IN_PROGRESS:
        return _Attempt(sock, target)
    sock.close()
    errors.append(connect_failure(code, target))
    return None


def _connect_one(target: ResolvedAddress, deadline: float | None) -> socket.socket:
    family, address = target
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        raise TimeoutError
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(left)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return _ready(sock)


def _ready(sock: socket.socket) -> socket.socket:
    sock.setblocking(True)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


DEFAULT_RESOLVER = SystemResolver()
