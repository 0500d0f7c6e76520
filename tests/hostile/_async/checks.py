"""What every hostile-server case checks afterwards, written once for the three runtimes.

A case ends with: the error code of a Failure (a request call never raises), no connection left
in use, and the same client succeeding on a normal request. Size attacks also bound the
client's extra peak memory with tracemalloc (which sees every thread, the server's included:
the servers keep their payloads prebuilt so they add little).
"""

from __future__ import annotations

import contextlib
import resource
import tracemalloc
from collections.abc import Iterator
from typing import Any, Final

from flext_api import AsyncFlextApiClient, Failure, FlextApiError, Response, Success

HELLO_H1: Final = b"hello, world\n"
HELLO_H2: Final = b"hello, world"
MIB: Final = 1024 * 1024


def failed(result: Success[Any] | Failure[FlextApiError]) -> Failure[FlextApiError]:
    """The result, which must be a Failure (the Success is shown otherwise)."""
    assert isinstance(result, Failure), f"expected a Failure, got {result!r}"
    return result


def succeeded(result: Success[Response] | Failure[FlextApiError]) -> Response:
    """The response of a result that must be a Success (the error is shown otherwise)."""
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


def assert_nothing_in_use(client: AsyncFlextApiClient) -> None:
    stats = client.pool_stats
    assert stats.in_use == 0, stats
    assert stats.waiters == 0, stats


async def assert_recovers(client: AsyncFlextApiClient, url: str, body: bytes) -> None:
    """Nothing left in use, then the same client gets `body` from `url`, then nothing in use."""
    assert_nothing_in_use(client)
    response = succeeded(await client.get(url))
    assert response.status_code == 200
    assert response.content == body, response.content
    assert_nothing_in_use(client)


class PeakMemory:
    """The peak of traced allocations above the level when tracing started, in bytes."""

    peak = 0


@contextlib.contextmanager
def traced_peak() -> Iterator[PeakMemory]:
    measured = PeakMemory()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        yield measured
        _, peak = tracemalloc.get_traced_memory()
        measured.peak = peak - base
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def memory_cap(headroom: int) -> Iterator[None]:
    """Cap this process's address space at its current size plus `headroom` while inside.

    The decompression-bomb cases run on a machine shared with others: a client that does hold a
    bomb's output would take gigabytes. With the cap it gets MemoryError instead (which fails
    the test: a request call must never raise), and the machine is spared.
    """
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
