"""Downloads that resume after a dropped connection (Range + If-Range), against a scripted
server that cuts the body where the test says: the file is whole and right, the requests are
the ones RFC 9110 describes, and a changed resource restarts instead of splicing two versions.
Generated into tests/_sync/test_download.py."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from flext_api import AsyncFlextApiClient, Failure, Success, async_download
from tests.servers.app import pattern_bytes
from tests.servers.raw import RawServerFactory, RequestReader

pytestmark = pytest.mark.anyio  # unasync: remove

BODY = pattern_bytes(300_000)
NEW_BODY = bytes(reversed(BODY))


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def resumable(
    seen: list[bytes],
    *,
    cut_at: list[int],
    validators: list[bytes],
    bodies: list[bytes] | None = None,
    honour_ranges: bool = True,
    shift: int = 0,
) -> Callable[[socket.socket], None]:
    """A server that answers the n-th GET with ``validators[n]``/``bodies[n]``, honours
    ``Range`` under a matching ``If-Range``, and drops the connection after ``cut_at[n]``
    body bytes (``-1``: sends it all). ``shift`` misplaces the ranges it serves."""

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while (head := reader.next_request()) is not None:
            n = len(seen)
            seen.append(head)
            validator = validators[min(n, len(validators) - 1)]
            body = (bodies or [BODY])[min(n, len(bodies or [BODY]) - 1)]
            range_ = _header(head, b"range")
            if_range = _header(head, b"if-range")
            start = 0
            status = b"200 OK"
            extra = b""
            if range_ and honour_ranges and if_range == validator:
                start = int(range_.removeprefix(b"bytes=").rstrip(b"-"))
                status = b"206 Partial Content"
                shown = start + shift
                extra = f"Content-Range: bytes {shown}-{len(body) - 1}/{len(body)}\r\n".encode()
            part = body[start:]
            conn.sendall(
                b"HTTP/1.1 " + status + b"\r\nETag: " + validator
                + f"\r\nContent-Length: {len(part)}\r\n".encode() + extra + b"\r\n"
            )  # fmt: skip
            cut = cut_at[min(n, len(cut_at) - 1)]
            if cut >= 0:
                conn.sendall(part[:cut])
                return  # hang up mid-body
            conn.sendall(part)

    return script


async def test_a_dropped_download_resumes_where_it_stopped(
    raw_server: RawServerFactory, tmp_path: Path
) -> None:
    seen: list[bytes] = []
    server = raw_server(resumable(seen, cut_at=[100_000, 50_000, -1], validators=[b'"v1"']))
    target = tmp_path / "file.bin"
    async with AsyncFlextApiClient() as client:
        result = await async_download(client, f"{server.url}/file", target)
    assert isinstance(result, Success), result
    assert target.read_bytes() == BODY
    assert (result.value.size, result.value.resumes, result.value.restarts) == (300_000, 2, 0)
    assert result.value.etag == '"v1"'
    assert [_header(h, b"range") for h in seen] == [None, b"bytes=100000-", b"bytes=150000-"]
    assert {_header(h, b"if-range") for h in seen[1:]} == {b'"v1"'}
    assert {_header(h, b"accept-encoding") for h in seen} == {b"identity"}
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]  # no temporary file left


async def test_a_changed_resource_restarts_instead_of_splicing(
    raw_server: RawServerFactory,
) -> None:
    seen: list[bytes] = []
    script = resumable(
        seen, cut_at=[100_000, -1], validators=[b'"v1"', b'"v2"'], bodies=[BODY, NEW_BODY]
    )
    server = raw_server(script)
    sink = io.BytesIO(b"kept:")
    sink.seek(0, io.SEEK_END)
    async with AsyncFlextApiClient() as client:
        result = await async_download(client, f"{server.url}/file", sink)
    assert isinstance(result, Success)
    assert sink.getvalue() == b"kept:" + NEW_BODY  # what was there before the download stays
    assert (result.value.resumes, result.value.restarts) == (1, 1)


async def test_without_a_validator_or_with_a_misplaced_range_it_fails_and_writes_nothing(
    raw_server: RawServerFactory, tmp_path: Path
) -> None:
    target = tmp_path / "file.bin"
    misplaced = raw_server(resumable([], cut_at=[100_000, -1], validators=[b'"v1"'], shift=7))
    async with AsyncFlextApiClient() as client:
        result = await async_download(client, f"{misplaced.url}/file", target)
    assert isinstance(result, Failure) and result.error_code == "DOWNLOAD_RESUME_FAILED"
    assert "asked for the bytes from 100000, the server sent them from 100007" in str(result.error)
    assert not target.exists() and list(tmp_path.iterdir()) == []

    weak = raw_server(resumable([], cut_at=[100_000], validators=[b'W/"v1"']))
    async with AsyncFlextApiClient() as client:
        result = await async_download(client, f"{weak.url}/file", target)
    # A weak ETag cannot prove the rest is the same version: the drop is final.
    assert isinstance(result, Failure) and result.error_code != "DOWNLOAD_RESUME_FAILED"
    assert not target.exists()


async def test_an_error_status_writes_nothing(raw_server: RawServerFactory, tmp_path: Path) -> None:
    def not_found(conn: socket.socket) -> None:
        RequestReader(conn).next_request()
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno such!\n")

    server = raw_server(not_found)
    target = tmp_path / "file.bin"
    async with AsyncFlextApiClient() as client:
        result = await async_download(client, f"{server.url}/missing", target)
    assert isinstance(result, Failure) and result.error_code == "HTTP_STATUS"
    assert "answered 404" in str(result.error)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("max_resumes", [0, 2])
async def test_resumes_are_bounded(
    raw_server: RawServerFactory, tmp_path: Path, max_resumes: int
) -> None:
    seen: list[bytes] = []
    server = raw_server(resumable(seen, cut_at=[10_000], validators=[b'"v1"']))
    async with AsyncFlextApiClient() as client:
        result = await async_download(
            client, f"{server.url}/file", tmp_path / "f", max_resumes=max_resumes
        )
    assert isinstance(result, Failure) and result.error_code == "REMOTE_PROTOCOL_ERROR"
    assert len(seen) == max_resumes + 1 and list(tmp_path.iterdir()) == []
