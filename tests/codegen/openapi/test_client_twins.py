"""The sync client is rendered by the generator from the same data model and template as the
async one (``client_class(is_async)`` in ``templates/client.py.jinja``), never by rewriting the
async text: words like ``await``, ``Async`` or ``aclose`` in the document's descriptions reach
both clients' docstrings unchanged. And the ``generate`` path never loads the tokenize-based
``codegen.unasync`` (whose tokenizer differs across Python 3.11, 3.12 and 3.13)."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.codegen.openapi.conftest import SPECS, Generated

ROOT = Path(__file__).resolve().parents[3]
SPEC = SPECS / "async_words.yaml"
GET_JOB_DOC = (
    "Get a job; await its result with the AsyncJobs helper.\n\n"
    "Poll until done: `result = await jobs.wait()`, or call `await client.aclose()` when done.\n"
    "The class AsyncJobs returns -> AsyncResult; this endpoint is asynchronous (asyncio and trio)\n"
    "on the server side. async def handlers are fine."
)


def _clients(make_package: Callable[[Path, str], Generated]) -> tuple[Any, Any]:
    """The generated async and sync client classes (typed Any: they exist only at run time)."""
    result, _ = make_package(SPEC, "twins")
    module: ModuleType = importlib.import_module(f"{result.package_dir.name}.client")
    name = result.api_name
    return getattr(module, f"Async{name}Client"), getattr(module, f"{name}Client")


def test_descriptions_with_async_words_reach_both_clients_unchanged(
    make_package: Callable[[Path, str], Generated],
) -> None:
    async_client, sync_client = _clients(make_package)
    # The API's own title starts with "Async": both class names keep it.
    assert (async_client.__name__, sync_client.__name__) == (
        "AsyncAsyncAwaitWordsClient",
        "AsyncAwaitWordsClient",
    )
    assert inspect.getdoc(sync_client.get_job) == GET_JOB_DOC
    assert inspect.getdoc(async_client.get_job) == GET_JOB_DOC
    create = (
        "Start a job (Async mode); await the returned AsyncFlextApiClient-style handle.\n\n"
        "Deprecated: the API document marks this operation deprecated."
    )
    assert inspect.getdoc(sync_client.create_job) == create
    assert inspect.getdoc(async_client.create_job) == create


def test_the_twins_differ_only_in_being_async(
    make_package: Callable[[Path, str], Generated],
) -> None:
    async_client, sync_client = _clients(make_package)
    names = sorted(n for n in vars(async_client) if not n.startswith("_") or n == "__init__")
    sync_names = sorted(n for n in vars(sync_client) if not n.startswith("_") or n == "__init__")
    assert [n.replace("aclose", "close") for n in names] == sync_names
    for name in ("get_job", "get_job_with_response", "create_job", "create_job_with_response"):
        a, s = getattr(async_client, name), getattr(sync_client, name)
        assert inspect.iscoroutinefunction(a) and not inspect.iscoroutinefunction(s), name
        assert inspect.signature(a) == inspect.signature(s), name
        assert a.__doc__ == s.__doc__, name
    assert "__aenter__" in vars(async_client) and "__enter__" in vars(sync_client)
    assert "__aenter__" not in vars(sync_client) and "aclose" not in vars(sync_client)
    transport = inspect.signature(sync_client.__init__).parameters["client"].annotation
    assert transport == "_fa.FlextApiClient | None"
    transport = inspect.signature(async_client.__init__).parameters["client"].annotation
    assert transport == "_fa.AsyncFlextApiClient | None"


_PROBE = """
import builtins, json, sys
importers = []
real_import = builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "tokenize" or name.startswith("tokenize."):
        importers.append((globals or {}).get("__name__", "?"))
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = spy
from codegen.__main__ import main
status = main(sys.argv[1:])
builtins.__import__ = real_import
files = {n: getattr(sys.modules.get(n), "__file__", None) for n in importers}
print(json.dumps({"status": status, "modules": sorted(sys.modules), "importers": files}))
"""


def test_the_generate_command_never_loads_tokenize_itself(tmp_path: Path) -> None:
    """tokenize's output changed in 3.12 (f-strings) and 3.13: only the standard library may
    pull it in (on 3.11, ``dataclasses`` -> ``inspect`` -> ``linecache`` does), never the
    generator or its template engine, and ``codegen.unasync`` is not loaded at all."""
    command = ["generate", "openapi", str(SPEC), "--out", str(tmp_path), "--package", "aw"]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *command, "--quiet"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == 0
    assert (tmp_path / "aw" / "client.py").is_file()
    assert "codegen.unasync" not in report["modules"]
    assert "jinja2" in report["modules"]  # the templates really rendered in this process
    stdlib = sysconfig.get_paths()["stdlib"]
    outside = {
        name: file
        for name, file in report["importers"].items()
        if not (file or "").startswith(stdlib) or name.startswith(("codegen", "jinja2"))
    }
    assert outside == {}, f"tokenize imported outside the standard library by {outside}"
