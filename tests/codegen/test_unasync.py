"""The async-to-sync transform: token rules, markers, refusals, rendering and the tree check."""

from __future__ import annotations

import importlib.util
import io
import re
import runpy
import sys
import textwrap
from pathlib import Path

import pytest

from codegen import unasync
from codegen.__main__ import main
from codegen.unasync import UnasyncError, unasync_source


def sync(source: str) -> str:
    return unasync_source(textwrap.dedent(source), "src.py")


# --- token rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async def f():\n    pass\n", "def f():\n    pass\n"),
        ("async def f():\n    await g()\n", "def f():\n    g()\n"),
        ("async def f():\n    x = await  g()\n", "def f():\n    x = g()\n"),
        ("async def f():\n    return (await g()).h\n", "def f():\n    return (g()).h\n"),
        ("async def f():\n    await g(await h())\n", "def f():\n    g(h())\n"),
        ("async def f():\n    await(g())\n", "def f():\n    (g())\n"),
        ("async def f():\n    x = await\tg()\n", "def f():\n    x = g()\n"),
        ("async def f():\n    x = (await\n         g())\n", "def f():\n    x = (\n         g())\n"),
        (
            "async def f():\n    x = await \\\n        g()\n",
            "def f():\n    x = \\\n        g()\n",
        ),
        (
            "async def f():\n    async with a as b:\n        pass\n",
            "def f():\n    with a as b:\n        pass\n",
        ),
        (
            "async def f():\n    async for x in y:\n        pass\n",
            "def f():\n    for x in y:\n        pass\n",
        ),
        (
            "async def f():\n    return [x async for x in y]\n",
            "def f():\n    return [x for x in y]\n",
        ),
        (
            "async def f():\n    return [await x for x in y]\n",
            "def f():\n    return [x for x in y]\n",
        ),
        (
            "class C:\n    @d\n    async def m(self): ...\n",
            "class C:\n    @d\n    def m(self): ...\n",
        ),
    ],
)
def test_async_keywords_are_dropped(source: str, expected: str) -> None:
    assert unasync_source(source) == expected


@pytest.mark.parametrize(
    ("name", "expected"), sorted({**unasync.NAMES, **unasync.EXTRA_NAMES}.items())
)
def test_table_names_are_renamed(name: str, expected: str) -> None:
    assert sync(f"x = {name}\ny.{name}()\n") == f"x = {expected}\ny.{expected}()\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AsyncIterator", "Iterator"),
        ("AsyncIterable", "Iterable"),
        ("AsyncContextManager", "ContextManager"),
        ("AsyncExitStack", "ExitStack"),
        ("AsyncNetworkStream", "NetworkStream"),
        ("AsyncNetworkBackend", "NetworkBackend"),
        ("AsyncConnectionPool", "ConnectionPool"),
        ("AsyncFlextApiClient", "FlextApiClient"),
        ("AsyncEvent", "Event"),
        ("AsyncThreadLock", "ThreadLock"),
        ("AsyncHTTP11Connection", "HTTP11Connection"),
        # Not ``Async`` + an uppercase letter, and not in a table: left alone.
        ("Async", "Async"),
        ("Asyncio", "Asyncio"),
        ("async_helper", "async_helper"),
        ("_AsyncPrivate", "_AsyncPrivate"),
        ("my_aclose", "my_aclose"),
        ("aclosed", "aclosed"),
    ],
)
def test_async_prefix_rule(name: str, expected: str) -> None:
    assert sync(f"x = {name}\n") == f"x = {expected}\n"


def test_table_is_idempotent() -> None:
    table = {**unasync.NAMES, **unasync.EXTRA_NAMES}
    assert not set(table) & set(table.values())
    assert not set(unasync.NAMES) & set(unasync.EXTRA_NAMES)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from flext_api._async.pool import P\n", "from flext_api._sync.pool import P\n"),
        ("import flext_api._async.pool as p\n", "import flext_api._sync.pool as p\n"),
        ("from flext_api._async import pool\n", "from flext_api._sync import pool\n"),
        (
            "from flext_api.protocols._async import ws\n",
            "from flext_api.protocols._sync import ws\n",
        ),
        ("x = flext_api._async.pool\n", "x = flext_api._sync.pool\n"),
        ("from ._async import pool\n", "from ._sync import pool\n"),
        ("from .._async.pool import P\n", "from .._sync.pool import P\n"),
        ("from ...x._async import y\n", "from ...x._sync import y\n"),
        ("from ..protocols._async.ws import W\n", "from ..protocols._sync.ws import W\n"),
        # Not a module path of this package: left alone.
        ("self._async = 1\n", "self._async = 1\n"),
        ("x = f()._async\n", "x = f()._async\n"),
        ("x = other._async\n", "x = other._async\n"),
        ("_async = 1\n", "_async = 1\n"),
        ("x = a.flext_api._async\n", "x = a.flext_api._async\n"),
        ("x = .5\ny = x._async\n", "x = .5\ny = x._async\n"),
        ("from . import _async\n", "from . import _async\n"),
        ("x = [1]\nx._async\n", "x = [1]\nx._async\n"),
    ],
)
def test_module_paths(source: str, expected: str) -> None:
    assert unasync_source(source) == expected


# --- strings and comments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Docstrings and string annotations name the right class.
        ('"""Wraps AsyncConnectionPool."""\n', '"""Wraps ConnectionPool."""\n'),
        ('def f() -> "AsyncIterator[bytes]": ...\n', 'def f() -> "Iterator[bytes]": ...\n'),
        ('x = "StopAsyncIteration"\n', 'x = "StopIteration"\n'),
        ('x = "see flext_api._async.pool"\n', 'x = "see flext_api._sync.pool"\n'),
        ('x = "flext_api.protocols._async"\n', 'x = "flext_api.protocols._sync"\n'),
        # Prose keeps its words: keywords and lower-case names are not class names.
        ('x = "await the reply, then aclose() it"\n', 'x = "await the reply, then aclose() it"\n'),
        ('x = "async with pool"\n', 'x = "async with pool"\n'),
        ('x = "AsyncConnectionPoolX_AsyncY"\n', 'x = "ConnectionPoolX_AsyncY"\n'),
        ('x = "other._async"\n', 'x = "other._async"\n'),
        # Bytes are data, never renamed.
        ('x = b"AsyncConnectionPool"\n', 'x = b"AsyncConnectionPool"\n'),
        ('x = Rb"AsyncConnectionPool"\n', 'x = Rb"AsyncConnectionPool"\n'),
        ('x = r"AsyncConnectionPool"\n', 'x = r"ConnectionPool"\n'),
        # f-strings are one STRING token on Python 3.11: names in them follow the string rule.
        ('x = f"{AsyncFoo.bar!r}: await {n}"\n', 'x = f"{Foo.bar!r}: await {n}"\n'),
        # Comments are never touched.
        ("x = 1  # await AsyncFoo\n", "x = 1  # await AsyncFoo\n"),
        ("# async def AsyncFoo\nx = 1\n", "# async def AsyncFoo\nx = 1\n"),
    ],
)
def test_strings_and_comments(source: str, expected: str) -> None:
    assert unasync_source(source) == expected


def test_layout_and_comments_survive() -> None:
    source = """\
        # header comment
        async def fetch(  # why this takes a pool
            pool: AsyncConnectionPool,   # odd spacing kept
        ) -> bytes:
            '''Fetch with AsyncConnectionPool; await it.'''

            data = await pool.aread()  # await this


            return data
        """
    assert sync(source) == textwrap.dedent("""\
        # header comment
        def fetch(  # why this takes a pool
            pool: ConnectionPool,   # odd spacing kept
        ) -> bytes:
            '''Fetch with ConnectionPool; await it.'''

            data = pool.read()  # await this


            return data
        """)


def test_no_trailing_newline_and_crlf() -> None:
    assert unasync_source("async def f():\n    await g()") == "def f():\n    g()"
    assert unasync_source("async def f():\r\n    await g()\r\n") == "def f():\r\n    g()\r\n"


# --- markers -------------------------------------------------------------------------------


def test_remove_marker_drops_its_line() -> None:
    source = """\
        import asyncio  # unasync: remove
        x = 1
        y = 2  #   unasync:   remove
        """
    assert sync(source) == "x = 1\n"


def test_async_only_block_is_dropped() -> None:
    source = """\
        async def f():
            x = 1
            # unasync: begin-async-only
            await asyncio.sleep(0)
            import trio  # unasync: remove
            # unasync: end-async-only
            return x
        """
    assert sync(source) == "def f():\n    x = 1\n    return x\n"


def test_sync_only_line_becomes_code_at_its_indentation() -> None:
    source = """\
        async def f():
            # unasync: sync-only: threading.get_ident()
            return 1
        """
    assert sync(source) == "def f():\n    threading.get_ident()\n    return 1\n"
    crlf = "def f():\r\n    # unasync: sync-only: x = 1\r\n    return x\r\n"
    assert unasync_source(crlf) == "def f():\r\n    x = 1\r\n    return x\r\n"


def test_sync_only_code_is_not_transformed() -> None:
    assert sync("# unasync: sync-only: x = AsyncFoo\n") == "x = AsyncFoo\n"


def test_other_comments_mentioning_unasync_are_kept() -> None:
    assert sync("x = 1  # see unasync: docs\n") == "x = 1  # see unasync: docs\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("# unasync: remove\nx = 1\n", "src.py:1: '# unasync: remove' must end the line"),
        ("x = 1  # unasync: begin-async-only\n", "src.py:1: '# unasync: begin-async-only' must be"),
        (
            "x = 1  # unasync: sync-only: y\n",
            "src.py:1: '# unasync: sync-only: y' must be on a line",
        ),
        (
            "# unasync: begin-async-only\n# unasync: begin-async-only\n",
            "src.py:2: '# unasync: begin-async-only' inside the block opened at line 1",
        ),
        ("# unasync: end-async-only\n", "src.py:1: '# unasync: end-async-only' without a"),
        (
            "x = 1\n# unasync: begin-async-only\nx = 2\n",
            "src.py:2: '# unasync: begin-async-only' is never closed",
        ),
        ("# unasync: sync-only:\n", "src.py:1: '# unasync: sync-only:' needs code after it"),
        (
            "# unasync: begin-async-only\n# unasync: sync-only: x = 1\n# unasync: end-async-only\n",
            "src.py:2: '# unasync: sync-only:' needs code after it and cannot sit inside",
        ),
        (
            "x = 1  # unasync: removed\n",
            "src.py:1: unknown marker '# unasync: removed'; the markers are",
        ),
    ],
)
def test_marker_misuse_fails_clearly(source: str, message: str) -> None:
    with pytest.raises(UnasyncError, match="^" + re.escape(message)):
        unasync_source(source, "src.py")


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from typing import AsyncGenerator\n",
            "src.py:1: AsyncGenerator: AsyncGenerator[Y, S] has no one-to-one blocking twin",
        ),
        (
            'def f() -> "AsyncGenerator[int, None]": ...\n',
            "src.py:1: AsyncGenerator in a string: AsyncGenerator[Y, S] has no one-to-one",
        ),
        ("x = 1\nimport asyncio\n", "src.py:2: asyncio: the blocking twin must not use asyncio;"),
        ("import trio\n", "src.py:1: trio: the blocking twin must not use trio; put the code"),
        ("import anyio\n", "src.py:1: anyio: the blocking twin must not use anyio"),
        ("import sniffio\n", "src.py:1: sniffio: the blocking twin must not use sniffio"),
        ("def f(:\n", "src.py:1: the source does not parse"),
        (
            "if x:  # unasync: remove\n    y = 1\n",
            "src.py: the transformed code does not parse (generated line 1",
        ),
        (
            "async def f():\n    return f'{await g()}'\n",
            "src.py: an async construct survived the transform (generated line 2)",
        ),
        (
            "async def f():\n    return f'{[x async for x in y]}'\n",
            "src.py: an async construct survived the transform (generated line 2)",
        ),
    ],
)
def test_unmappable_sources_fail_clearly(source: str, message: str) -> None:
    with pytest.raises(UnasyncError, match="^" + re.escape(message)):
        unasync_source(source, "src.py")


def test_forbidden_module_inside_async_only_block_is_fine() -> None:
    source = "# unasync: begin-async-only\nimport asyncio\n# unasync: end-async-only\nx = 1\n"
    assert unasync_source(source) == "x = 1\n"


def test_lower_case_forbidden_names_may_appear_in_strings() -> None:
    assert sync('"""Runs on asyncio and trio."""\n') == '"""Runs on asyncio and trio."""\n'


# --- idempotence and rendering -------------------------------------------------------------

SAMPLE = '''\
"""An AsyncConnectionPool user; see flext_api._async.pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flext_api._async.pool import AsyncConnectionPool
from flext_api._backends.auto import default_async_backend
import asyncio  # unasync: remove


class AsyncClient:
    def __init__(self) -> None:
        self._pool = AsyncConnectionPool(default_async_backend())

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        # unasync: begin-async-only
        await asyncio.sleep(0)
        # unasync: end-async-only
        # unasync: sync-only: self._closed_by = threading.get_ident()
        await self._pool.aclose()

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[bytes]:
        async with self._pool as pool:
            async for chunk in pool.aiter_bytes():
                yield chunk
'''

SAMPLE_SYNC = '''\
# GENERATED by codegen.unasync from flext_api/_async/client.py.
# DO NOT EDIT: edit the source and run 'python -m codegen unasync'.
"""An ConnectionPool user; see flext_api._sync.pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flext_api._backends.auto import default_sync_backend
from flext_api._sync.pool import ConnectionPool


class Client:
    def __init__(self) -> None:
        self._pool = ConnectionPool(default_sync_backend())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed_by = threading.get_ident()
        self._pool.close()

    @contextmanager
    def stream(self) -> Iterator[bytes]:
        with self._pool as pool:
            for chunk in pool.iter_bytes():
                yield chunk
'''


def test_transform_is_idempotent() -> None:
    once = unasync_source(SAMPLE)
    assert unasync_source(once) == once


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fake repository: pyproject, a package with two async trees (one nested)."""
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    files = {
        "flext_api/__init__.py": "",
        "flext_api/_async/__init__.py": "",
        "flext_api/_async/client.py": SAMPLE,
        "flext_api/_async/sub/deep.py": "async def deep() -> int:\n    return 1\n",
        "flext_api/protocols/__init__.py": "",
        "flext_api/protocols/_async/ws.py": "async def send(x: int) -> None:\n    await g(x)\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_render_adds_banner_sorts_imports_and_formats(repo: Path) -> None:
    ruff = unasync.find_ruff()
    rendered = unasync.render(
        SAMPLE, "flext_api/_async/client.py", "flext_api/_sync/client.py", repo, ruff
    )
    assert rendered == SAMPLE_SYNC
    again = unasync.render(
        SAMPLE, "flext_api/_async/client.py", "flext_api/_sync/client.py", repo, ruff
    )
    assert again == rendered


def test_render_reports_a_failing_ruff(repo: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(2)"]
    with pytest.raises(UnasyncError, match=r"^ruff check --select I .* failed: boom$"):
        unasync.render("x = 1\n", "a.py", "b.py", repo, failing)


def test_find_ruff_prefers_the_binary_next_to_python() -> None:
    assert unasync.find_ruff() == [str(Path(sys.executable).parent / "ruff")]


def test_find_ruff_falls_back_to_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert unasync.find_ruff() == [str(tmp_path / "python"), "-m", "ruff"]


def test_missing_ruff_fails_clearly(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", str(repo / "python"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UnasyncError, match=r"^ruff is required .* \(pip install ruff\)$"):
        unasync.find_ruff()
    assert main(["unasync", "--root", str(repo)]) == 1
    assert "unasync: error: ruff is required" in capsys.readouterr().out
    assert not (repo / "flext_api/_sync").exists()


# --- trees, write and check ----------------------------------------------------------------


def test_repo_root_holds_the_package() -> None:
    assert (unasync.REPO_ROOT / "flext_api").is_dir()
    assert (unasync.REPO_ROOT / "codegen" / "unasync.py").is_file()


def test_discover_trees(repo: Path) -> None:
    (repo / "flext_api/old/_sync").mkdir(parents=True)
    (repo / "flext_api/_resync").mkdir()  # matches the search pattern, is no tree
    (repo / "flext_api/cache").mkdir()
    (repo / "flext_api/cache/_sync").write_text("")  # a file, not a directory
    assert unasync.discover_trees(repo) == [
        unasync.Tree(Path("flext_api/_async"), Path("flext_api/_sync")),
        unasync.Tree(Path("flext_api/old/_async"), Path("flext_api/old/_sync")),
        unasync.Tree(Path("flext_api/protocols/_async"), Path("flext_api/protocols/_sync")),
        unasync.Tree(Path("tests/_async"), Path("tests/_sync")),
        unasync.Tree(Path("tests/hostile/_async"), Path("tests/hostile/_sync")),
        unasync.Tree(Path("tests/storage/_async"), Path("tests/storage/_sync")),
    ]


def cli(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["unasync", "--root", str(repo), *args])
    return status, capsys.readouterr().out


GENERATED = [
    "flext_api/_sync/__init__.py",
    "flext_api/_sync/client.py",
    "flext_api/_sync/sub/deep.py",
    "flext_api/protocols/_sync/ws.py",
]


def test_check_reports_every_missing_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = cli(repo, capsys, "--check")
    assert status == 1
    assert out.splitlines() == [
        "flext_api/_sync/__init__.py: missing (generated from flext_api/_async/__init__.py)",
        "flext_api/_sync/client.py: missing (generated from flext_api/_async/client.py)",
        "flext_api/_sync/sub/deep.py: missing (generated from flext_api/_async/sub/deep.py)",
        "flext_api/protocols/_sync/ws.py: missing "
        "(generated from flext_api/protocols/_async/ws.py)",
        "unasync: 4 problem(s); run 'python -m codegen unasync' and commit the result",
    ]
    assert not (repo / "flext_api/_sync").exists()


def test_write_then_check_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(repo, capsys) == (0, "unasync: 4 written, 0 deleted, 0 unchanged\n")
    for name in GENERATED:
        text = (repo / name).read_text()
        assert text.startswith("# GENERATED by codegen.unasync from flext_api/")
        compile(text, name, "exec")
    assert (repo / "flext_api/_sync/client.py").read_text() == SAMPLE_SYNC
    assert (
        (repo / "flext_api/protocols/_sync/ws.py")
        .read_text()
        .endswith("def send(x: int) -> None:\n    g(x)\n")
    )
    assert cli(repo, capsys, "--check") == (0, "unasync: 4 files up to date\n")
    assert cli(repo, capsys) == (0, "unasync: 0 written, 0 deleted, 4 unchanged\n")


def test_check_finds_hand_edits_and_source_changes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(repo, capsys)
    edited = repo / "flext_api/_sync/sub/deep.py"
    edited.write_text(edited.read_text().replace("return 1", "return 2"))
    (repo / "flext_api/protocols/_async/ws.py").write_text("async def send() -> None: ...\n")
    status, out = cli(repo, capsys, "--check")
    assert status == 1
    assert out.splitlines() == [
        "flext_api/_sync/sub/deep.py: differs from what flext_api/_async/sub/deep.py generates "
        "(edited by hand, or the source changed)",
        "flext_api/protocols/_sync/ws.py: differs from what flext_api/protocols/_async/ws.py "
        "generates (edited by hand, or the source changed)",
        "unasync: 2 problem(s); run 'python -m codegen unasync' and commit the result",
    ]
    assert cli(repo, capsys) == (0, "unasync: 2 written, 0 deleted, 2 unchanged\n")
    assert cli(repo, capsys, "--check")[0] == 0


def test_check_finds_a_line_ending_change(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(repo, capsys)
    path = repo / "flext_api/_sync/sub/deep.py"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    status, out = cli(repo, capsys, "--check")
    assert status == 1
    assert out.startswith("flext_api/_sync/sub/deep.py: differs from what")


def test_check_finds_extra_files_and_write_deletes_them(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(repo, capsys)
    (repo / "flext_api/_sync/sub/gone.py").write_text("x = 1\n")
    (repo / "flext_api/old/_sync").mkdir(parents=True)
    (repo / "flext_api/old/_sync/orphan.py").write_text("x = 1\n")
    (repo / "flext_api/_sync/py.typed").write_text("")
    status, out = cli(repo, capsys, "--check")
    assert status == 1
    assert out.splitlines() == [
        "flext_api/_sync/sub/gone.py: extra file, its source flext_api/_async/sub/gone.py "
        "does not exist",
        "flext_api/old/_sync/orphan.py: extra file, its source flext_api/old/_async/orphan.py "
        "does not exist",
        "unasync: 2 problem(s); run 'python -m codegen unasync' and commit the result",
    ]
    assert cli(repo, capsys) == (0, "unasync: 0 written, 2 deleted, 4 unchanged\n")
    assert not (repo / "flext_api/_sync/sub/gone.py").exists()
    assert not (repo / "flext_api/old/_sync/orphan.py").exists()
    assert (repo / "flext_api/_sync/py.typed").exists()
    assert cli(repo, capsys, "--check") == (0, "unasync: 4 files up to date\n")


def test_a_refused_source_fails_check_and_write_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "flext_api/_async/bad.py").write_text("from typing import AsyncGenerator\n")
    status, out = cli(repo, capsys, "--check")
    assert status == 1
    assert out.splitlines()[0] == (
        "unasync: error: flext_api/_async/bad.py:1: AsyncGenerator: AsyncGenerator[Y, S] has "
        "no one-to-one blocking twin (Generator takes three parameters); annotate the async "
        "generator as AsyncIterator[Y] instead"
    )
    assert out.splitlines()[-1] == (
        "unasync: 5 problem(s); run 'python -m codegen unasync' and commit the result"
    )
    status, out = cli(repo, capsys)
    assert status == 1
    assert out.endswith("unasync: nothing written; fix the sources above\n")
    assert not (repo / "flext_api/_sync").exists()


def test_check_with_nothing_to_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "flext_api").mkdir()
    assert cli(tmp_path, capsys, "--check") == (0, "unasync: 0 files up to date\n")


# --- command line --------------------------------------------------------------------------


def test_run_writes_to_the_given_stream(repo: Path) -> None:
    out = io.StringIO()
    assert unasync.run(repo, check_only=True, out=out) == 1
    assert "missing" in out.getvalue()


def test_cli_needs_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "the following arguments are required: command" in capsys.readouterr().err


def test_python_dash_m_codegen(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["codegen", "unasync", "--check", "--root", str(repo)])
    # runpy executes a fresh copy of the module; the imported one would make it warn.
    monkeypatch.delitem(sys.modules, "codegen.__main__")
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("codegen", run_name="__main__")
    assert exc.value.code == 1
    assert "unasync: 4 problem(s)" in capsys.readouterr().out
