"""Fork detection: one process-wide generation counter, bumped in every forked child.

A child made by ``os.fork()`` (multiprocessing's "fork" start method, gunicorn's workers,
Celery's prefork pool) inherits a copy of the parent's memory: pooled connections whose
sockets the parent still uses (both processes would then read each other's responses), locks
that threads of the parent may have held (the threads do not exist in the child), and thread
pools whose workers do not exist either. Objects holding such state record ``generation`` when
they make it and compare it where they hand it out: an attribute read per request, never a
``getpid()`` syscall. What must be fixed at once (an executor) registers its own hook with
``os.register_at_fork``.

What the parent still uses is dropped in the child without a byte on the wire (no TLS
close_notify, no HTTP/2 GOAWAY, no ``shutdown()``): only the child's file descriptors close.

Never: close, shut down or write to an inherited socket from the child, or take a lock the
parent may have held at the fork.
"""

from __future__ import annotations

import os

__all__ = ["drop_inherited_descriptor", "generation"]

generation = 0
"""How many forks separate this process from the one that imported flext-api."""

# Objects that own a dropped descriptor and must never be finalized (see below).
_kept: list[object] = []


def _forked() -> None:
    global generation  # noqa: PLW0603 - the one process-wide counter, by design
    generation += 1


def drop_inherited_descriptor(fd: int, owner: object) -> None:
    """In a forked child: let go of the parent's socket ``fd`` without touching it.

    For an owner that cannot be closed in the child (an asyncio transport belongs to the
    parent's event loop, whose epoll set the child shares: removing the descriptor from it
    would remove it for the parent too). ``fd`` is pointed at ``/dev/null``, which drops the
    child's reference to the socket (so the parent's own close still sends FIN), and
    ``owner`` is kept for the rest of the process so that its finalizer, which would warn and
    reach for the loop, never runs before exit; it then closes ``/dev/null``, its own
    descriptor, and nothing else.
    """
    if fd < 0:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
    _kept.append(owner)


os.register_at_fork(after_in_child=_forked)
