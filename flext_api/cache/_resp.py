"""RESP2, the Redis wire format, without I/O: commands to bytes, bytes to replies.

The Redis backend (``_async/redis.py`` and its generated twin) writes what
:func:`encode_command` returns and feeds what it reads to a :class:`ReplyParser`. This module
must never import a socket or an event loop.
"""

from __future__ import annotations

from typing import Final, TypeAlias

__all__ = ["NEED_DATA", "NeedData", "Reply", "ReplyError", "ReplyParser", "encode_command"]


class ReplyError:
    """An error reply (``-ERR ...``): Redis answered, but refused the command."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ReplyError({self.message!r})"


Reply: TypeAlias = "bytes | int | ReplyError | list[Reply] | None"


class NeedData:
    """The type of :data:`NEED_DATA`."""

    __slots__ = ()


NEED_DATA: Final = NeedData()
"""What :meth:`ReplyParser.next_reply` returns until a whole reply has arrived."""

_CRLF: Final = b"\r\n"


def encode_command(*args: bytes | str | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(_CRLF)
    return b"".join(parts)


class _Incomplete(Exception):
    pass


class ReplyParser:
    """Accumulates bytes and hands out whole replies, in order."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_reply(self) -> Reply | NeedData:
        """The next whole reply, or :data:`NEED_DATA`; ``ValueError`` on bytes that are not RESP."""
        try:
            reply, end = self._parse(0)
        except _Incomplete:
            return NEED_DATA
        del self._buffer[:end]
        return reply

    def _line(self, start: int) -> tuple[bytes, int]:
        end = self._buffer.find(_CRLF, start)
        if end < 0:
            raise _Incomplete
        return bytes(self._buffer[start + 1 : end]), end + 2

    def _parse(self, start: int) -> tuple[Reply, int]:
        if start >= len(self._buffer):
            raise _Incomplete
        kind = self._buffer[start : start + 1]
        line, after = self._line(start)
        if kind == b"+":
            return line, after
        if kind == b"-":
            return ReplyError(line.decode("utf-8", "replace")), after
        if kind == b":":
            return int(line), after
        if kind == b"$":
            size = int(line)
            if size < 0:
                return None, after
            end = after + size
            if len(self._buffer) < end + 2:
                raise _Incomplete
            return bytes(self._buffer[after:end]), end + 2
        if kind == b"*":
            count = int(line)
            if count < 0:
                return None, after
            items: list[Reply] = []
            for _ in range(count):
                item, after = self._parse(after)
                items.append(item)
            return items, after
        msg = f"not a RESP reply: {bytes(self._buffer[start : start + 20])!r}"
        raise ValueError(msg)
