"""Happy Eyeballs (RFC 8305) on trio: resolve with the client's resolver, then race.

Job: :func:`resolve` asks the resolver (trio's ``getaddrinfo`` for the system resolver, a
worker thread trio may abandon for another that may block, a direct call for one that answers
from memory) within the resolver's own timeout; :func:`open_tcp` starts a connect per address
in a nursery, each the connection attempt delay after the previous (at once after a failure),
and returns the first connected socket as a ``trio.SocketStream``. The caller's cancel scope
bounds the whole thing.

Never: leave a losing attempt running or its socket open, however the race ends.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import trio

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


async def resolve(resolver: Resolver, host: str, port: int) -> Sequence[ResolvedAddress]:
    """The addresses for ``host``; the resolver's timeout applies inside the caller's."""
    literal = literal_address(host, port)
    if literal is not None:
        return literal
    if resolver.in_memory:
        return checked(host, resolver.resolve(host, port))
    with trio.move_on_after(resolver.timeout if resolver.timeout is not None else float("inf")):
        if isinstance(resolver, SystemResolver):
            found = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            return list(dict.fromkeys((family, address) for family, _, _, _, address in found))
        return await trio.to_thread.run_sync(resolver.resolve, host, port, abandon_on_cancel=True)
    raise TimeoutError(
        f"resolving {host!r} took longer than the resolver's timeout ({resolver.timeout:.3g} s)"
    )


async def open_tcp(addresses: Sequence[ResolvedAddress], delay: float) -> trio.SocketStream:
    """A stream to the first of ``addresses`` that answers."""
    errors: list[OSError] = []
    winner: list[trio.socket.SocketType] = []

    async def attempt(target: ResolvedAddress, failed: trio.Event) -> None:
        try:
            sock = trio.socket.socket(target[0], socket.SOCK_STREAM)
        except OSError as exc:
            errors.append(exc)
            failed.set()
            return
        try:
            await sock.connect(target[1])
        except OSError as exc:
            sock.close()
            errors.append(connect_failure(exc.errno, target) if exc.errno else exc)
            failed.set()
            return
        except BaseException:
            sock.close()
            raise
        if winner:
            sock.close()
            return
        winner.append(sock)
        nursery.cancel_scope.cancel()

    try:
        async with trio.open_nursery() as nursery:
            for target in interleave(addresses):
                failed = trio.Event()
                nursery.start_soon(attempt, target, failed)
                with trio.move_on_after(delay):
                    await failed.wait()  # a failure lets the next attempt start at once
    except BaseException:
        # Cancelled from outside (or failed) after an attempt won: nobody will own its socket.
        for sock in winner:
            sock.close()
        raise
    if winner:
        return trio.SocketStream(winner[0])
    raise errors[-1] if errors else OSError("no address to connect to")
