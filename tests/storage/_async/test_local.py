"""What only the local backend promises: files inside the root, sidecars, atomic renames, the
root going away. On asyncio and trio here, blocking in the generated twin."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flext_api._result import Failure
from flext_api.storage import AsyncLocalStorage, StorageError, create_async_storage

pytestmark = pytest.mark.anyio  # unasync: remove


def code_of(result: object) -> str:
    assert isinstance(result, Failure), result
    error = result.error
    assert isinstance(error, StorageError)
    return error.code


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[AsyncLocalStorage]:
    async with AsyncLocalStorage(tmp_path / "root", name="disk") as backend:
        yield backend


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".flext-tmp." in p.name)


async def test_objects_are_files_with_a_sidecar_beside_them(local: AsyncLocalStorage) -> None:
    await local.upload_file("a/b.txt", b"data", metadata={"k": "v"})
    assert (local.root / "a" / "b.txt").read_bytes() == b"data"
    sidecar = local.root / "a" / ".flext-meta.b.txt.json"
    assert b'"k": "v"' in sidecar.read_bytes() and b"text/plain" in sidecar.read_bytes()
    # A file put there by hand is an object too (no sidecar: no content type, no metadata).
    (local.root / "a" / "manual").write_bytes(b"by hand")
    info = (await local.stat("a/manual")).unwrap()
    assert (info.size, info.content_type, info.metadata) == (7, None, {})
    # A sidecar that no longer matches the file (size) is ignored rather than trusted.
    (local.root / "a" / "b.txt").write_bytes(b"changed by hand")
    assert (await local.stat("a/b.txt")).unwrap().metadata == {}
    assert [i.key for i in (await local.list_files()).unwrap()] == ["a/b.txt", "a/manual"]
    await local.delete_file("a/b.txt")
    assert not sidecar.exists()
    await local.delete_file("a/manual")
    assert list(local.root.iterdir()) == []  # emptied folders are removed


async def test_symlinks_leading_out_of_the_root_are_refused(
    local: AsyncLocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not yours")
    os.symlink(outside, local.root / "escape")
    os.symlink(outside / "secret", local.root / "link")
    for key in ("escape/secret", "link"):
        assert code_of(await local.download_file(key)) == "INVALID_KEY"
        assert code_of(await local.stat(key)) == "INVALID_KEY"
    assert code_of(await local.upload_file("escape/new", b"x")) == "INVALID_KEY"
    assert not (outside / "new").exists()
    assert (await local.list_files()).unwrap() == []  # listings do not follow links


async def test_reserved_names_and_file_folder_clashes(local: AsyncLocalStorage) -> None:
    assert code_of(await local.upload_file("a/.flext-meta.x", b"x")) == "INVALID_KEY"
    await local.upload_file("a", b"object a")
    error = await local.upload_file("a/b", b"x")
    assert code_of(error) == "INVALID_KEY"
    assert "cannot be both an object and the folder" in str(error.error)  # type: ignore[union-attr]
    await local.upload_file("c/d", b"x")
    assert code_of(await local.upload_file("c", b"x")) == "INVALID_KEY"
    assert code_of(await local.stat("c")) == "NOT_FOUND"  # a folder is not an object
    assert (await local.delete_file("c")).is_success
    assert (await local.download_file("c/d")).unwrap() == b"x"
    assert leftovers(local.root) == []


async def test_a_failed_upload_leaves_no_temporary_file(local: AsyncLocalStorage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"part"
        raise ConnectionResetError("peer went away")

    assert code_of(await local.upload_file("x", broken())) == "UPLOAD_FAILED"
    assert leftovers(local.root) == [] and not (local.root / "x").exists()
    assert code_of(await local.upload_file("new/dirs/x", broken())) == "UPLOAD_FAILED"
    assert list(local.root.iterdir()) == []  # the folders made for it are gone too


async def test_the_root_going_away_is_backend_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "volume"
    async with AsyncLocalStorage(root) as local:
        await local.upload_file("k", b"x")
        shutil.rmtree(root)
        for result in (
            await local.stat("k"),
            await local.download_file("k"),
            await local.upload_file("k", b"y"),
            await local.list_files(),
            await local.health_check(),
        ):
            assert code_of(result) == "BACKEND_UNAVAILABLE"
        root.mkdir()
        assert (await local.health_check()).is_success
        assert code_of(await local.stat("k")) == "NOT_FOUND"


async def test_create_false_and_presign(tmp_path: Path) -> None:
    local = AsyncLocalStorage(tmp_path / "absent", create=False)
    assert code_of(await local.health_check()) == "BACKEND_UNAVAILABLE"
    made = create_async_storage("local", root=tmp_path / "made")
    assert isinstance(made, AsyncLocalStorage) and made.root.is_dir()
    result = await made.presigned_get_url("k")
    assert code_of(result) == "UNSUPPORTED"
    assert "the local backend cannot presign" in str(result.error)  # type: ignore[union-attr]
    await made.aclose()
