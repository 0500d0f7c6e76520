"""Multipart encoder and urlencoded forms: exact bytes, lazy file reads, lengths."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO

import pytest

from flext_api._exceptions import StreamError
from flext_api._sansio.multipart import FormFile, MultipartEncoder, encode_form, json_part


def fixed_random(n: int) -> bytes:
    return bytes(range(n))


def body(encoder: MultipartEncoder, chunk_size: int = 65536) -> bytes:
    return b"".join(encoder.iter_chunks(chunk_size))


def test_fields_exact_bytes_and_length() -> None:
    encoder = MultipartEncoder({"a": "1", "n": [2, 3.5], "raw": b"\x00\xff"}, boundary="XyZ")
    expected = (
        b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="n"\r\n\r\n2\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="n"\r\n\r\n3.5\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="raw"\r\n\r\n\x00\xff\r\n'
        b"--XyZ--\r\n"
    )
    assert body(encoder) == expected
    assert encoder.content_length == len(expected)
    assert encoder.content_type == "multipart/form-data; boundary=XyZ"


def test_boundary_from_injected_random_source() -> None:
    encoder = MultipartEncoder({"a": "1"}, random_bytes=fixed_random)
    assert encoder.boundary == bytes(range(16)).hex()
    assert MultipartEncoder({"a": "1"}).boundary != MultipartEncoder({"a": "1"}).boundary


@pytest.mark.parametrize("boundary", ["", "x" * 71, "ends with space ", "bad\r\n", "semi;colon"])
def test_invalid_boundary(boundary: str) -> None:
    with pytest.raises(ValueError, match="boundary"):
        MultipartEncoder({"a": "1"}, boundary=boundary)


@pytest.mark.parametrize(
    ("filename", "encoded"),
    [
        ("report.pdf", b'filename="report.pdf"'),
        ('say "hi".txt', b'filename="say %22hi%22.txt"'),
        ("line\r\nbreak.txt", b'filename="line%0D%0Abreak.txt"'),
        ("r\u00e9sum\u00e9 \u65e5\u672c.txt", 'filename="résumé 日本.txt"'.encode()),
    ],
)
def test_filenames_cannot_break_the_header(filename: str, encoded: bytes) -> None:
    encoder = MultipartEncoder(files={"f": FormFile(b"x", filename=filename)}, boundary="b")
    data = body(encoder)
    assert encoded in data
    assert b"filename*" not in data  # RFC 7578 section 4.2
    assert data.count(b"\r\n") == 6


def test_field_names_are_escaped() -> None:
    data = body(MultipartEncoder({'we"ird\n': "v"}, boundary="b"))
    assert b'name="we%22ird%0A"' in data


def test_files_streamed_from_disk_with_stat_length(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello")
    big = tmp_path / "data.bin"
    big.write_bytes(os.urandom(300_000))
    encoder = MultipartEncoder(
        {"meta": json_part({"k": [1, 2]})},
        {
            "docs": [
                str(small),
                FormFile(big, content_type="application/x-custom", headers={"X-Part": "7"}),
            ]
        },
        boundary="B",
    )
    data = body(encoder, chunk_size=4096)
    assert len(data) == encoder.content_length
    assert b'name="meta"\r\nContent-Type: application/json\r\n\r\n{"k":[1,2]}\r\n' in data
    assert (
        b'Content-Disposition: form-data; name="docs"; filename="small.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n"
    ) in data
    assert b'filename="data.bin"\r\nContent-Type: application/x-custom\r\nX-Part: 7\r\n' in data
    assert big.read_bytes() in data
    assert encoder.replayable
    assert body(encoder, chunk_size=1000) == data  # a second pass gives the same body


def test_chunks_have_the_requested_size_and_files_are_read_lazily(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * 100_000)
    encoder = MultipartEncoder({"a": "1"}, {"f": str(path)}, boundary="b")
    chunks = encoder.iter_chunks(8192)
    first = next(chunks)
    assert len(first) == 8192
    path.write_bytes(b"y" * 100_000)  # same size: the rest is read only now
    rest = b"".join(chunks)
    assert b"y" * 1000 in rest
    sizes = [len(c) for c in encoder.iter_chunks(8192)]
    assert all(size == 8192 for size in sizes[:-1])
    assert sum(sizes) == encoder.content_length


class CountingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


def test_never_reads_more_than_a_chunk() -> None:
    stream = CountingFile(b"q" * 1_000_000)
    encoder = MultipartEncoder(files={"f": FormFile(stream, filename="q.bin")}, boundary="b")
    for chunk in encoder.iter_chunks(10_000):
        assert len(chunk) <= 10_000
    assert stream.largest_read <= 10_000


def test_open_file_from_its_position_and_replayable() -> None:
    stream = io.BytesIO(b"skipDATA")
    stream.seek(4)
    encoder = MultipartEncoder(files={"f": stream}, boundary="b")
    assert encoder.content_length is not None
    first = body(encoder)
    assert b"\r\n\r\nDATA\r\n" in first
    assert b"skip" not in first
    assert body(encoder) == first  # rewound to the original position


class Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._data.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def test_unseekable_file_has_unknown_length_and_plays_once() -> None:
    stream: IO[bytes] = Unseekable(b"pipe data")  # type: ignore[assignment]
    encoder = MultipartEncoder({"a": "1"}, {"f": FormFile(stream, filename="p")}, boundary="b")
    assert encoder.content_length is None
    assert not encoder.replayable
    progress: list[tuple[int, int | None]] = []
    data = b"".join(encoder.iter_chunks(16, progress=lambda s, t: progress.append((s, t))))
    assert b"pipe data" in data
    assert progress[-1] == (len(data), None)
    with pytest.raises(StreamError, match="only once"):
        next(encoder.iter_chunks())


def test_progress_reports_running_totals() -> None:
    encoder = MultipartEncoder({"a": "x" * 100}, boundary="b")
    seen: list[tuple[int, int | None]] = []
    chunks = list(encoder.iter_chunks(32, progress=lambda s, t: seen.append((s, t))))
    assert [s for s, _ in seen] == [
        sum(len(c) for c in chunks[: i + 1]) for i in range(len(chunks))
    ]
    assert seen[-1] == (encoder.content_length, encoder.content_length)


def test_file_that_changes_size_raises(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    encoder = MultipartEncoder(files={"f": str(path)}, boundary="b")
    path.write_bytes(b"123")
    with pytest.raises(StreamError, match="shrank"):
        body(encoder)
    path.write_bytes(b"1234567890")
    with pytest.raises(StreamError, match="grew"):
        body(encoder)


def test_tiny_chunks_with_long_headers(tmp_path: Path) -> None:
    path = tmp_path / ("n" * 50)
    path.write_bytes(b"abc")
    encoder = MultipartEncoder(files={"f": str(path)}, boundary="b")
    chunks = list(encoder.iter_chunks(7))
    assert all(len(c) == 7 for c in chunks[:-1])
    assert b"".join(chunks) == body(encoder)
    with pytest.raises(ValueError):
        next(encoder.iter_chunks(0))


def test_content_type_guessing_and_defaults() -> None:
    data = body(
        MultipartEncoder(
            files={
                "a": FormFile(b"x", filename="pic.png"),
                "b": FormFile(b"x", filename="blob.unknownext"),
                "c": FormFile(b"x"),
            },
            boundary="b",
        )
    )
    assert b"Content-Type: image/png" in data
    assert b"Content-Type: application/octet-stream" in data
    assert b'name="c"\r\n\r\nx' in data


def test_sequence_of_pairs_and_empty() -> None:
    encoder = MultipartEncoder([("a", "1"), ("a", "2")], [], boundary="b")
    assert body(encoder).count(b'name="a"') == 2
    empty = MultipartEncoder(boundary="b")
    assert body(empty) == b"--b--\r\n"
    assert empty.content_length == 7


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fields": {"a": object()}}, TypeError),
        ({"fields": {"a": True}}, TypeError),
        ({"files": {"f": 42}}, TypeError),
        ({"files": {"f": FormFile(b"x", content_type="a\r\nb")}}, ValueError),
    ],
)
def test_bad_inputs(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        MultipartEncoder(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "x"}, {"content-disposition": "x"}, {"Bad Name": "x"}, {"X-Ok": "a\nb"}],
)
def test_part_headers_validated(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        FormFile(b"x", headers=headers)


def test_repr() -> None:
    assert repr(FormFile(b"secret", filename="a.txt")) == (
        "FormFile(filename='a.txt', content_type=None)"
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"a": "1", "b": "x y"}, b"a=1&b=x+y"),
        ({"q": ["1", 2, 3.5]}, b"q=1&q=2&q=3.5"),
        ([("k", True), ("k", False), ("n", None)], b"k=true&k=false&n="),
        ({"u": "caf\u00e9&=+"}, b"u=caf%C3%A9%26%3D%2B"),
        ({"b": b"\xff"}, b"b=%FF"),
        ({}, b""),
    ],
)
def test_encode_form(fields: object, expected: bytes) -> None:
    assert encode_form(fields) == expected  # type: ignore[arg-type]


def test_encode_form_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        encode_form({"a": object()})  # type: ignore[dict-item]


class BrokenTell(io.BytesIO):
    def tell(self) -> int:
        raise OSError("no position")


def test_a_file_whose_position_cannot_be_read_has_unknown_length() -> None:
    encoder = MultipartEncoder(files={"f": FormFile(BrokenTell(b"data"), filename="f")})
    assert encoder.content_length is None
    assert b"data" in b"".join(encoder.iter_chunks())
