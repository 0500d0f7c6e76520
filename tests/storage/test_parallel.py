"""The bounded part pools behind concurrent multipart uploads (flext_api.storage._parallel):
jobs run at most ``limit`` at once, all finish before the block ends, and the first failure
comes out as itself (never an exception group), on threads, asyncio and trio."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest

from flext_api._synchronization import async_sleep
from flext_api.storage._parallel import AsyncPartPool, PartPool, off_loop


def test_threads_bound_and_finish_every_job() -> None:
    running, peak, done = 0, 0, []
    lock = threading.Lock()

    def job(number: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
            done.append(number)

    with PartPool(3) as pool:
        for number in range(12):
            pool.submit(partial(job, number))
    assert sorted(done) == list(range(12))
    assert 1 < peak <= 3


def test_threads_stop_at_the_first_failure() -> None:
    started: list[int] = []

    def job(number: int) -> None:
        started.append(number)
        if number == 1:
            raise OSError("part 1 failed")

    with pytest.raises(OSError, match="part 1 failed"), PartPool(1) as pool:
        for number in range(10):
            pool.submit(partial(job, number))
    assert len(started) < 10
    # A failure of the block itself wins; the jobs are still waited for.
    with pytest.raises(KeyError), PartPool(2) as pool:
        pool.submit(lambda: None)
        raise KeyError("body")
    # A job failing after the last submit is raised on leaving.
    with pytest.raises(OSError, match="late"), PartPool(2) as pool:
        pool.submit(lambda: (_ for _ in ()).throw(OSError("late")))
    with pytest.raises(ValueError, match="limit"):
        PartPool(0)
    with pytest.raises(ValueError, match="limit"):
        AsyncPartPool(0)


@pytest.mark.anyio
async def test_tasks_bound_and_finish_every_job() -> None:
    running, peak, done = 0, 0, []

    async def job(number: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await async_sleep(0.005)
        running -= 1
        done.append(number)

    async with AsyncPartPool(2) as pool:
        for number in range(8):
            await pool.submit(partial(job, number))
    assert sorted(done) == list(range(8))
    assert peak == 2


@pytest.mark.anyio
async def test_tasks_fail_with_the_error_itself() -> None:
    async def fails() -> None:
        await async_sleep(0)
        raise OSError("part failed") from KeyError("cause")

    async def slow() -> None:
        await async_sleep(10)

    with pytest.raises(OSError, match="part failed") as caught:
        async with AsyncPartPool(3) as pool:
            await pool.submit(slow)
            await pool.submit(fails)
    assert isinstance(caught.value.__cause__, KeyError)


@pytest.mark.anyio
async def test_off_loop_work_leaves_the_loop_running() -> None:
    """A part hashed off the loop: the work runs on another thread, its result (or error)
    comes back, and the loop's other tasks go on meanwhile."""
    loop_thread = threading.get_ident()
    started = threading.Event()
    release = threading.Event()
    ticks = 0

    def work(value: int) -> tuple[int, int]:
        started.set()
        assert release.wait(5)
        return threading.get_ident(), value * 2

    async def ticker() -> None:
        nonlocal ticks
        while not started.is_set():
            await async_sleep(0.001)
        while ticks < 5:  # the loop runs while the work is held
            ticks += 1
            await async_sleep(0.001)
        release.set()

    async with AsyncPartPool(2) as pool:
        results: list[tuple[int, int]] = []

        async def hashed() -> None:
            results.append(await off_loop(work, 21))

        await pool.submit(hashed)
        await pool.submit(ticker)
    assert ticks == 5
    assert results[0][0] != loop_thread
    assert results[0][1] == 42

    def fails() -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await off_loop(fails)
