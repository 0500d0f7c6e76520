"""The cache's pure parts: the LRU store, the file store's format and cleanup, RESP, config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flext_api.cache import CacheConfig
from flext_api.cache._filesystem import FileStore
from flext_api.cache._memory import MemoryStore
from flext_api.cache._resp import NEED_DATA, ReplyError, ReplyParser, encode_command


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def memory(clock: FakeClock, *, entries: int = 100, size: int = 10_000) -> MemoryStore:
    return MemoryStore(max_entries=entries, max_bytes=size, clock=clock, cleanup_interval=60)


def test_memory_bounded_by_bytes_evicts_least_recently_used() -> None:
    store = memory(FakeClock(), size=3 * (1 + 100 + 64))
    for key in "abc":
        store.set(key, b"x" * 100, None)
    assert store.get("a") == b"x" * 100  # a becomes most recently used
    store.set("d", b"y" * 100, None)
    assert store.get("b") is None
    assert [store.get(k) is not None for k in "acd"] == [True, True, True]
    assert store.size_bytes <= 3 * (1 + 100 + 64)


def test_memory_value_larger_than_the_bound_is_not_stored_and_evicts_nothing() -> None:
    store = memory(FakeClock(), size=1000)
    store.set("keep", b"k", None)
    store.set("huge", b"h" * 2000, None)
    assert store.get("huge") is None
    assert store.get("keep") == b"k"


def test_memory_overwrite_keeps_the_byte_count_exact() -> None:
    store = memory(FakeClock())
    store.set("a", b"x" * 50, None)
    store.set("a", b"x" * 10, None)
    assert store.size_bytes == 1 + 10 + 64
    assert store.delete("a") is True
    assert store.size_bytes == 0


def test_memory_expired_entries_are_swept_lazily_on_the_clock() -> None:
    clock = FakeClock()
    store = memory(clock)
    for i in range(10):
        store.set(f"k{i}", b"v", ttl=1)
    store.set("stay", b"v", None)
    clock.now = 30  # expired, but the sweep is not due yet: entries stay until touched
    assert len(store) == 11
    clock.now = 61
    store.get("stay")  # the first call after the interval sweeps
    assert len(store) == 1


def _file_store(tmp_path: Path, clock: FakeClock, size: int = 1 << 20) -> FileStore:
    return FileStore(tmp_path, max_bytes=size, clock=clock, cleanup_interval=60)


def test_file_store_round_trip_ttl_and_truncated_file(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _file_store(tmp_path, clock)
    store.set("a", b"alpha", ttl=10)
    assert store.get("a") == b"alpha"
    clock.now = 10
    assert store.get("a") is None
    assert list(tmp_path.glob("*.entry")) == []  # the expired file was removed on read
    store.set("b", b"bravo" * 100, None)
    (path,) = tmp_path.glob("*.entry")
    path.write_bytes(path.read_bytes()[:-3])  # a file cut short (power loss after a rename)
    assert store.get("b") is None
    assert not path.exists()


def test_file_store_bounded_by_bytes_drops_oldest_first(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _file_store(tmp_path, clock, size=3 * (20 + 1000))
    for i, key in enumerate("abcd"):
        store.set(key, bytes([i]) * 1000, None)
        path = store._path(key)
        os.utime(path, (1000 + i, 1000 + i))  # distinct write times, oldest first
    assert store.get("a") is None
    assert [store.get(k) is not None for k in "bcd"] == [True, True, True]
    total = sum(p.stat().st_size for p in tmp_path.glob("*.entry"))
    assert total <= 3 * (20 + 1000)


def test_file_store_cleanup_removes_orphaned_temp_files_only(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _file_store(tmp_path, clock)
    dead = tmp_path / ".tmp-999999999-abc"  # no such pid
    dead.write_bytes(b"half")
    mine = tmp_path / f".tmp-{os.getpid()}-abc"  # a write in progress in a live process
    mine.write_bytes(b"half")
    store.set("k", b"v", ttl=1)
    clock.now = 61
    store.set("other", b"v", None)  # cleanup is due: runs on this call
    assert not dead.exists()
    assert mine.exists()
    assert store.get("other") == b"v"
    assert store.get("k") is None


@pytest.mark.parametrize(
    ("wire", "reply"),
    [
        (b"+OK\r\n", b"OK"),
        (b"-ERR wrong\r\n", "ERR wrong"),
        (b":42\r\n", 42),
        (b"$-1\r\n", None),
        (b"$0\r\n\r\n", b""),
        (b"$5\r\nhe\r\no\r\n", b"he\r\no"),
        (b"*2\r\n$1\r\na\r\n:1\r\n", [b"a", 1]),
        (b"*2\r\n$1\r\n0\r\n*0\r\n", [b"0", []]),
    ],
)
def test_resp_replies_whole_and_split_at_every_offset(wire: bytes, reply: object) -> None:
    for cut in range(len(wire) + 1):
        parser = ReplyParser()
        parser.feed(wire[:cut])
        got = parser.next_reply()
        if cut < len(wire):
            assert got is NEED_DATA
            parser.feed(wire[cut:])
            got = parser.next_reply()
        if isinstance(got, ReplyError):
            assert got.message == reply
        else:
            assert got == reply
        assert parser.next_reply() is NEED_DATA


def test_resp_rejects_bytes_that_are_not_resp() -> None:
    parser = ReplyParser()
    parser.feed(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(ValueError, match="not a RESP reply"):
        parser.next_reply()


def test_resp_encodes_commands_as_bulk_arrays() -> None:
    assert encode_command("SET", b"k", 5) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_entries": 0}, "max_entries"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"timeout": 0}, "timeout"),
        ({"redis_url": "http://x"}, "redis://host:port/db"),
        ({"redis_url": "redis://h/x"}, "database must be a number"),
    ],
)
def test_config_rejects_invalid_values_naming_the_field(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CacheConfig(**options)  # type: ignore[arg-type]


def test_config_parses_redis_url_with_credentials() -> None:
    address = CacheConfig(redis_url="redis://user:p%40ss@10.0.0.1:7000/3").redis_address()
    assert (address.host, address.port, address.db) == ("10.0.0.1", 7000, 3)
    assert (address.username, address.password) == ("user", "p@ss")


def test_public_names_and_stable_codes() -> None:
    import flext_api.cache as cache_package
    from flext_api import FlextApiError

    names = cache_package.__all__
    assert len(names) == len(set(names))
    assert all(hasattr(cache_package, name) for name in names)
    assert cache_package.FlextApiCache.__module__ == "flext_api.cache._sync.cache"  # generated
    codes = {
        cache_package.CacheUnavailable: "CACHE_UNAVAILABLE",
        cache_package.CacheEncodeError: "CACHE_ENCODE_ERROR",
        cache_package.CacheDecodeError: "CACHE_DECODE_ERROR",
    }
    for error_type, code in codes.items():
        assert issubclass(error_type, FlextApiError)
        assert error_type.code == code
