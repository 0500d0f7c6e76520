"""Happy Eyeballs (RFC 8305) on asyncio: resolve with the client's resolver, then race.

Job: :func:`resolve` asks the resolver (``loop.getaddrinfo`` for the system resolver, a worker
thread for another that may block, a direct call for one that answers from memory) within the
resolver's own timeout; :func:`open_tcp` starts a connect per address, each one the connection
attempt delay after the previous (at once after a failure), and returns the first socket that
connects. The caller's ``asyncio.timeout`` bounds the whole thing.

Never: leave a losing attempt running or its socket open, whatever ends the race (a winner,
an error, the deadline, a cancellation).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections import deque
from collections.abc import Sequence

from flext_api._resolver import (
    ResolvedAddress,
    Resolver,
    SystemResolver,
    checked,
    connect_failure,
    interleave,
    literal_address,
)

__all__ = ["open_tcp", "resolve"]

_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY})


async def resolve(resolver: Resolver, host: str, port: int) -> Sequence[ResolvedAddress]:
    """The addresses for ``host``; the resolver's timeout applies inside the caller's."""
    loop = asyncio.get_running_loop()
    literal = literal_address(host, port)
    if literal is not None:
        return literal
    if resolver.in_memory:
        return checked(host, resolver.resolve(host, port))
    try:
        async with asyncio.timeout(resolver.timeout):
            if isinstance(resolver, SystemResolver):
                found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                return checked(host, _unique([(f, a) for f, _, _, _, a in found]))
            return checked(host, await loop.run_in_executor(None, resolver.resolve, host, port))
    except TimeoutError:
        raise TimeoutError(
            f"resolving {host!r} took longer than the resolver's timeout ({resolver.timeout:.3g} s)"
        ) from None


async def open_tcp(addresses: Sequence[ResolvedAddress], delay: float) -> socket.socket:
    """A connected non-blocking socket to the first of ``addresses`` that answers."""
    loop = asyncio.get_running_loop()
    pending = deque(interleave(addresses))
    running: dict[asyncio.Future[None], socket.socket] = {}
    errors: list[OSError] = []
    try:
        while pending or running:
            if pending:
                attempt = _start(loop, pending.popleft(), errors)
                if attempt is None:
                    continue  # failed at once: the next address starts now
                running[attempt[0]] = attempt[1]
            done, _ = await asyncio.wait(
                running, timeout=delay if pending else None, return_when=asyncio.FIRST_COMPLETED
            )
            for finished in done:
                sock = running.pop(finished)
                error = finished.exception()
                if error is None:
                    return sock
                sock.close()
                errors.append(error if isinstance(error, OSError) else OSError(str(error)))
    finally:
        # Synchronously: unregister each losing descriptor before closing it, so a number the
        # kernel hands out again is never unregistered later on someone else's behalf.
        for attempt_future, sock in running.items():
            loop.remove_writer(sock.fileno())
            sock.close()
            attempt_future.cancel()
    raise errors[-1] if errors else OSError("no address to connect to")


def _start(
    loop: asyncio.AbstractEventLoop, target: ResolvedAddress, errors: list[OSError]
) -> tuple[asyncio.Future[None], socket.socket] | None:
    """A non-blocking connect watched by the loop; ``None`` when it failed at once."""
    try:
        sock = socket.socket(target[0], socket.SOCK_STREAM)
    except OSError as exc:
        errors.append(exc)
        return None
    sock.setblocking(False)
    done: asyncio.Future[None] = loop.create_future()
    code = sock.connect_ex(target[1])
    if code == 0:
        done.set_result(None)
    elif code in _IN_PROGRESS:
        loop.add_writer(sock.fileno(), _writable, loop, sock, done, target)
    else:
        sock.close()
        errors.append(connect_failure(code, target))
        return None
    return done, sock


def _writable(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    done: asyncio.Future[None],
    target: ResolvedAddress,
) -> None:
    loop.remove_writer(sock.fileno())
    if done.done():
        return
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        done.set_exception(connect_failure(code, target))
    else:
        done.set_result(None)


def _unique(addresses: list[ResolvedAddress]) -> list[ResolvedAddress]:
    return list(dict.fromkeys(addresses))
