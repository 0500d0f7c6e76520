"""Content decoding: every codec chunk by chunk, chains, corruption and bombs."""

from __future__ import annotations

import functools
import gzip
import os
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
    with pytest.raises(DecompressionBombError, match="times its"):
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
