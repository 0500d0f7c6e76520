"""The Redis backend: RESP over flext-api's own network backends (asyncio, trio or sockets).

Keys are ``key_prefix + key``; TTLs are Redis's own (``SET ... PX``), so every process sees
one expiry. Each command is bounded: ``connect_timeout`` for a new connection,
``timeout`` for its write and for its reply, so a Redis that is down, or that accepts and never
answers, is a ``CACHE_UNAVAILABLE`` failure after at most that long, never a hang. A
connection that failed or was cancelled mid-command is closed, never reused (its next reply
would answer the wrong command); an idle one the server closed is noticed before reuse and
replaced, so the backend recovers by itself when Redis comes back.

Never: import redis-py (its async client is asyncio-only), or send a command on a connection
another caller is using (connections are checked out one caller at a time).
"""

from __future__ import annotations

import math
import secrets

from flext_api._backends.auto import default_async_backend  # unasync: remove

# unasync: sync-only: from flext_api._backends.sync import default_sync_backend
from flext_api._backends.base import AsyncNetworkBackend, AsyncNetworkStream
from flext_api._exceptions import TransportError
from flext_api.cache._config import CacheConfig
from flext_api.cache._errors import CacheUnavailable
from flext_api.cache._resp import NeedData, Reply, ReplyError, ReplyParser, encode_command

__all__ = ["AsyncRedisBackend"]

_MAX_IDLE = 16
_SCAN_COUNT = 500
# Deletes the lock only if it still holds our token: a holder whose lock expired must not
# release the lock another process took since.
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class _Connection:
    __slots__ = ("parser", "stream")

    def __init__(self, stream: AsyncNetworkStream) -> None:
        self.stream = stream
        self.parser = ReplyParser()


class AsyncRedisBackend:
    """A cache backend on one Redis database, shared by every process that uses its prefix."""

    __slots__ = ("_address", "_closed", "_config", "_idle", "_network", "_origin", "_prefix")

    def __init__(self, config: CacheConfig, *, network: AsyncNetworkBackend | None = None) -> None:
        self._config = config
        self._address = config.redis_address()
        self._origin = f"{self._address.host}:{self._address.port}"
        self._prefix = config.key_prefix.encode()
        self._network = default_async_backend() if network is None else network
        self._idle: list[_Connection] = []
        self._closed = False

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def _unavailable(self, what: str) -> CacheUnavailable:
        return CacheUnavailable(
            f"the cache's Redis at {self._origin} {what}: check that redis-server is running "
            "and reachable (fail_open=True serves misses meanwhile)"
        )

    async def _connect(self) -> _Connection:
        stream = await self._network.connect_tcp(
            self._address.host, self._address.port, timeout=self._config.connect_timeout
        )
        connection = _Connection(stream)
        try:
            if self._address.password is not None:
                auth: list[bytes | str] = ["AUTH"]
                if self._address.username:
                    auth.append(self._address.username)
                auth.append(self._address.password)
                await self._exchange(connection, *auth)
            if self._address.db:
                await self._exchange(connection, "SELECT", self._address.db)
        except BaseException:
            stream.close()
            raise
        return connection

    async def _exchange(self, connection: _Connection, *args: bytes | str | int) -> Reply:
        await connection.stream.write(encode_command(*args), self._config.timeout)
        reply = connection.parser.next_reply()
        while isinstance(reply, NeedData):
            data = await connection.stream.read(65536, self._config.timeout)
            if not data:
                raise self._unavailable("closed the connection")
            connection.parser.feed(data)
            reply = connection.parser.next_reply()
        if isinstance(reply, ReplyError):
            raise self._unavailable(f"refused {str(args[0])!r} ({reply.message})")
        return reply

    def _checkout(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.stream.is_readable():
                return connection
            connection.stream.close()  # closed by the server (restart, timeout): replace it
        return None

    async def command(self, *args: bytes | str | int) -> Reply:
        """Run one command; ``CacheUnavailable`` when Redis cannot be reached or refuses it."""
        if self._closed:
            raise CacheUnavailable("the cache is closed: create a new one")
        connection = self._checkout()
        try:
            if connection is None:
                connection = await self._connect()
            reply = await self._exchange(connection, *args)
        except TransportError as exc:
            if connection is not None:
                connection.stream.close()
            raise self._unavailable(f"failed ({exc.message})") from exc
        except ValueError as exc:  # not RESP: something else listens on that port
            if connection is not None:
                connection.stream.close()
            raise self._unavailable(f"answered something that is not Redis ({exc})") from exc
        except BaseException:
            # A CacheUnavailable from _exchange, or cancellation mid-command: the reply may
            # still arrive, so this connection must never carry another command.
            if connection is not None:
                connection.stream.close()
            raise
        if len(self._idle) < _MAX_IDLE and not self._closed:
            self._idle.append(connection)
        else:
            connection.stream.close()
        return reply

    async def get(self, key: str) -> bytes | None:
        reply = await self.command("GET", self._key(key))
        if reply is None or isinstance(reply, bytes):
            return reply
        raise self._unavailable(f"answered GET with {reply!r}")

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is None:
            await self.command("SET", self._key(key), value)
        else:
            await self.command("SET", self._key(key), value, "PX", max(1, math.ceil(ttl * 1000)))

    async def delete(self, key: str) -> bool:
        return await self.command("DEL", self._key(key)) == 1

    async def clear(self) -> None:
        """Delete every key under the prefix (``SCAN``, so Redis never blocks on a big keyspace)."""
        pattern = _glob_escape(self._prefix) + b"*"
        cursor: bytes = b"0"
        while True:
            reply = await self.command("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT)
            if not (isinstance(reply, list) and len(reply) == 2):
                raise self._unavailable(f"answered SCAN with {reply!r}")
            next_cursor, keys = reply
            if isinstance(keys, list) and keys:
                await self.command("UNLINK", *[k for k in keys if isinstance(k, bytes)])
            if not isinstance(next_cursor, bytes) or next_cursor == b"0":
                return
            cursor = next_cursor

    async def acquire_lock(self, key: str, expiry: float) -> str | None:
        token = secrets.token_hex(16)
        reply = await self.command(
            "SET", self._key("lock:" + key), token, "NX", "PX", max(1, math.ceil(expiry * 1000))
        )
        return token if reply == b"OK" else None

    async def release_lock(self, key: str, token: str) -> None:
        await self.command("EVAL", _RELEASE, 1, self._key("lock:" + key), token)

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.stream.close()


def _glob_escape(prefix: bytes) -> bytes:
    out = bytearray()
    for byte in prefix:
        if byte in b"*?[]\\":
            out += b"\\"
        out.append(byte)
    return bytes(out)
