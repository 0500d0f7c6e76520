"""Storage values without I/O: errors (codes, vendor bodies, pickling), key/metadata rules, byte
ranges, health bookkeeping, the kinds table."""

from __future__ import annotations

import asyncio
import errno
import pickle
from pathlib import Path

import pytest

from flext_api._result import Failure
from flext_api.protocols.storage import StorageProtocol
from flext_api.storage import (
    MAX_VENDOR_BODY,
    STORAGE_KINDS,
    AsyncLocalStorage,
    BackendOutcome,
    ByteRange,
    LocalStorage,
    StorageBackendsFailed,
    StorageError,
    StorageInvalidKey,
    StorageNotFound,
    StorageQuorumNotMet,
    StorageUnavailable,
    storage_error_for_status,
)
from flext_api.storage._health import HealthBoard, counts_against
from flext_api.storage._kinds import storage_class
from flext_api.storage._local_fs import LocalFS
from flext_api.storage._validate import (
    validate_content_type,
    validate_key,
    validate_metadata,
    validate_prefix,
)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (304, "PRECONDITION_FAILED"),
        (400, "STORAGE_ERROR"),
        (401, "ACCESS_DENIED"),
        (403, "ACCESS_DENIED"),
        (404, "NOT_FOUND"),
        (409, "STORAGE_ERROR"),
        (412, "PRECONDITION_FAILED"),
        (416, "INVALID_RANGE"),
        (429, "THROTTLED"),
        (500, "BACKEND_UNAVAILABLE"),
        (503, "THROTTLED"),
    ],
)
def test_vendor_statuses_map_to_stable_codes(status: int, code: str) -> None:
    error = storage_error_for_status(
        status,
        backend="s3",
        key="k",
        operation="GET object",
        vendor_code="Vendor",
        vendor_body="<Error/>",
        url="http://127.0.0.1/b/k",
    )
    assert error.code == code
    assert (error.backend, error.key, error.status_code, error.vendor_code) == (
        "s3",
        "k",
        status,
        "Vendor",
    )
    assert error.vendor_body == b"<Error/>" and not error.vendor_body_truncated
    assert str(error).startswith(f"s3: GET object 'k' answered {status} (Vendor): ")
    assert isinstance(Failure(error).error, StorageError)


def test_errors_keep_a_bounded_vendor_body_and_pickle() -> None:
    body = b"x" * (MAX_VENDOR_BODY + 10)
    error = storage_error_for_status(
        500, backend="gcs", key=None, operation="list", vendor_body=body
    )
    assert error.vendor_body is not None and len(error.vendor_body) == MAX_VENDOR_BODY
    assert error.vendor_body_truncated and str(error).startswith("gcs: list answered 500: ")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is StorageUnavailable and copy.code == "BACKEND_UNAVAILABLE"
    assert (copy.vendor_body, copy.vendor_body_truncated, copy.backend) == (
        error.vendor_body,
        True,
        "gcs",
    )
    assert repr(copy) == (
        f"StorageUnavailable(code='BACKEND_UNAVAILABLE', message={copy.message!r}, "
        "backend='gcs', status_code=500)"
    )
    assert repr(StorageError("plain")) == "StorageError(code='STORAGE_ERROR', message='plain')"
    outcome = BackendOutcome("one", ok=False, error=StorageNotFound("gone", key="k"))
    multi = StorageQuorumNotMet("1 of 2", outcomes=[outcome], key="k")
    again = pickle.loads(pickle.dumps(multi))
    assert again.code == "QUORUM_NOT_MET" and again.backend == "multi"
    assert again.outcomes[0].backend == "one" and again.outcomes[0].error.code == "NOT_FOUND"
    assert isinstance(again, StorageBackendsFailed)


def test_keys_prefixes_metadata_and_content_types() -> None:
    assert validate_key("a/b.c") == "a/b.c"
    with pytest.raises(TypeError, match="a storage key is a str"):
        validate_key(b"a")
    with pytest.raises(StorageInvalidKey, match="not valid UTF-8"):
        validate_key("\ud800")
    with pytest.raises(StorageInvalidKey, match="is 1025 bytes long"):
        validate_key("\u00e9" * 512 + "x", backend="b")
    assert (
        validate_prefix("") == ""
        and validate_prefix("a/") == "a/"
        and validate_prefix("a/b") == "a/b"
    )
    for prefix in ("/", "a//", "../"):
        with pytest.raises(StorageInvalidKey):
            validate_prefix(prefix)
    with pytest.raises(TypeError):
        validate_prefix(None)
    assert validate_metadata(None) == {}
    assert validate_metadata({"a_1": "x y"}) == {"a_1": "x y"}
    with pytest.raises(TypeError):
        validate_metadata({"a": 1})  # type: ignore[dict-item]
    assert validate_content_type("text/plain; charset=utf-8") == "text/plain; charset=utf-8"
    with pytest.raises(TypeError):
        validate_content_type(1)  # type: ignore[arg-type]


def test_byte_range_headers() -> None:
    assert ByteRange(0, 100).header_value() == "bytes=0-99"
    assert ByteRange(100).header_value() == "bytes=100-"
    assert ByteRange.last(50).header_value() == "bytes=-50"
    assert ByteRange.last(50).resolve(20) == (0, 20)
    assert ByteRange(5, 10).resolve(8) == (5, 8)
    with pytest.raises(ValueError, match="no start/end"):
        ByteRange(1, suffix=3)


def test_health_board_counts_only_backend_trouble() -> None:
    now = [0.0]
    board = HealthBoard(
        ["a", "b"],
        clock=lambda: now[0],
        failure_threshold=2,
        health_interval=None,
        probe_interval=5,
    )
    assert board.due() == []
    board.failed("a", StorageNotFound("missing"))
    board.failed("a", StorageNotFound("missing"))
    assert board.is_up("a")
    assert counts_against(StorageError("other")) and not counts_against(StorageInvalidKey("k"))
    board.failed("a", StorageUnavailable("down"))
    board.failed("a", StorageUnavailable("down"))
    assert not board.is_up("a") and board.due() == []
    now[0] = 5.0
    assert board.due() == ["a"]
    board.succeeded("a")
    assert board.is_up("a") and board.snapshot()[0].next_check_at is None


def test_kinds_table() -> None:
    assert STORAGE_KINDS["local"] == "flext_api.storage.local:LocalStorage"
    assert storage_class("local") is LocalStorage
    with pytest.raises(LookupError, match="no storage backend named 'tape'"):
        storage_class("tape")


def test_local_os_errors_map_to_codes(tmp_path: Path) -> None:
    fs = LocalFS(tmp_path, name="disk", create=False)
    denied = fs.error(PermissionError(errno.EACCES, "denied", "/x"), "k", "upload")
    assert denied.code == "ACCESS_DENIED" and "permission denied" in str(denied)
    full = fs.error(OSError(errno.ENOSPC, "No space left on device"), "k", "upload")
    assert full.code == "BACKEND_UNAVAILABLE" and "No space left" in str(full)
    assert fs.error(OSError(errno.EINVAL, "odd"), "k", "upload").code == "UPLOAD_FAILED"
    assert fs.error(OSError(errno.EINVAL, "odd"), None, "list").code == "STORAGE_ERROR"


def test_storage_protocol_closes_async_backends_too(tmp_path: Path) -> None:
    protocol = StorageProtocol()
    backend = protocol.open_async("local", root=tmp_path)
    blocking = protocol.open("local", root=tmp_path)
    assert isinstance(backend, AsyncLocalStorage) and isinstance(blocking, LocalStorage)
    asyncio.run(protocol.aclose())
    assert protocol._opened == [] and protocol._opened_async == []
