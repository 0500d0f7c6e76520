"""CacheConfig: the settings every backend reads, validated when it is built.

An invalid value is a programming error: it raises ``ValueError`` naming the field, at
construction, never later inside a cache call.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["CacheConfig", "RedisAddress"]


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where :attr:`CacheConfig.redis_url` points."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None


@dataclass(frozen=True)
class CacheConfig:
    """Bounds, location and failure policy of a :class:`flext_api.cache.FlextApiCache`.

    ``max_entries`` and ``max_bytes`` bound the memory backend (least recently used entries
    go first); ``max_bytes`` bounds the filesystem backend too. ``timeout`` bounds each Redis
    command (write and read), ``connect_timeout`` each new connection, so a Redis that is
    down or accepts and never answers costs at most that long. ``fail_open=True`` makes an
    unavailable backend behave as an empty cache (reads miss, writes are dropped) instead of
    a ``CACHE_UNAVAILABLE`` failure. ``lock_expiry`` is how long a Redis single-flight lock
    lives if its holder dies; ``cleanup_interval`` how often (on the cache's clock) expired
    entries are swept, lazily, by the next call that finds the sweep due.
    """

    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    directory: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "flext:"
    connect_timeout: float = 0.5
    timeout: float = 0.5
    fail_open: bool = False
    lock_expiry: float = 30.0
    cleanup_interval: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                msg = f"CacheConfig.{name} must be a positive int, not {value!r}"
                raise ValueError(msg)
        for name in ("connect_timeout", "timeout", "lock_expiry", "cleanup_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                msg = f"CacheConfig.{name} must be a positive number of seconds, not {value!r}"
                raise ValueError(msg)
        self.redis_address()  # fails here, at construction, on a URL it cannot use

    def redis_address(self) -> RedisAddress:
        """``redis_url`` parsed: ``redis://[[user]:password@]host[:port][/db]``."""
        parts = urlsplit(self.redis_url)
        if parts.scheme != "redis" or not parts.hostname:
            msg = (
                f"CacheConfig.redis_url must look like redis://host:port/db, not "
                f"{parts.scheme}://{parts.hostname or ''} (TLS and unix sockets are not supported)"
            )
            raise ValueError(msg)
        path = parts.path.strip("/")
        if path and not path.isdigit():
            msg = f"CacheConfig.redis_url: the database must be a number, not {path!r}"
            raise ValueError(msg)
        try:
            port = parts.port or 6379
        except ValueError as exc:
            msg = f"CacheConfig.redis_url has an invalid port: {exc}"
            raise ValueError(msg) from None
        return RedisAddress(
            host=parts.hostname,
            port=port,
            db=int(path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )
