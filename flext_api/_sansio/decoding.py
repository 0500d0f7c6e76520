"""Incremental Content-Encoding decoders with a decompression-bomb limit, without I/O.

``make_decoder(content_encoding)`` returns a :class:`Decoder`: the shell passes each received
chunk to ``decode`` and calls ``flush`` at the end of the body. Supported: ``gzip`` (also
``x-gzip``, several members), ``deflate`` (zlib-wrapped as RFC 9110 says, or raw as some servers
send it; told apart by the first two bytes), ``br`` when ``brotli`` or ``brotlicffi`` is
importable and ``zstd`` when ``zstandard`` is. Chained encodings (``gzip, br``) are undone last
first. An encoding that cannot be decoded stops the chain there: the outer layers are decoded,
the rest is left as is and named in ``Decoder.remaining`` (the shell keeps it as the response's
Content-Encoding), never silently passed off as decoded.

What must never happen: holding a bomb's output in memory. Every stage asks its decompressor
for at most the bytes still allowed (zlib ``max_length`` with its ``unconsumed_tail``, brotli
``output_buffer_limit``; zstandard has no output bound, so its input is fed in slices of about
budget / 32768 bytes, which one call cannot expand much past the budget; brotli's input is fed
in slices too, because it takes a whole chunk at once and would not say how much it used).
Every stage's output is measured against the bytes taken *off the wire* so far (what the
outermost stage consumed, not what it was handed), so stacked encodings (``gzip, gzip``) cannot
multiply the ratio, and a 1 MB body handed over in one piece is judged by the kilobytes actually
inflated. ``DecompressionBombError`` (code ``DECOMPRESSION_LIMIT``) is raised as soon as a
stage's output passes ``max_size`` bytes or ``max_ratio`` times the wire bytes (the ratio is
checked past ``ratio_floor`` bytes of output, so a small body of zeros is fine): a bomb costs
about ``ratio_floor`` bytes of memory per stage before it is refused. A corrupt or truncated
stream raises ``DecodingError``. No sockets, no clock.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Final, Protocol

from flext_api._exceptions import DecodingError, DecompressionBombError

__all__ = [
    "DEFAULT_MAX_RATIO",
    "DEFAULT_RATIO_FLOOR",
    "Decoder",
    "make_decoder",
    "supported_encodings",
]

DEFAULT_MAX_RATIO: Final = 1000.0
DEFAULT_RATIO_FLOOR: Final = 8 * 1024 * 1024
# One zstd RLE block turns 4 input bytes into up to 128 KiB (ratio 32768): bounding the input
# slice to budget / 32768 bounds the overshoot of one call.
_ZSTD_WORST_RATIO: Final = 32768
_ZSTD_MIN_SLICE: Final = 16
_ZSTD_MAX_SLICE: Final = 64 * 1024
# Brotli takes a whole chunk and keeps what it cannot use yet, without saying how much: feeding
# it slices bounds how far the wire count can run ahead of what was really inflated.
_BROTLI_SLICE: Final = 8 * 1024


class _Codec(Protocol):
    """One decompressor. ``decompress`` returns at most ``limit`` bytes when it honours a limit
    (``limit < 0``: unlimited) and keeps unconsumed input itself; ``pending`` says whether it
    may have output without more input; ``backlog`` counts the input bytes handed over but not
    consumed yet (the ratio is measured against what was consumed)."""

    def decompress(self, data: bytes, limit: int) -> bytes: ...

    @property
    def pending(self) -> bool: ...

    @property
    def backlog(self) -> int: ...

    def finish(self) -> None: ...


class _ZlibCodec:
    __slots__ = ("_carry", "_mode", "_obj", "_pending")

    def __init__(self, mode: str) -> None:
        self._mode = mode  # "gzip" or "deflate"
        self._obj: zlib._Decompress | None = None
        # Input not yet given to zlib: deflate's first byte (the second one tells a zlib
        # header from raw deflate), or the start of the next gzip member.
        self._carry = b""
        self._pending = False
        if mode == "gzip":
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def pending(self) -> bool:
        return self._pending

    @property
    def backlog(self) -> int:
        obj = self._obj
        return len(self._carry) + (len(obj.unconsumed_tail) if obj is not None else 0)

    def decompress(self, data: bytes, limit: int) -> bytes:
        if self._carry:
            data, self._carry = self._carry + data, b""
        obj = self._obj
        if obj is None:
            if len(data) < 2:
                self._carry = data
                return b""
            # RFC 1950: CM=8 and (CMF*256 + FLG) divisible by 31 means a zlib header.
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            obj = self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        elif obj.eof and self._mode == "gzip" and data:
            # Another gzip member follows (RFC 1952 allows several): start it afresh.
            obj = self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if obj.unconsumed_tail:
            data = obj.unconsumed_tail + data
        out = obj.decompress(data, max(limit, 0))
        if obj.eof and obj.unused_data and self._mode == "gzip":
            self._carry = obj.unused_data  # the next member, decoded on the next call
            self._pending = True
            return out
        self._pending = bool(obj.unconsumed_tail) or (limit > 0 and len(out) >= limit)
        return out

    def finish(self) -> None:
        if self._obj is None:
            if self._carry:
                raise zlib.error("a deflate stream of one byte")
        elif not self._obj.eof:
            raise zlib.error("the compressed stream ended early (truncated body)")


class _BrotliCodec:
    __slots__ = ("_obj", "_pending", "_tail")

    def __init__(self, module: object) -> None:
        self._obj = module.Decompressor()  # type: ignore[attr-defined]
        self._pending = False
        self._tail = b""  # input not yet fed (see _BROTLI_SLICE)

    @property
    def pending(self) -> bool:
        return self._pending

    @property
    def backlog(self) -> int:
        return len(self._tail)

    def decompress(self, data: bytes, limit: int) -> bytes:
        obj = self._obj
        if self._tail:
            data, self._tail = self._tail + data, b""
        if limit < 0:
            out: bytes = obj.process(data)
            return out
        # Input may be passed only once the decoder drained its output (brotli's own rule).
        if obj.can_accept_more_data():
            data, self._tail = data[:_BROTLI_SLICE], data[_BROTLI_SLICE:]
        else:
            data, self._tail = b"", data
        out = obj.process(data, output_buffer_limit=max(limit, 1))
        self._pending = bool(self._tail) or not obj.can_accept_more_data()
        return out

    def finish(self) -> None:
        if not self._obj.is_finished():
            raise _Truncated("the brotli stream ended early (truncated body)")


class _Truncated(Exception):
    pass


class _ZstdCodec:
    __slots__ = ("_module", "_obj", "_tail")

    def __init__(self, module: object) -> None:
        self._module = module
        self._obj = module.ZstdDecompressor().decompressobj()  # type: ignore[attr-defined]
        self._tail = b""  # input not yet fed (sliced off to bound one call's output)

    @property
    def pending(self) -> bool:
        return bool(self._tail)

    @property
    def backlog(self) -> int:
        return len(self._tail)

    def decompress(self, data: bytes, limit: int) -> bytes:
        data = self._tail + data if self._tail else data
        if self._obj.eof and data:
            # Another frame follows (a body may hold several, as gzip holds members).
            self._obj = self._module.ZstdDecompressor().decompressobj()  # type: ignore[attr-defined]
        size = len(data)
        if limit >= 0:
            size = min(_ZSTD_MAX_SLICE, max(_ZSTD_MIN_SLICE, limit // _ZSTD_WORST_RATIO))
        out: bytes = self._obj.decompress(data[:size])
        self._tail = data[size:]
        if self._obj.eof and self._obj.unused_data:
            self._tail = self._obj.unused_data + self._tail
        return out

    def finish(self) -> None:
        if not self._obj.eof:
            raise _Truncated("the zstd stream ended early (truncated body)")


def _optional(*names: str) -> object | None:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_BROTLI = _optional("brotli", "brotlicffi")
_ZSTD = _optional("zstandard")


def _errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [zlib.error, _Truncated]
    for module, attribute in ((_BROTLI, "error"), (_ZSTD, "ZstdError")):
        error = getattr(module, attribute, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


_CODEC_ERRORS: Final = _errors()


def supported_encodings() -> frozenset[str]:
    """The Content-Encoding tokens this installation decodes (for ``Accept-Encoding``)."""
    names = {"gzip", "x-gzip", "deflate"}
    if _BROTLI is not None:
        names.add("br")
    if _ZSTD is not None:
        names.add("zstd")
    return frozenset(names)


def _codec(encoding: str) -> _Codec | None:
    if encoding in ("gzip", "x-gzip"):
        return _ZlibCodec("gzip")
    if encoding == "deflate":
        return _ZlibCodec("deflate")
    if encoding == "br" and _BROTLI is not None:
        return _BrotliCodec(_BROTLI)
    if encoding == "zstd" and _ZSTD is not None:
        return _ZstdCodec(_ZSTD)
    return None


class _Stage:
    """One codec and its own byte counts, checked against the limits."""

    __slots__ = ("bytes_in", "bytes_out", "codec", "name")

    def __init__(self, name: str, codec: _Codec) -> None:
        self.name = name
        self.codec = codec
        self.bytes_in = 0
        self.bytes_out = 0


class Decoder:
    """Undo a body's Content-Encoding chunk by chunk. ``remaining`` lists the encodings left
    undone (outermost last, as in the header); empty when the body comes out fully decoded."""

    __slots__ = (
        "_stages",
        "_wire",
        "finished",
        "max_ratio",
        "max_size",
        "ratio_floor",
        "remaining",
    )

    def __init__(
        self,
        stages: list[_Stage],
        remaining: tuple[str, ...],
        *,
        max_size: int | None,
        max_ratio: float | None,
        ratio_floor: int,
    ) -> None:
        self._stages = stages
        # Bytes the outermost stage consumed: the wire bytes every stage's output is judged by.
        self._wire = 0
        self.remaining = remaining
        self.max_size = max_size
        self.max_ratio = max_ratio
        self.ratio_floor = ratio_floor
        # ``flush`` ran: the body is complete and nothing more comes out (see
        # ``flext_api._async.streaming.receive_decoded``, which reads until then).
        self.finished = False

    @property
    def is_identity(self) -> bool:
        return not self._stages

    def decode(self, chunk: bytes) -> bytes:
        """The decoded bytes ``chunk`` yields now (possibly ``b""``)."""
        for stage in self._stages:
            if not chunk and not stage.codec.pending:
                return b""
            chunk = self._run(stage, chunk)
        return chunk

    def flush(self) -> bytes:
        """The last decoded bytes; raises ``DecodingError`` for a truncated stream.

        An empty body is not checked: it holds no encoded stream (a HEAD answer, a 304 or a 204
        keep the Content-Encoding the full response would have had)."""
        self.finished = True
        out = b""
        if not self._stages or not self._stages[0].bytes_in:
            return out
        for stage in self._stages:
            # What the previous stage released last goes through this one, then it finishes.
            data = self._run(stage, out) if out or stage.codec.pending else b""
            try:
                stage.codec.finish()
            except _CODEC_ERRORS as exc:
                raise self._corrupt(stage, exc) from exc
            out = data
        return out

    def _allowed(self) -> int:
        """Total output any stage may have produced so far (-1: no limit)."""
        allowed = -1
        if self.max_ratio is not None:
            allowed = max(self.ratio_floor, int(self.max_ratio * self._wire))
        if self.max_size is not None:
            allowed = self.max_size if allowed < 0 else min(allowed, self.max_size)
        return allowed

    def _run(self, stage: _Stage, data: bytes) -> bytes:
        stage.bytes_in += len(data)
        pieces: list[bytes] = []
        codec = stage.codec
        outermost = stage is self._stages[0]
        try:
            while True:
                allowed = self._allowed()
                # Ask for one byte past the allowance: getting it proves the limit is crossed
                # (unless the input this call consumed raised the allowance: checked below).
                limit = -1 if allowed < 0 else allowed - stage.bytes_out + 1
                out = codec.decompress(data, limit)
                data = b""
                stage.bytes_out += len(out)
                if outermost:
                    self._wire = stage.bytes_in - codec.backlog
                if allowed >= 0 and stage.bytes_out > allowed:
                    allowed = self._allowed()
                    if stage.bytes_out > allowed:
                        raise self._bomb(stage, allowed)
                pieces.append(out)
                if not codec.pending:
                    break
        except _CODEC_ERRORS as exc:
            raise self._corrupt(stage, exc) from exc
        return b"".join(pieces)

    def _bomb(self, stage: _Stage, allowed: int) -> DecompressionBombError:
        if self.max_size is not None and allowed == self.max_size:
            why = f"more than max_size={self.max_size} bytes"
        else:
            why = (
                f"more than {self.max_ratio:g} times the {self._wire} compressed bytes "
                "received so far"
            )
        return DecompressionBombError(
            f"the {stage.name} body decompressed to {why}; decoding stopped (a decompression "
            "bomb, or raise the limit if the body is legitimately this large)"
        )

    def _corrupt(self, stage: _Stage, exc: BaseException) -> DecodingError:
        return DecodingError(
            f"the response body is not valid {stage.name} data ({exc}); the server's "
            "Content-Encoding does not match its body"
        )


def make_decoder(
    content_encoding: str | None,
    *,
    max_size: int | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    ratio_floor: int = DEFAULT_RATIO_FLOOR,
) -> Decoder:
    """A decoder for a ``Content-Encoding`` value (None or ``identity``: pass-through).

    ``max_size`` bounds each stage's output in bytes; ``max_ratio`` bounds output over input
    once ``ratio_floor`` bytes were produced. ``None`` disables a limit.
    """
    if max_size is not None and max_size < 0:
        raise ValueError("max_size must be >= 0 or None")
    if max_ratio is not None and not max_ratio > 0:
        raise ValueError("max_ratio must be > 0 or None")
    tokens = [
        t.strip().lower()
        for t in (content_encoding or "").split(",")
        if t.strip() and t.strip().lower() != "identity"
    ]
    stages: list[_Stage] = []
    # The last encoding listed was applied last, so it is undone first.
    while tokens:
        codec = _codec(tokens[-1])
        if codec is None:
            break
        stages.append(_Stage(tokens.pop(), codec))
    return Decoder(
        stages,
        tuple(tokens),
        max_size=max_size,
        max_ratio=max_ratio,
        ratio_floor=ratio_floor,
    )
