"""The filesystem backend's store: one file per entry, written atomically, bounded by bytes.

Invariants:

* An entry file appears under its final name only whole: it is written to a temporary file in
  the same directory and renamed over the old one (``os.replace`` is atomic on POSIX). A
  process killed mid-write leaves at most a temporary file, which is never read and is removed
  by a later cleanup once its writer is gone. A file whose length disagrees with its header
  (a power loss after the rename) is a miss, and is removed.
* Several processes may share one directory: each reads whole files, writes by rename, and
  ignores a file that vanishes under it (another process evicted it).
* Cleanup (expired entries, orphaned temporary files, and the oldest entries while the
  directory holds more than ``max_bytes``) is lazy: the next ``set`` that finds it due on the
  injected clock, or that pushes this process's estimate of the size over the bound, runs it.
  Entry expiry is kept on the injected clock too: share a directory between processes only
  with a clock they share (``time.monotonic`` on one host, ``time.time`` across reboots).

This module never awaits; the async cache calls it directly (local disk, small files).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FileStore"]

_MAGIC = b"FXC1"
_HEADER = struct.Struct("<4sdQ")  # magic, expires_at (inf: never), value length
_SUFFIX = ".entry"
_TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20
# A temporary file whose writer cannot be checked (another host on a shared mount) is
# considered orphaned after this long on the wall clock.
_ORPHAN_AGE = 600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class FileStore:
    """Entries as files named by the SHA-256 of their key."""

    __slots__ = (
        "_cleanup_interval",
        "_clock",
        "_directory",
        "_estimate",
        "_lock",
        "_max_bytes",
        "_next_cleanup",
    )

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int,
        clock: Callable[[], float],
        cleanup_interval: float,
    ) -> None:
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._clock = clock
        self._cleanup_interval = cleanup_interval
        self._lock = threading.Lock()
        self._next_cleanup = clock() + cleanup_interval
        self._estimate = self._scan_size()

    @property
    def directory(self) -> Path:
        return self._directory

    def _path(self, key: str) -> Path:
        return self._directory / (hashlib.sha256(key.encode()).hexdigest() + _SUFFIX)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        value = self._unpack(data, self._clock())
        if value is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return value

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        now = self._clock()
        size = _HEADER.size + len(value)
        if size > self._max_bytes:
            self.delete(key)  # could never fit; a stale older value must not stay behind
            return
        expires_at = math.inf if ttl is None else now + ttl
        tmp = self._directory / f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                self._write_all(fd, _HEADER.pack(_MAGIC, expires_at, len(value)))
                self._write_all(fd, value)
            finally:
                os.close(fd)
            os.replace(tmp, self._path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        with self._lock:
            self._estimate += size
            due = now >= self._next_cleanup or self._estimate > self._max_bytes
            if due:
                self._next_cleanup = now + self._cleanup_interval
        if due:
            self.cleanup()

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view[:_CHUNK])
            view = view[written:]

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def clear(self) -> None:
        for entry in os.scandir(self._directory):
            if entry.name.endswith(_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        with self._lock:
            self._estimate = 0

    def cleanup(self) -> None:
        """Remove expired entries and orphaned temporary files, then the oldest entries while
        the directory holds more than ``max_bytes``."""
        now = self._clock()
        live: list[tuple[float, int, str]] = []
        for entry in os.scandir(self._directory):
            try:
                if entry.name.startswith(_TMP_PREFIX):
                    self._remove_if_orphaned(entry)
                elif entry.name.endswith(_SUFFIX):
                    stat = entry.stat()
                    with open(entry.path, "rb") as file:
                        header = file.read(_HEADER.size)
                    if self._expired_or_torn(header, stat.st_size, now):
                        os.unlink(entry.path)
                    else:
                        live.append((stat.st_mtime, stat.st_size, entry.path))
            except FileNotFoundError:
                continue  # another process removed it first
        total = sum(size for _, size, _ in live)
        live.sort()
        for _, size, path in live:
            if total <= self._max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size
        with self._lock:
            self._estimate = total

    @staticmethod
    def _remove_if_orphaned(entry: os.DirEntry[str]) -> None:
        pid_text = entry.name[len(_TMP_PREFIX) :].split("-", 1)[0]
        orphaned = pid_text.isdigit() and not _pid_alive(int(pid_text))
        if not orphaned:
            orphaned = time.time() - entry.stat().st_mtime > _ORPHAN_AGE
        if orphaned:
            os.unlink(entry.path)

    @staticmethod
    def _expired_or_torn(header: bytes, file_size: int, now: float) -> bool:
        if len(header) < _HEADER.size:
            return True
        magic: bytes
        expires_at: float
        length: int
        magic, expires_at, length = _HEADER.unpack(header)
        return magic != _MAGIC or file_size != _HEADER.size + length or now >= expires_at

    @staticmethod
    def _unpack(data: bytes, now: float) -> bytes | None:
        if FileStore._expired_or_torn(data[: _HEADER.size], len(data), now):
            return None
        return data[_HEADER.size :]

    def _scan_size(self) -> int:
        total = 0
        for entry in os.scandir(self._directory):
            if entry.name.endswith(_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
        return total
