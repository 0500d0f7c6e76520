"""Run calls at the same time, for tests written once for the sync and async clients.

``tests/_async`` awaits ``agather`` (anyio tasks, so asyncio and trio alike); the generated
``tests/_sync`` twin calls ``gather`` (one thread per call). Results come back in call order;
the first exception raised by a call is raised after every call has finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

T = TypeVar("T")

__all__ = ["agather", "gather"]


def gather(calls: Sequence[Callable[[], T]]) -> list[T]:
    with ThreadPoolExecutor(max_workers=max(len(calls), 1)) as executor:
        futures = [executor.submit(call) for call in calls]
        return [future.result() for future in futures]


async def agather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    results: dict[int, T] = {}

    async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
        results[index] = await call()

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    return [results[index] for index in range(len(calls))]
