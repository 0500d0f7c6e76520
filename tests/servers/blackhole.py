"""A listening address that never answers a connect: its accept queue is full, so the kernel
drops every further SYN and the client's connect hangs (as behind a firewall that drops, or on
a broken IPv6 path). For Happy Eyeballs tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def blackhole(host: str, port: int = 0) -> Iterator[int]:
    """Listen on ``host:port`` (0: any free port), fill the queue, yield the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind((host, port))
        listener.listen(0)
        bound = listener.getsockname()[1]
        for _ in range(3):  # a backlog of 0 still queues one; more are dropped
            filler = socket.socket(family, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex((host, bound))
            fillers.append(filler)
        time.sleep(0.05)
        yield bound
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
