"""Request-body encoding and the plain models: the edges a user meets with odd input."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flext_api import Limits, Timeout
from flext_api._content import encode_request, reject_async_body, sync_body
from flext_api._models import charset_from_content_type


def test_file_without_a_descriptor_is_sent_chunked() -> None:
    framing, body, stream = encode_request(
        content=io.BytesIO(b"abc"), data=None, json=None, has_json=False
    )
    assert framing == [(b"Transfer-Encoding", b"chunked")] and body is None
    assert b"".join(sync_body(stream)) == b"abc"


def test_file_size_becomes_content_length_and_progress_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 70_000)
    seen: list[tuple[int, int | None]] = []
    with path.open("rb") as file:
        file.read(1000)  # only what is left is sent
        framing, _, stream = encode_request(
            content=file,
            data=None,
            json=None,
            has_json=False,
            upload_progress=lambda sent, total: seen.append((sent, total)),
        )
        assert framing == [(b"Content-Length", b"69000")]
        assert sum(len(chunk) for chunk in sync_body(stream)) == 69_000
    assert seen[-1] == (69_000, None)


def test_text_mode_file_is_refused() -> None:
    _, _, stream = encode_request(
        content=io.StringIO("text"),  # type: ignore[arg-type]
        data=None,
        json=None,
        has_json=False,
    )
    with pytest.raises(TypeError, match="binary mode"):
        list(sync_body(stream))


def test_bad_bodies_are_programming_errors() -> None:
    with pytest.raises(TypeError, match="mapping"):
        encode_request(content=None, data=[("a", "b")], json=None, has_json=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        encode_request(content=5, data=None, json=None, has_json=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="multipart"):
        encode_request(content=b"x", data=None, json=None, has_json=False, files={"f": b"1"})


def test_iterator_progress_and_async_bodies() -> None:
    seen: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b"ab"
        yield b"c"

    async def achunks() -> AsyncIterator[bytes]:
        yield b"x"

    _, _, stream = encode_request(
        content=chunks(),
        data=None,
        json=None,
        has_json=False,
        upload_progress=lambda sent, total: seen.append(sent),
    )
    assert list(sync_body(stream)) == [b"ab", b"c"] and seen == [2, 3]
    reject_async_body(None)
    reject_async_body(iter([b"x"]))
    agen = achunks()
    with pytest.raises(TypeError, match="AsyncFlextApiClient"):
        sync_body(agen)


def test_timeout_and_limits_values() -> None:
    assert Timeout(5, connect=1) == Timeout(5.0, connect=1.0)
    assert hash(Timeout(5)) == hash(Timeout(5))
    assert Timeout(5) != Timeout(6) and Timeout(5) != 5
    assert "connect=1.0" in repr(Timeout(5, connect=1))
    assert Timeout.coerce(None) == Timeout(None)
    with pytest.raises(TypeError):
        Timeout(True)
    limits = Limits(max_connections=2, max_keepalive_connections=10)
    assert limits.max_keepalive_connections == 2  # never more idle than open
    assert limits == Limits(max_connections=2, max_keepalive_connections=2)
    assert hash(limits) == hash(Limits(max_connections=2, max_keepalive_connections=2))
    assert limits != Limits() and "max_connections=2" in repr(limits)
    with pytest.raises(ValueError, match="max_keepalive_connections"):
        Limits(max_keepalive_connections=True)


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        (None, None),
        ("text/plain", None),
        ("text/plain; charset=ISO-8859-1", "iso8859-1"),
        ('text/plain; format=flowed; charset="utf-8"', "utf-8"),
        ("text/plain; charset=klingon", None),
    ],
)
def test_charset_from_content_type(content_type: str | None, charset: str | None) -> None:
    assert charset_from_content_type(content_type) == charset


def test_total_budget_caps_each_phase_by_what_is_left() -> None:
    import time

    from flext_api._headers import Headers
    from flext_api._models import Request
    from flext_api._urls import URL

    assert Timeout(5).total is None
    assert Timeout(5, total=2) != Timeout(5)
    assert "total=2" in repr(Timeout(5, total=2)) and "total" not in repr(Timeout(5))
    with pytest.raises(ValueError, match="total"):
        Timeout(5, total=-1)
    request = Request("GET", URL("http://example.com/"), Headers())
    assert request.limit(30.0) == 30.0 and request.limit(None) is None
    request.deadline = time.monotonic() + 2.0
    capped = request.limit(30.0)
    assert capped is not None and 1.5 < capped <= 2.0
    assert request.limit(0.5) == 0.5
    request.deadline = time.monotonic() - 1.0
    assert request.limit(30.0) == 0.001  # spent: the phase times out at once
