"""MultiBackend over real local backends, one of which loses its root (a disk unmounted), on a
fake clock: failover, round robin, marking down and probing back, all/quorum writes, outcomes."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flext_api._result import Failure, Success
from flext_api.storage import (
    AsyncLocalStorage,
    AsyncMultiBackend,
    BackendOutcome,
    StorageError,
)

pytestmark = pytest.mark.anyio  # unasync: remove


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Disks:
    def __init__(self, tmp_path: Path) -> None:
        self.paths = {name: tmp_path / name for name in ("one", "two", "bad")}
        self.backends = {
            name: AsyncLocalStorage(path, name=name) for name, path in self.paths.items()
        }

    def unmount(self, name: str) -> None:
        shutil.rmtree(self.paths[name])

    def mount(self, name: str) -> None:
        self.paths[name].mkdir()


@pytest.fixture
def disks(tmp_path: Path) -> Disks:
    return Disks(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def summary(outcomes: tuple[BackendOutcome, ...]) -> list[tuple[str, str]]:
    def state(o: BackendOutcome) -> str:
        if o.ok:
            return "ok"
        if o.skipped:
            return "skipped"
        assert o.error is not None
        return o.error.code

    return [(o.backend, state(o)) for o in outcomes]


def failure(result: object) -> StorageError:
    assert isinstance(result, Failure), result
    error = result.error
    assert isinstance(error, StorageError)
    return error


async def test_reads_fail_over_in_priority_order(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["bad"], b["one"], b["two"]], clock=clock, failure_threshold=2)
    await b["one"].upload_file("k", b"from one")
    disks.unmount("bad")
    result = await multi.download_file("k")
    assert isinstance(result, Success)
    assert result.value.value == b"from one" and result.value.backend == "one"
    assert summary(result.value.outcomes) == [("bad", "BACKEND_UNAVAILABLE"), ("one", "ok")]
    assert result.value.succeeded == ("one",) and result.value.failed == ("bad",)
    # Missing on one backend, present on the next: NOT_FOUND fails over too.
    await b["two"].upload_file("only-two", b"2")
    found = (await multi.stat("only-two")).unwrap()
    assert found.backend == "two" and found.value.size == 1
    assert summary(found.outcomes) == [
        ("bad", "BACKEND_UNAVAILABLE"),
        ("one", "NOT_FOUND"),
        ("two", "ok"),
    ]
    # Two failures in a row: bad is marked down and skipped from now on.
    again = (await multi.stat("only-two")).unwrap()
    assert summary(again.outcomes) == [("bad", "skipped"), ("one", "NOT_FOUND"), ("two", "ok")]


async def test_not_found_everywhere_stays_not_found_with_every_outcome(
    disks: Disks, clock: FakeClock
) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock)
    error = failure(await multi.download_file("nowhere"))
    assert error.code == "NOT_FOUND"
    assert summary(error.outcomes) == [("one", "NOT_FOUND"), ("two", "NOT_FOUND")]
    assert (await multi.exists("nowhere")).unwrap().value is False
    await b["two"].upload_file("somewhere", b"x")
    assert (await multi.exists("somewhere")).unwrap().value is True
    # A mixture of failures is ALL_BACKENDS_FAILED, naming each.
    disks.unmount("two")
    mixed = failure(await multi.stat("nowhere"))
    assert mixed.code == "ALL_BACKENDS_FAILED"
    assert "one: NOT_FOUND" in str(mixed) and "two: BACKEND_UNAVAILABLE" in str(mixed)
    assert failure(await multi.exists("nowhere")).code == "ALL_BACKENDS_FAILED"


async def test_caller_errors_stop_at_the_first_backend(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock)
    error = failure(await multi.download_file("../escape"))
    assert error.code == "INVALID_KEY" and summary(error.outcomes) == [("one", "INVALID_KEY")]
    write = failure(await multi.upload_file("a", b"x", metadata={"Bad": "x"}))
    assert write.code == "INVALID_METADATA" and summary(write.outcomes) == [
        ("one", "INVALID_METADATA")
    ]


async def test_marked_down_after_failures_then_probed_back(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend(
        [b["bad"], b["one"]],
        clock=clock,
        failure_threshold=2,
        probe_interval=10,
        health_interval=None,
    )
    await b["bad"].upload_file("k", b"bad copy")
    await b["one"].upload_file("k", b"one copy")
    disks.unmount("bad")
    for _ in range(2):
        assert (await multi.download_file("k")).unwrap().value == b"one copy"
    health = {h.backend: h for h in multi.health()}
    assert not health["bad"].up and health["bad"].consecutive_failures == 2
    assert health["bad"].last_error == "BACKEND_UNAVAILABLE"
    assert health["bad"].next_check_at == clock.now + 10
    assert health["one"].up
    skipped = (await multi.download_file("k")).unwrap()
    assert summary(skipped.outcomes) == [("bad", "skipped"), ("one", "ok")]
    # Back, but not probed before the interval: still skipped.
    disks.mount("bad")
    await b["bad"].upload_file("k", b"bad copy")
    clock.now += 9
    assert (await multi.download_file("k")).unwrap().backend == "one"
    # Due: the next call probes it first and it serves again.
    clock.now += 1
    back = (await multi.download_file("k")).unwrap()
    assert back.backend == "bad" and back.value == b"bad copy"
    assert {h.backend: h.up for h in multi.health()} == {"bad": True, "one": True}


async def test_a_failed_probe_keeps_it_down_until_the_next(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend(
        [b["bad"], b["one"]], clock=clock, failure_threshold=1, probe_interval=5
    )
    disks.unmount("bad")
    await multi.list_files()
    assert [h.up for h in multi.health()] == [False, True]
    clock.now += 5
    await multi.list_files()  # the probe runs and fails
    state = multi.health()[0]
    assert not state.up and state.consecutive_failures == 2 and state.next_check_at == clock.now + 5


async def test_periodic_health_checks_notice_a_backend_going_away(
    disks: Disks, clock: FakeClock
) -> None:
    b = disks.backends
    multi = AsyncMultiBackend(
        [b["bad"], b["one"]], clock=clock, failure_threshold=1, health_interval=30
    )
    await b["one"].upload_file("k", b"x")
    disks.unmount("bad")
    clock.now += 29
    assert [h.up for h in multi.health()] == [True, True]  # nothing runs in the background
    clock.now += 1
    result = (await multi.stat("k")).unwrap()  # the due check runs first, marks bad down
    assert summary(result.outcomes) == [("bad", "skipped"), ("one", "ok")]
    checked = await multi.check_health()
    assert [(h.backend, h.up) for h in checked] == [("bad", False), ("one", True)]


async def test_round_robin_reads_take_turns(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock, read="round_robin")
    for name in ("one", "two"):
        await b[name].upload_file("k", name.encode())
    served = [(await multi.download_file("k")).unwrap().backend for _ in range(4)]
    assert served == ["one", "two", "one", "two"]


async def test_writes_to_all(disks: Disks, clock: FakeClock, tmp_path: Path) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock)

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"chunk-"

    stored = (await multi.upload_file("s", stream(), metadata={"m": "1"})).unwrap()
    assert stored.value.size == 18 and summary(stored.outcomes) == [("one", "ok"), ("two", "ok")]
    source = tmp_path / "src.bin"
    source.write_bytes(b"0123456789")
    with source.open("rb") as file:
        file.seek(4)
        assert (await multi.upload_file("f", file)).unwrap().value.size == 6
    await multi.upload_file("p", source)
    for name in ("one", "two"):
        assert (await b[name].download_file("s")).unwrap() == b"chunk-" * 3
        assert (await b[name].stat("s")).unwrap().metadata == {"m": "1"}
        assert (await b[name].download_file("f")).unwrap() == b"456789"
        assert (await b[name].download_file("p")).unwrap() == b"0123456789"
    copied = (await multi.copy_file("s", "t")).unwrap()
    assert copied.succeeded == ("one", "two")
    assert (await multi.delete_file("s")).unwrap().succeeded == ("one", "two")
    assert not (await b["two"].exists("s")).unwrap()


async def test_write_all_fails_when_one_backend_cannot(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["bad"]], clock=clock)
    disks.unmount("bad")
    error = failure(await multi.upload_file("k", b"x"))
    assert error.code == "QUORUM_NOT_MET"
    assert summary(error.outcomes) == [("one", "ok"), ("bad", "BACKEND_UNAVAILABLE")]
    assert "nothing was rolled back" in str(error)
    assert (await b["one"].download_file("k")).unwrap() == b"x"


async def test_quorum_writes(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["bad"], b["one"], b["two"]], clock=clock, write="quorum")
    assert multi.quorum == 2
    disks.unmount("bad")
    result = (await multi.upload_file("k", b"x")).unwrap()
    assert result.backend == "one"
    assert summary(result.outcomes) == [
        ("bad", "BACKEND_UNAVAILABLE"),
        ("one", "ok"),
        ("two", "ok"),
    ]
    disks.unmount("two")
    error = failure(await multi.upload_file("k2", b"x"))
    assert error.code == "QUORUM_NOT_MET" and error.outcomes[1].ok
    disks.unmount("one")
    every = failure(await multi.delete_file("k"))
    assert every.code == "BACKEND_UNAVAILABLE" and len(every.outcomes) == 3


async def test_all_down_are_tried_anyway(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock, failure_threshold=1)
    await b["two"].upload_file("k", b"x")
    disks.unmount("one")
    disks.unmount("two")
    assert failure(await multi.stat("k")).code == "BACKEND_UNAVAILABLE"
    assert [h.up for h in multi.health()] == [False, False]
    disks.mount("two")
    await b["two"].upload_file("k", b"x")
    assert (await multi.stat("k")).unwrap().backend == "two"
    # write="all": a backend marked down counts as not written.
    partial = failure(await multi.upload_file("w", b"y"))
    assert partial.code == "QUORUM_NOT_MET"
    assert summary(partial.outcomes) == [("one", "skipped"), ("two", "ok")]


async def test_listing_pages_stay_on_one_backend(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock, read="round_robin")
    for i in range(5):
        await b["two"].upload_file(f"k{i}", b"x")
    await b["one"].upload_file("only-one", b"x")
    first = (await multi.list_page(page_size=2)).unwrap()
    assert first.backend == "one"
    second = (await multi.list_page(page_size=2)).unwrap()  # round robin: from two now
    assert second.backend == "two" and second.value.next_token is not None
    rest = (await multi.list_page(page_token=second.value.next_token, page_size=2)).unwrap()
    assert rest.backend == "two" and [i.key for i in rest.value.items] == ["k2", "k3"]
    listed = [i.key async for i in multi.iter_files(page_size=2)]
    assert listed == ["only-one"] or listed == [f"k{i}" for i in range(5)]
    everything = (await multi.list_files(page_size=2)).unwrap()
    assert len(everything.value) in (1, 5)
    assert len((await multi.list_files(page_size=2, limit=3)).unwrap().value) in (1, 3)
    with pytest.raises(ValueError, match="not a page token"):
        await multi.list_page(page_token="9:x")
    disks.unmount("two")
    failed = failure(await multi.list_page(page_token=second.value.next_token))
    assert summary(failed.outcomes) == [("two", "BACKEND_UNAVAILABLE")]


async def test_download_to_a_writable_and_presign(disks: Disks, clock: FakeClock) -> None:
    b = disks.backends
    multi = AsyncMultiBackend([b["one"], b["two"]], clock=clock)
    await b["two"].upload_file("k", b"payload")
    sink = io.BytesIO()
    done = (await multi.download_file("k", sink)).unwrap()
    assert done.backend == "two" and sink.getvalue() == b"payload"
    unsupported = failure(await multi.presigned_get_url("k"))
    assert unsupported.code == "UNSUPPORTED" and len(unsupported.outcomes) == 2
    assert failure(await multi.presigned_put_url("k")).code == "UNSUPPORTED"


async def test_settings_are_checked(disks: Disks) -> None:
    b = disks.backends
    with pytest.raises(ValueError, match="at least one"):
        AsyncMultiBackend([])
    with pytest.raises(ValueError, match="names must differ"):
        AsyncMultiBackend([b["one"], b["one"]])
    with pytest.raises(ValueError, match="goes with write='quorum'"):
        AsyncMultiBackend([b["one"]], quorum=1)
    with pytest.raises(ValueError, match="between 1 and 2"):
        AsyncMultiBackend([b["one"], b["two"]], write="quorum", quorum=3)
    with pytest.raises(ValueError, match="read is"):
        AsyncMultiBackend([b["one"]], read="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failure_threshold"):
        AsyncMultiBackend([b["one"]], failure_threshold=0)
    with pytest.raises(ValueError, match="seconds > 0"):
        AsyncMultiBackend([b["one"]], probe_interval=0)
    async with AsyncMultiBackend([b["one"], b["two"]]) as multi:
        assert multi.backends == (b["one"], b["two"])
