"""Portable keys, metadata and content types, checked once before any backend is asked.

The rules are the intersection of what every backend stores unchanged, so an object written to
one backend can be copied to any other (a MultiBackend relies on it):

- **key**: 1 to 1024 bytes of UTF-8, no control characters, no backslash, segments between
  ``/`` neither empty (no leading, trailing or doubled ``/``) nor ``.`` or ``..``.
- **metadata**: names ``[a-z][a-z0-9_]*`` (S3 lowercases names, Azure wants identifiers), values
  printable ASCII (they travel as HTTP headers), at most 2 KiB of names and values in all.
- **content type**: ``type/subtype`` with optional parameters, printable ASCII.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from typing import Final

from flext_api.storage._errors import StorageInvalidKey, StorageInvalidMetadata

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_KEY_BYTES",
    "MAX_METADATA_BYTES",
    "guess_content_type",
    "validate_content_type",
    "validate_key",
    "validate_metadata",
    "validate_prefix",
]

MAX_KEY_BYTES: Final = 1024
MAX_METADATA_BYTES: Final = 2048
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\\]")
_META_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_META_VALUE: Final = re.compile(r"[\x20-\x7e]*")
_CONTENT_TYPE: Final = re.compile(
    r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(;[\x20-\x7e]*)?"
)


def validate_key(key: object, *, backend: str | None = None) -> str:
    """``key`` when it is portable; :class:`StorageInvalidKey` saying why otherwise."""
    if not isinstance(key, str):
        raise TypeError(f"a storage key is a str, not {type(key).__name__}")
    problem = _key_problem(key)
    if problem is not None:
        raise StorageInvalidKey(
            f"{backend or 'storage'}: key {key[:200]!r} {problem}",
            backend=backend,
            key=key,
        )
    return key


def _key_problem(key: str) -> str | None:
    if not key:
        return "is empty: name the object"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8 (lone surrogate): use real characters"
    if size > MAX_KEY_BYTES:
        return f"is {size} bytes long; keys are at most {MAX_KEY_BYTES} bytes of UTF-8"
    if _CONTROL.search(key):
        return "holds a control character or a backslash; use '/' to separate segments"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return (
                "has an empty, '.' or '..' segment (a leading, trailing or doubled '/'); "
                "write keys as 'a/b/c'"
            )
    return None


def validate_prefix(prefix: object, *, backend: str | None = None) -> str:
    """A listing prefix: ``""`` or a key's beginning (a trailing ``/`` is allowed)."""
    if not isinstance(prefix, str):
        raise TypeError(f"a listing prefix is a str, not {type(prefix).__name__}")
    if prefix:
        trimmed = prefix[:-1] if prefix.endswith("/") else prefix
        problem = _key_problem(trimmed) if trimmed else "is '/'"
        if problem is not None:
            raise StorageInvalidKey(
                f"{backend or 'storage'}: prefix {prefix[:200]!r} {problem}",
                backend=backend,
                key=prefix,
            )
    return prefix


def validate_metadata(
    metadata: Mapping[str, str] | None, *, backend: str | None = None, key: str | None = None
) -> dict[str, str]:
    """A copy of ``metadata`` when it is portable; :class:`StorageInvalidMetadata` otherwise."""
    if metadata is None:
        return {}
    checked: dict[str, str] = {}
    total = 0
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("metadata maps str names to str values")
        if not _META_NAME.fullmatch(name):
            problem = f"name {name!r} is not [a-z][a-z0-9_]* (lowercase, digits, underscore)"
        elif not _META_VALUE.fullmatch(value):
            problem = f"value of {name!r} is not printable ASCII; encode it (percent or base64)"
        else:
            total += len(name) + len(value)
            checked[name] = value
            continue
        raise StorageInvalidMetadata(
            f"{backend or 'storage'}: metadata {problem}", backend=backend, key=key
        )
    if total > MAX_METADATA_BYTES:
        raise StorageInvalidMetadata(
            f"{backend or 'storage'}: metadata is {total} bytes; at most {MAX_METADATA_BYTES} "
            "bytes of names and values are portable",
            backend=backend,
            key=key,
        )
    return checked


def validate_content_type(
    content_type: str, *, backend: str | None = None, key: str | None = None
) -> str:
    if not isinstance(content_type, str):
        raise TypeError(f"content_type is a str, not {type(content_type).__name__}")
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise StorageInvalidMetadata(
            f"{backend or 'storage'}: content type {content_type[:100]!r} is not "
            "'type/subtype[; parameters]' in printable ASCII",
            backend=backend,
            key=key,
        )
    return content_type


def guess_content_type(key: str) -> str:
    """The content type the key's extension suggests, ``application/octet-stream`` otherwise."""
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE
