"""Content decoding: every codec chunk by chunk, chains, corruption and bombs."""

from __future__ import annotations

import functools
import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from flext_api._exceptions import DecodingError, DecompressionBombError
from flext_api._sansio import decoding
from flext_api._sansio.decoding import Decoder, make_decoder, supported_encodings

brotli = pytest.importorskip("brotli")
zstandard = pytest.importorskip("zstandard")

PAYLOAD = b"".join(b"line %d: the quick brown fox\n" % i for i in range(20_000)) + os.urandom(5000)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zstd(data: bytes) -> bytes:
    compressed: bytes = zstandard.ZstdCompressor().compress(data)
    return compressed


def br(data: bytes) -> bytes:
    compressed: bytes = brotli.compress(data, quality=4)  # quality 11 takes seconds here
    return compressed


CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": br,
    "zstd": zstd,
}


def run(decoder: Decoder, data: bytes, step: int) -> bytes:
    out = [decoder.decode(data[i : i + step]) for i in range(0, len(data), step)]
    return b"".join(out) + decoder.flush()


@pytest.mark.parametrize("encoding", sorted(CODECS))
@pytest.mark.parametrize("step", [1, 7, 4096, 10**9])
def test_each_codec_chunk_by_chunk(encoding: str, step: int) -> None:
    data = CODECS[encoding](PAYLOAD if step > 1 else PAYLOAD[:20_000])
    expected = PAYLOAD if step > 1 else PAYLOAD[:20_000]
    decoder = make_decoder(encoding.upper())
    assert run(decoder, data, step) == expected
    assert decoder.remaining == ()


@pytest.mark.parametrize("step", [1, 2, 3, 100])
def test_raw_deflate_is_detected(step: int) -> None:
    assert run(make_decoder("deflate"), raw_deflate(PAYLOAD[:5000]), step) == PAYLOAD[:5000]


def test_several_gzip_members_and_zstd_frames() -> None:
    members = gzip.compress(b"one ") + gzip.compress(b"two ") + gzip.compress(b"three")
    assert run(make_decoder("gzip"), members, 5) == b"one two three"
    assert run(make_decoder("gzip"), members, 10**6) == b"one two three"
    frames = zstd(b"one ") + zstd(b"two")
    assert run(make_decoder("zstd"), frames, 3) == b"one two"
    assert run(make_decoder("zstd"), frames, 10**6) == b"one two"


@pytest.mark.parametrize(
    "chain",
    [["gzip", "br"], ["br", "gzip"], ["deflate", "gzip", "zstd"], ["gzip", "identity", "br"]],
)
def test_chained_encodings_undone_last_first(chain: list[str]) -> None:
    data = PAYLOAD
    for encoding in chain:
        if encoding != "identity":
            data = CODECS[encoding](data)
    decoder = make_decoder(", ".join(chain))
    assert run(decoder, data, 1000) == PAYLOAD
    assert run(make_decoder(",".join(chain)), data, 10**9) == PAYLOAD


@pytest.mark.parametrize("header", [None, "", "identity", " Identity , "])
def test_identity(header: str | None) -> None:
    decoder = make_decoder(header)
    assert decoder.is_identity
    assert decoder.decode(b"abc") == b"abc"
    assert decoder.flush() == b""


@pytest.mark.parametrize("header", ["gzip", "deflate", "br", "zstd", "gzip, br"])
def test_empty_body_is_not_a_truncated_stream(header: str) -> None:
    # A HEAD answer, a 204 or a 304 keeps the Content-Encoding of a body it does not carry.
    decoder = make_decoder(header)
    assert not decoder.finished
    assert decoder.decode(b"") == b""
    assert decoder.flush() == b""
    assert decoder.finished


def test_unknown_encodings_are_left_and_reported() -> None:
    data = gzip.compress(b"inner")
    decoder = make_decoder("compress, gzip")
    assert run(decoder, data, 3) == b"inner"
    assert decoder.remaining == ("compress",)
    decoder = make_decoder("gzip, compress")  # the outer layer is unknown: nothing decoded
    assert decoder.is_identity
    assert decoder.remaining == ("gzip", "compress")
    assert decoder.decode(b"as is") == b"as is"


def test_missing_optional_packages_leave_the_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "_BROTLI", None)
    monkeypatch.setattr(decoding, "_ZSTD", None)
    assert supported_encodings() == frozenset({"gzip", "x-gzip", "deflate"})
    assert make_decoder("br").remaining == ("br",)
    assert make_decoder("zstd").remaining == ("zstd",)


def test_supported_encodings_with_packages() -> None:
    assert {"br", "zstd", "gzip", "deflate"} <= supported_encodings()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_corrupt_bodies(encoding: str) -> None:
    decoder = make_decoder(encoding)
    with pytest.raises(DecodingError, match=encoding) as info:
        decoder.decode(b"\x00\x01garbage that is not compressed at all" * 3)
        decoder.flush()
    assert info.value.code == "DECODE_ERROR"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_truncated_bodies(encoding: str) -> None:
    data = CODECS[encoding](PAYLOAD)
    decoder = make_decoder(encoding)
    decoder.decode(data[: len(data) // 2])
    with pytest.raises(DecodingError, match="truncated"):
        decoder.flush()


def test_one_byte_deflate_body_is_truncated() -> None:
    decoder = make_decoder("deflate")
    assert decoder.decode(b"x") == b""
    with pytest.raises(DecodingError):
        decoder.flush()
    assert make_decoder("deflate").flush() == b""


BOMB_SIZE = 64 * 1024 * 1024  # 64 MiB of zeros: ~64 KB gzip, far less br/zstd


@functools.cache
def bomb(encoding: str) -> bytes:
    return CODECS[encoding](bytes(BOMB_SIZE))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_bomb_stops_at_max_size(encoding: str) -> None:
    data = bomb(encoding)
    decoder = make_decoder(encoding, max_size=1024 * 1024, max_ratio=None)
    produced = 0
    with pytest.raises(DecompressionBombError) as info:
        for i in range(0, len(data), 65536):
            produced += len(decoder.decode(data[i : i + 65536]))
        decoder.flush()
    assert produced <= 1024 * 1024
    assert info.value.code == "DECOMPRESSION_LIMIT"
    assert isinstance(info.value, DecodingError)
    assert "max_size" in info.value.message


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_bomb_stops_at_max_ratio(encoding: str) -> None:
    decoder = make_decoder(encoding, max_ratio=100.0, ratio_floor=64 * 1024)
    with pytest.raises(DecompressionBombError, match=r"times the \d+ compressed bytes"):
        run(decoder, bomb(encoding), 4096)


def test_default_limits_let_ordinary_bodies_through() -> None:
    zeros = bytes(4 * 1024 * 1024)  # ratio ~1000 but below the floor
    for encoding in ("gzip", "br", "zstd"):
        assert run(make_decoder(encoding), CODECS[encoding](zeros), 65536) == zeros


def test_limit_exactly_reached_is_allowed() -> None:
    data = bytes(10_000)
    for encoding in ("gzip", "deflate", "br", "zstd"):
        decoder = make_decoder(encoding, max_size=10_000, max_ratio=None)
        assert run(decoder, CODECS[encoding](data), 50) == data
        decoder = make_decoder(encoding, max_size=9_999, max_ratio=None)
        with pytest.raises(DecompressionBombError):
            run(decoder, CODECS[encoding](data), 50)


def test_unlimited() -> None:
    data = bytes(3 * 1024 * 1024)
    for encoding in ("gzip", "br", "zstd"):
        decoder = make_decoder(encoding, max_size=None, max_ratio=None)
        assert run(decoder, CODECS[encoding](data), 1 << 20) == data


@pytest.mark.parametrize("kwargs", [{"max_size": -1}, {"max_ratio": 0.0}])
def test_invalid_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make_decoder("gzip", **kwargs)  # type: ignore[arg-type]


def test_decode_empty_chunk_is_cheap() -> None:
    decoder = make_decoder("gzip")
    assert decoder.decode(b"") == b""


def test_zlib_codec_honours_its_output_limit() -> None:
    # The contract every codec keeps: at most `limit` bytes per call, the rest on later calls.
    codec = decoding._ZlibCodec("gzip")
    data = gzip.compress(bytes(1000))
    pieces = [codec.decompress(data, 100)]
    while codec.pending:
        pieces.append(codec.decompress(b"", 100))
    assert all(len(piece) <= 100 for piece in pieces)
    assert b"".join(pieces) == bytes(1000)


def test_optional_import_falls_through_missing_modules() -> None:
    assert decoding._optional("flext_no_such_module", "zlib") is zlib
    assert decoding._optional("flext_no_such_module") is None


def test_codec_errors_without_optional_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "_BROTLI", None)
    monkeypatch.setattr(decoding, "_ZSTD", None)
    assert set(decoding._errors()) == {zlib.error, decoding._Truncated}


# --- bombs handed over whole: the memory a refusal costs ---------------------------------------

PEAK_BUDGET = 32 * 1024 * 1024


def zeros_member_bomb(mebibytes: int) -> bytes:
    """A gzip body of ``mebibytes`` MiB of zeros, built from one repeated full-flush block (so
    a 1 GiB bomb costs milliseconds and 1 MB to build, not a gigabyte)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mebibytes - 2) + compressor.flush()


def deflate_bomb(mebibytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mebibytes - 2) + compressor.flush()


@functools.cache
def big_bomb(encoding: str) -> bytes:
    """About 1 MB on the wire that inflates to about 1 GiB (or far more, stacked)."""
    if encoding == "gzip":
        return zeros_member_bomb(1024)
    if encoding == "deflate":
        return deflate_bomb(1024)
    if encoding == "gzip, gzip":
        # 2.1 MB of gzip (2 GiB of zeros) gzipped again: about 5 KB on the wire.
        return gzip.compress(zeros_member_bomb(2048))
    if encoding == "br":
        compressor = brotli.Compressor(quality=1)
        chunk = bytes(1 << 20)
        parts: list[bytes] = [compressor.process(chunk) for _ in range(1024)]
        parts.append(compressor.finish())
        return b"".join(parts)
    compressor = zstandard.ZstdCompressor().compressobj()
    chunk = bytes(1 << 20)
    frames: list[bytes] = [compressor.compress(chunk) for _ in range(1024)]
    frames.append(compressor.flush())
    return b"".join(frames)


def peak_while(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip", "br", "zstd"])
@pytest.mark.parametrize("step", [None, 65536], ids=["whole-body", "64KiB-chunks"])
def test_bomb_is_refused_within_32_mib_with_default_limits(encoding: str, step: int | None) -> None:
    data = big_bomb(encoding)
    decoder = make_decoder(encoding)

    def decode_all() -> None:
        with pytest.raises(DecompressionBombError) as info:
            run(decoder, data, step or len(data))
        assert info.value.code == "DECOMPRESSION_LIMIT"
        assert "1000 times" in info.value.message

    # Refused after inflating about the 8 MiB ratio floor, not the gigabyte it holds.
    assert peak_while(decode_all) < PEAK_BUDGET


def test_stacked_encodings_are_judged_by_the_wire_bytes() -> None:
    # 64 MiB of zeros gzipped twice: each layer alone stays under 2000:1 (the inner ~1030:1,
    # the outer a few hundred), so a ratio per stage lets it all through; measured against
    # the wire bytes it is thousands of times over, and refused once past the floor.
    inner = zeros_member_bomb(64)
    data = gzip.compress(inner)
    assert len(inner) / len(data) < 2000
    decoder = make_decoder("gzip, gzip", max_ratio=2000.0, ratio_floor=1024 * 1024)
    produced = 0
    with pytest.raises(DecompressionBombError, match=f"the {len(data)} compressed bytes"):
        produced += len(decoder.decode(data))
    assert produced == 0


def test_a_highly_compressible_body_under_the_ratio_handed_over_whole_is_decoded() -> None:
    # 40 MiB at ~10:1, given in one piece: the ratio counts the input consumed so far, so the
    # first 8 MiB asked for (past the floor) is judged by what it really cost, not refused.
    line = b"%08d some text that compresses about ten to one\n"
    text = b"".join(line % i for i in range(700_000))
    data = gzip.compress(text, compresslevel=1)
    assert len(text) / len(data) < 1000
    assert run(make_decoder("gzip"), data, len(data)) == text
