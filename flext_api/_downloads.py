"""What the resumable download shares between its async and blocking twins: the result, the
error, the destination file and the checks on a resumed answer (see ``_async/download.py``)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from flext_api._exceptions import FlextApiError, HTTPStatusError

if TYPE_CHECKING:
    from flext_api._headers import Headers, HeaderTypes

__all__ = [
    "DownloadResult",
    "DownloadResumeError",
    "Sink",
    "continues",
    "header_pairs",
    "refused",
    "validator",
]

_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadResumeError(FlextApiError):
    """The server's answer to a resumed download cannot continue the file."""

    code = "DOWNLOAD_RESUME_FAILED"


class DownloadResult:
    """What a finished download wrote, and how."""

    __slots__ = ("etag", "last_modified", "restarts", "resumes", "size")

    def __init__(
        self, size: int, resumes: int, restarts: int, etag: str | None, last_modified: str | None
    ) -> None:
        self.size = size
        self.resumes = resumes
        self.restarts = restarts
        self.etag = etag
        self.last_modified = last_modified

    def __repr__(self) -> str:
        return (
            f"<DownloadResult {self.size} bytes, {self.resumes} resumes, {self.restarts} restarts>"
        )


def validator(headers: Headers) -> str | None:
    """The strong validator ``If-Range`` may carry: a strong ETag, else Last-Modified."""
    etag = headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag  # If-Range takes strong validators only (RFC 9110 13.1.5)
    return headers.get("last-modified")


class Sink:
    """The destination: a file object, or a temporary file renamed over a path at the end."""

    def __init__(self, dest: str | os.PathLike[str] | IO[bytes]) -> None:
        self.path: Path | None = None
        self.temp: str | None = None
        if isinstance(dest, str | os.PathLike):
            self.path = Path(dest)
            handle, self.temp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
            )
            self.file: IO[bytes] = os.fdopen(handle, "wb")
        else:
            self.file = dest
        self.start = self.file.tell() if self.file.seekable() else 0

    def restart(self) -> bool:
        """Back to where this download began; ``False`` for a file that cannot seek."""
        if not self.file.seekable():
            return False
        self.file.seek(self.start)
        self.file.truncate()
        return True

    def finish(self) -> None:
        if self.path is not None and self.temp is not None:
            self.file.close()
            os.replace(self.temp, self.path)
            self.temp = None

    def abandon(self) -> None:
        if self.temp is not None:
            self.file.close()
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            self.temp = None


def header_pairs(headers: HeaderTypes | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(name), str(value)) for name, value in items]


def continues(content_range: str | None, written: int, total: int | None) -> str | None:
    """Why a 206 cannot continue the file (``None`` when it can)."""
    found = _CONTENT_RANGE.fullmatch(content_range or "")
    if found is None:
        return f"the resumed answer has no usable Content-Range ({content_range!r})"
    start, size = int(found.group(1)), found.group(3)
    if start != written:
        return f"asked for the bytes from {written}, the server sent them from {start}"
    if total is not None and size != "*" and int(size) != total:
        return f"the resource was {total} bytes, the resumed answer says {size}"
    return None


def refused(status: int, url: str, written: int) -> FlextApiError:
    if status < 400:
        return DownloadResumeError(
            f"GET {url}: answered {status} to a {'resumed ' if written else ''}download; "
            "expected 200 or 206",
            url=url,
        )
    return HTTPStatusError(
        f"GET {url} answered {status}: nothing was written", status_code=status, url=url
    )
