"""The pipeline policy modules stay pure: no network, event loop or clock imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flext_api._sansio

SANSIO = Path(flext_api._sansio.__file__).parent
MODULES = [
    "replay",
    "retry",
    "circuit",
    "redirects",
    "cookies",
    "auth",
    "multipart",
    "decoding",
    "proxy",
    "sse",
    "http_cache",
]
FORBIDDEN = {"socket", "ssl", "asyncio", "anyio", "trio", "time", "threading"}


@pytest.mark.parametrize("name", MODULES)
def test_no_io_or_clock_imports(name: str) -> None:
    tree = ast.parse((SANSIO / f"{name}.py").read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
