"""The cache across processes: a writer killed mid-write, a shared directory, Redis single-flight.

Each case runs real child interpreters (``subprocess``), because what is tested is what one
process leaves behind for another.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from flext_api._result import Success
from flext_api.cache import CacheConfig, FlextApiCache
from flext_api.cache._filesystem import FileStore
from flext_api.cache._sync.backend import LocalBackend
from flext_api.cache._sync.redis import RedisBackend
from tests.redis_servers import RedisProcess, redis_process

ROOT = Path(__file__).resolve().parent.parent


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


KILLED_WRITER = """
import os, signal, sys
from flext_api.cache import CacheConfig, FlextApiCache
from flext_api.cache import _filesystem

real_write = os.write
def write_then_die(fd, data):
    written = real_write(fd, data)
    if written >= 1 << 20:  # the first 1 MiB chunk of the value is on disk: die now
        os.kill(os.getpid(), signal.SIGKILL)
    return written
_filesystem.os.write = write_then_die
cache = FlextApiCache("filesystem", config=CacheConfig(directory=sys.argv[1]))
cache.set("k", b"n" * (3 << 20))
print("not killed")
"""


@pytest.mark.parametrize("had_value", [True, False])
def test_writer_killed_mid_write_leaves_no_torn_entry(tmp_path: Path, had_value: bool) -> None:
    config = CacheConfig(directory=str(tmp_path))
    with FlextApiCache("filesystem", config=config) as cache:
        if had_value:
            assert cache.set("k", b"old value").is_success
        child = _python(KILLED_WRITER, str(tmp_path))
        out, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, err
        assert "not killed" not in out
        torn = list(tmp_path.glob(".tmp-*"))
        assert len(torn) == 1  # the half-written file the kill left behind
        assert 1 << 20 <= torn[0].stat().st_size < 3 << 20
        assert cache.get("k") == Success(b"old value" if had_value else None)
        backend = cache.backend
        assert isinstance(backend, LocalBackend)
        store = backend.store
        assert isinstance(store, FileStore)
        store.cleanup()  # what the next due set() runs: the dead writer's file goes
        assert list(tmp_path.glob(".tmp-*")) == []
        assert cache.get("k") == Success(b"old value" if had_value else None)


SHARED_DIRECTORY = """
import sys
from flext_api.cache import CacheConfig, FlextApiCache
directory, seed = sys.argv[1], int(sys.argv[2])
config = CacheConfig(directory=directory, max_bytes=64 * 1024)
cache = FlextApiCache("filesystem", config=config)
bad = 0
for i in range(300):
    key = f"k{(i * 7 + seed) % 10}"
    size = 1000 + (i * 131 + seed * 17) % 5000
    assert cache.set(key, (key + ":").encode() * size).is_success
    got = cache.get(f"k{(i + seed) % 10}").unwrap()
    if got is not None:
        prefix = got[: got.index(b":") + 1]
        if got != prefix * (len(got) // len(prefix)) or len(got) % len(prefix):
            bad += 1
print(bad)
"""


def test_several_processes_share_one_directory(tmp_path: Path) -> None:
    children = [_python(SHARED_DIRECTORY, str(tmp_path), str(seed)) for seed in range(4)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "0"  # every value read was whole
    total = sum(p.stat().st_size for p in tmp_path.glob("*.entry"))
    # each process cleans up when its own estimate crosses the bound: at most a few
    # entries over it at the end, never unbounded growth
    assert total <= 64 * 1024 + 4 * 6 * 5000


SINGLE_FLIGHT = """
import sys, time
from flext_api.cache import CacheConfig, FlextApiCache
url = sys.argv[1]
cache = FlextApiCache("redis", config=CacheConfig(redis_url=url, key_prefix="sf:", timeout=2))
def compute():
    cache.backend.command("INCR", "sf:runs")
    time.sleep(0.3)  # long enough for the other processes to find the key missing
    return b"value"
print(cache.get_or_compute("shared", compute, ttl=60).unwrap().decode())
"""


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    with redis_process() as server:
        yield server


def test_redis_single_flight_across_processes(redis: RedisProcess) -> None:
    children = [_python(SINGLE_FLIGHT, redis.url) for _ in range(4)]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert out.strip() == "value"
    with FlextApiCache("redis", config=CacheConfig(redis_url=redis.url)) as cache:
        backend = cache.backend
        assert isinstance(backend, RedisBackend)
        assert backend.command("GET", "sf:runs") == b"1"
        assert backend.command("EXISTS", "sf:lock:shared") == 0  # released by its holder
