"""The local backend's filesystem work: key to path inside the root, sidecar metadata, ordered
listing. Blocking, awaiting nothing: both local backends (generated twins) call it.

Layout under the root: the object ``a/b.txt`` is the file ``a/b.txt``; its content type and
metadata are the JSON sidecar ``a/.flext-meta.b.txt.json`` beside it; uploads are written to
``a/.flext-tmp.*`` and renamed into place. Every name starting with ``.flext-`` is the
backend's own: such a key segment is refused and listings skip them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat as stat_module
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from flext_api.storage._errors import (
    StorageAccessDenied,
    StorageError,
    StorageInvalidKey,
    StorageNotFound,
    StorageUnavailable,
    StorageUploadFailed,
)
from flext_api.storage._types import ObjectInfo

__all__ = ["LocalFS"]

RESERVED: Final = ".flext-"
META_PREFIX: Final = ".flext-meta."
META_SUFFIX: Final = ".json"
TEMP_PREFIX: Final = ".flext-tmp."


class LocalFS:
    """Paths and sidecars under one root directory (resolved once, at construction)."""

    __slots__ = ("name", "root")

    def __init__(self, root: str | os.PathLike[str], *, name: str, create: bool) -> None:
        path = Path(root)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(path))
        self.name = name

    # -- keys and paths ---------------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file for ``key``; refuses reserved segments and symlinks that lead out."""
        if any(segment.startswith(RESERVED) for segment in key.split("/")):
            raise StorageInvalidKey(
                f"{self.name}: key {key!r} has a segment starting with {RESERVED!r}, which the "
                "local backend keeps for its own files; rename the object",
                backend=self.name,
                key=key,
            )
        self.check_root(key)
        path = self.root.joinpath(*key.split("/"))
        real = os.path.realpath(path)
        if os.path.commonpath([real, self.root]) != str(self.root):
            raise StorageInvalidKey(
                f"{self.name}: key {key!r} leads out of the root {str(self.root)!r} through a "
                "symbolic link; the local backend serves only files inside its root",
                backend=self.name,
                key=key,
            )
        return path

    def check_root(self, key: str | None) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable(
                f"{self.name}: the root directory {str(self.root)!r} is gone or is not a "
                "directory; create it (or mount the volume) and retry",
                backend=self.name,
                key=key,
            )

    @staticmethod
    def meta_path(path: Path) -> Path:
        return path.with_name(f"{META_PREFIX}{path.name}{META_SUFFIX}")

    # -- objects ----------------------------------------------------------------------------

    def info(self, key: str, path: Path, st: os.stat_result | None = None) -> ObjectInfo:
        """The object's info from its file and sidecar (``NOT_FOUND`` when there is none)."""
        if st is None:
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                raise self.not_found(key) from None
            except OSError as exc:
                raise self.error(exc, key, "stat") from exc
        if not stat_module.S_ISREG(st.st_mode):
            raise self.not_found(key)
        content_type: str | None = None
        metadata: dict[str, str] = {}
        sidecar = self.read_sidecar(path)
        if sidecar is not None and sidecar.get("size") == st.st_size:
            content_type = sidecar.get("content_type")
            metadata = dict(sidecar.get("metadata") or {})
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}",
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=content_type,
            metadata=metadata,
        )

    def read_sidecar(self, path: Path) -> dict[str, Any] | None:
        try:
            loaded = json.loads(self.meta_path(path).read_bytes())
        except (OSError, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def write_sidecar(
        self, path: Path, size: int, content_type: str, metadata: Mapping[str, str]
    ) -> Path:
        """The sidecar written to a temporary file beside ``path`` (renamed by the caller)."""
        temp = self.temp_path(path)
        document = {"size": size, "content_type": content_type, "metadata": dict(metadata)}
        temp.write_bytes(json.dumps(document, sort_keys=True).encode())
        return temp

    @staticmethod
    def create(temp: Path) -> IO[bytes]:
        """A new temporary file, open for writing (never an existing one)."""
        return open(temp, "xb")

    def open_read(self, key: str, path: Path) -> IO[bytes]:
        """The object's file open for reading (``NOT_FOUND`` when there is none)."""
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self.not_found(key) from None
        except OSError as exc:
            raise self.error(exc, key, "download") from exc

    @staticmethod
    def temp_path(path: Path) -> Path:
        return path.with_name(f"{TEMP_PREFIX}{os.urandom(8).hex()}")

    def prepare_parent(self, key: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self.conflict(key) from None
        except OSError as exc:
            raise self.error(exc, key, "upload") from exc
        # The directories just made may hold a symlink planted meanwhile: check again.
        if os.path.commonpath([os.path.realpath(path.parent), self.root]) != str(self.root):
            raise StorageInvalidKey(
                f"{self.name}: key {key!r} leads out of the root through a symbolic link",
                backend=self.name,
                key=key,
            )

    def remove(self, key: str, path: Path) -> None:
        for victim in (path, self.meta_path(path)):
            try:
                victim.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass
            except IsADirectoryError:
                return  # a "directory" key holds no object: nothing to delete
            except OSError as exc:
                raise self.error(exc, key, "delete") from exc
        self.prune(path.parent)

    def prune(self, directory: Path) -> None:
        """Remove the empty directories from ``directory`` up to (not including) the root."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    # -- listing ----------------------------------------------------------------------------

    def walk(self, prefix: str, after: str | None) -> Iterator[tuple[str, os.stat_result]]:
        """``(key, stat)`` of every object whose key starts with ``prefix`` and sorts after
        ``after``, in key order, skipping symlinks and the backend's own files."""
        self.check_root(prefix or None)
        return self._walk(self.root, "", prefix, after)

    def _walk(
        self, directory: Path, base: str, prefix: str, after: str | None
    ) -> Iterator[tuple[str, os.stat_result]]:
        try:
            with os.scandir(directory) as scan:
                entries = [e for e in scan if not e.name.startswith(RESERVED)]
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self.error(exc, base or None, "list") from exc
        ordered: list[tuple[str, os.DirEntry[str], bool]] = []
        for entry in entries:
            if entry.is_symlink():
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            ordered.append((f"{base}{entry.name}{'/' if is_dir else ''}", entry, is_dir))
        ordered.sort(key=lambda item: item[0])
        for key, entry, is_dir in ordered:
            if is_dir:
                # Every key below starts with ``key``: skip the subtree when none can match.
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if after is not None and after > key and not after.startswith(key):
                    continue
                yield from self._walk(Path(entry.path), key, prefix, after)
            elif key.startswith(prefix) and (after is None or key > after):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we listed
                if stat_module.S_ISREG(st.st_mode):
                    yield key, st

    # -- errors -----------------------------------------------------------------------------

    def not_found(self, key: str) -> StorageError:
        return StorageNotFound(
            f"{self.name}: no object {key!r} under {str(self.root)!r}; check the key",
            backend=self.name,
            key=key,
        )

    def conflict(self, key: str) -> StorageError:
        return StorageInvalidKey(
            f"{self.name}: key {key!r} clashes with another object: on a filesystem a key "
            "cannot be both an object and the folder of others ('a' and 'a/b'); rename one",
            backend=self.name,
            key=key,
        )

    def error(self, exc: OSError, key: str | None, operation: str) -> StorageError:
        """An ``OSError`` as the storage error it means."""
        what = f"{operation} {key!r}" if key is not None else operation
        if isinstance(exc, PermissionError):
            return StorageAccessDenied(
                f"{self.name}: {what}: permission denied ({exc.filename}); let this process "
                f"read and write {str(self.root)!r}",
                backend=self.name,
                key=key,
            )
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
            cls: type[StorageError] = StorageUnavailable
        else:
            cls = StorageUploadFailed if operation == "upload" else StorageError
        return cls(
            f"{self.name}: {what} failed: {exc.strerror or exc}; check {str(self.root)!r}",
            backend=self.name,
            key=key,
        )


def discard(*paths: Path | None) -> None:
    """Remove leftover temporary files, ignoring what is already gone."""
    for path in paths:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
