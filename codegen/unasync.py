"""Generate the blocking client stack from its async source: ``_async/`` -> ``_sync/``.

The client stack is written once, as async code in ``flext_api/_async/`` (and in any
``flext_api/**/_async/`` subpackage). This module rewrites every ``.py`` file there into its
blocking twin under the sibling ``_sync/`` directory, which is committed, linted, typed and
tested like hand-written code. ``python -m codegen unasync`` writes the twins; ``--check``
writes nothing and fails on any missing, stale (hand-edited or out of date) or extra file.

How it works: the source is split into tokens with :mod:`tokenize`, each edit is located by a
token (never by a regular expression over lines), the edits are applied to the original text
(so layout and comments survive), the result is parsed again to prove that no ``async``
construct is left, then ``ruff`` sorts its imports and formats it, so the output is
deterministic and lint-clean.

Token rules:

* ``async def`` / ``async with`` / ``async for`` lose ``async``; ``await x`` becomes ``x``.
* NAME tokens are renamed by :data:`NAMES` (stdlib and protocol names) and :data:`EXTRA_NAMES`
  (this project's names); otherwise a name ``Async<Upper>...`` drops its ``Async`` prefix
  (``AsyncConnectionPool`` -> ``ConnectionPool``, ``AsyncIterator`` -> ``Iterator``).
* ``_async`` as a component of a ``flext_api`` module path (or of a relative import) becomes
  ``_sync``.
* Inside string literals (docstrings, string annotations, f-strings) only whole-word class
  names (capitalised: the ``Async`` prefix rule and capitalised table entries) and
  ``flext_api...._async`` module paths are renamed, so docstrings name the right class; prose
  such as "await" or "aclose()" in a string is left as written (write docstrings that read
  right for both twins, or name only classes). Bytes literals are untouched. This relies on
  Python 3.11 keeping an f-string one STRING token; newer tokenizers are refused.
* :data:`FORBIDDEN` names have no faithful blocking twin and fail the transform with a message
  saying what to write instead (``AsyncGenerator``; ``asyncio``/``trio``/``anyio``/``sniffio``
  outside an async-only block).

Markers (comments; anything else starting with ``# unasync:`` is an error, so typos fail):

* ``<code>  # unasync: remove`` drops that physical line from the output.
* ``# unasync: begin-async-only`` ... ``# unasync: end-async-only``, each on a line of its own,
  drop every line between them, both included (asyncio/trio-only code).
* ``# unasync: sync-only: <code>`` on a line of its own becomes ``<code>`` at the same
  indentation (a statement only the blocking twin needs).

This module must never write outside the ``_sync`` directories it pairs with ``_async`` ones,
never touch a source file, never write anything in ``--check`` mode, and never let an
``await`` or ``async`` construct through silently: what it cannot map, it refuses, by name
and line.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import keyword
import re
import subprocess
import sys
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

__all__ = [
    "EXTRA_NAMES",
    "FORBIDDEN",
    "NAMES",
    "REPO_ROOT",
    "TREES",
    "Plan",
    "Tree",
    "UnasyncError",
    "banner",
    "build",
    "check",
    "discover_trees",
    "find_ruff",
    "render",
    "run",
    "unasync_source",
    "write",
]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
"""The repository root: ``codegen/`` sits next to ``flext_api/``."""

TREES: Final[Sequence[tuple[str, str]]] = [
    ("flext_api/_async", "flext_api/_sync"),
    ("tests/_async", "tests/_sync"),
    ("tests/hostile/_async", "tests/hostile/_sync"),
    ("tests/storage/_async", "tests/storage/_sync"),
]
"""Source and target directories, relative to the root; every other ``flext_api/**/_async``
(or orphaned ``_sync``) directory is discovered and paired with its sibling. The test suite's
``tests/_async`` holds the I/O tests that must pass on all three of sync, asyncio and trio;
``tests/hostile/_async`` the hostile-server cases, run on all three alike; ``tests/storage/_async``
the storage contract suite, run against every backend."""

NAMES: Final[Mapping[str, str]] = {
    # Names the ``Async<Upper>`` prefix rule cannot derive.
    "StopAsyncIteration": "StopIteration",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "asynccontextmanager": "contextmanager",
    "aclosing": "closing",
    "enter_async_context": "enter_context",
    "push_async_exit": "push",
    "push_async_callback": "callback",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "aclose": "close",
    "anext": "next",
    "aiter": "iter",
}
"""Python and protocol names: async name -> blocking name (exact NAME tokens)."""

EXTRA_NAMES: Final[Mapping[str, str]] = {
    "aread": "read",
    "aiter_bytes": "iter_bytes",
    "aiter_text": "iter_text",
    "aiter_lines": "iter_lines",
    "aiter_raw": "iter_raw",
    "default_async_backend": "default_sync_backend",
    "async_sleep": "sleep",
    # flext_api.testing
    "mock_async_client": "mock_client",
    "mock_async_transport": "mock_transport",
    "async_backend": "backend",
    "async_download": "download",
    # flext_api.storage
    "async_iter_parts": "iter_parts",
    "create_async_storage": "create_storage",
}
"""This project's names that the prefix rule cannot derive; add new ones here."""

_ASYNC_ONLY_HINT: Final = (
    "put the code that needs it between '# unasync: begin-async-only' and "
    "'# unasync: end-async-only' lines"
)

FORBIDDEN: Final[Mapping[str, str]] = {
    "AsyncGenerator": (
        "AsyncGenerator[Y, S] has no one-to-one blocking twin (Generator takes three "
        "parameters); annotate the async generator as AsyncIterator[Y] instead"
    ),
    "asyncio": f"the blocking twin must not use asyncio; {_ASYNC_ONLY_HINT}",
    "trio": f"the blocking twin must not use trio; {_ASYNC_ONLY_HINT}",
    "anyio": f"the blocking twin must not use anyio; {_ASYNC_ONLY_HINT}",
    "sniffio": f"the blocking twin must not use sniffio; {_ASYNC_ONLY_HINT}",
}
"""Names the transform refuses, with what to write instead."""

_FIRST_PARTY: Final = "lint.isort.known-first-party = ['flext_api', 'codegen']"
_RERUN: Final = "run 'python -m codegen unasync'"
_MARKER: Final = "unasync:"
_REMOVE: Final = "remove"
_BEGIN: Final = "begin-async-only"
_END: Final = "end-async-only"
_SYNC_ONLY: Final = "sync-only:"
_TABLE: Final[Mapping[str, str]] = {**NAMES, **EXTRA_NAMES}
_WORD: Final = re.compile(r"\b[A-Za-z_]\w*")
_MODULE_PATH: Final = re.compile(r"\b(flext_api(?:\.\w+)*?)\._async\b")
_STRING_PREFIX: Final = re.compile(r"[A-Za-z]*")
# Python 3.12 splits an f-string into several tokens; 3.11 (this repository's version) keeps it
# one STRING token. The output must not depend on the interpreter, so 3.12+ refuses f-strings.
_FSTRING_START: Final[int] = getattr(tokenize, "FSTRING_START", -1)


class UnasyncError(Exception):
    """A source the transform cannot map faithfully; the message names the file and line.

    Raised instead of emitting a blocking twin that would be wrong: fix the source (or its
    markers) as the message says, never the generated file.
    """


def _map_name(name: str) -> str | None:
    """The blocking name for an async ``name``, or ``None`` when it has none."""
    mapped = _TABLE.get(name)
    if mapped is not None:
        return mapped
    if name.startswith("Async") and name[5:6].isupper():
        return name[5:]
    return None


def _is_dots(tok: tokenize.TokenInfo) -> bool:
    return tok.type == tokenize.OP and tok.string.strip(".") == ""


def _is_name(tok: tokenize.TokenInfo) -> bool:
    return tok.type == tokenize.NAME and not keyword.iskeyword(tok.string)


def _in_module_path(tokens: Sequence[tokenize.TokenInfo], i: int) -> bool:
    """Whether ``tokens[i]`` sits in a dotted path rooted at ``flext_api`` or a relative import.

    ``flext_api.protocols._async``: the chain of ``name .`` pairs before it starts at
    ``flext_api``. ``from .._async`` / ``from ..pkg._async``: the chain starts with dots right
    after ``from``.
    """
    j = i
    while j >= 2 and _is_dots(tokens[j - 1]) and _is_name(tokens[j - 2]):
        j -= 2
    if j < i and tokens[j].string == "flext_api":
        return True
    k = j
    while k > 0 and _is_dots(tokens[k - 1]):
        k -= 1
    return 0 < k < j and tokens[k - 1].string == "from"


def _rename_in_string(text: str, where: str) -> str:
    """Rename whole-word class names and ``flext_api`` module paths inside a literal."""
    prefix = _STRING_PREFIX.match(text)
    if prefix is not None and "b" in prefix.group().lower():
        return text

    def word(match: re.Match[str]) -> str:
        name = match.group()
        if name in FORBIDDEN and name[0].isupper():
            raise UnasyncError(f"{where}: {name} in a string: {FORBIDDEN[name]}")
        mapped = _map_name(name) if name[0].isupper() else None
        return name if mapped is None else mapped

    return _MODULE_PATH.sub(r"\1._sync", _WORD.sub(word, text))


@dataclass
class _Markers:
    dropped: set[int] = field(default_factory=set)
    replaced: dict[int, str] = field(default_factory=dict)


def _read_markers(
    tokens: Sequence[tokenize.TokenInfo], lines: Sequence[str], name: str
) -> _Markers:
    markers = _Markers()
    begin: int | None = None
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        body = tok.string[1:].strip()
        if not body.startswith(_MARKER):
            continue
        directive = body[len(_MARKER) :].strip()
        row, col = tok.start
        where = f"{name}:{row}"
        alone = lines[row - 1][:col].strip() == ""
        if directive == _REMOVE:
            if alone:
                raise UnasyncError(
                    f"{where}: '# unasync: remove' must end the line of code it removes"
                )
            markers.dropped.add(row)
        elif directive in (_BEGIN, _END) or directive.startswith(_SYNC_ONLY):
            if not alone:
                raise UnasyncError(
                    f"{where}: '# unasync: {directive}' must be on a line of its own"
                )
            if directive == _BEGIN:
                if begin is not None:
                    raise UnasyncError(
                        f"{where}: '# unasync: {_BEGIN}' inside the block opened at line {begin}"
                    )
                begin = row
            elif directive == _END:
                if begin is None:
                    raise UnasyncError(
                        f"{where}: '# unasync: {_END}' without a '{_BEGIN}' before it"
                    )
                markers.dropped.update(range(begin, row + 1))
                begin = None
            else:
                code = directive[len(_SYNC_ONLY) :].strip()
                if not code or begin is not None:
                    raise UnasyncError(
                        f"{where}: '# unasync: sync-only:' needs code after it and cannot sit "
                        "inside an async-only block"
                    )
                line = lines[row - 1]
                ending = line[len(line.rstrip("\r\n")) :]
                markers.replaced[row] = line[:col] + code + ending
        else:
            raise UnasyncError(
                f"{where}: unknown marker '# unasync: {directive}'; the markers are "
                f"'# unasync: {_REMOVE}', '# unasync: {_BEGIN}', '# unasync: {_END}' and "
                f"'# unasync: {_SYNC_ONLY} <code>'"
            )
    if begin is not None:
        raise UnasyncError(f"{name}:{begin}: '# unasync: {_BEGIN}' is never closed by '{_END}'")
    return markers


def _verify(text: str, name: str) -> None:
    """Prove the output parses and holds no async construct (one could hide in an f-string)."""
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        raise UnasyncError(
            f"{name}: the transformed code does not parse (generated line {exc.lineno}: "
            f"{exc.msg}); check the '# unasync:' markers near it"
        ) from exc
    # Statements cannot sit in an f-string, so ``await`` and ``async for`` in a comprehension
    # are all that can survive the token rules.
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension) and node.is_async:
            line = node.target.lineno  # a comprehension has no position of its own
        elif isinstance(node, ast.Await):
            line = node.lineno
        else:
            continue
        raise UnasyncError(
            f"{name}: an async construct survived the transform (generated line {line}); "
            "an f-string is the one place the token rules cannot reach: compute the value "
            "before the f-string"
        )


def unasync_source(source: str, name: str = "<string>") -> str:
    """The blocking twin of ``source``: the token rules and markers, no banner, no formatting.

    ``name`` only labels error messages. Raises :class:`UnasyncError` for what cannot be mapped.
    """
    try:
        ast.parse(source, filename=name)
    except SyntaxError as exc:
        raise UnasyncError(f"{name}:{exc.lineno}: the source does not parse: {exc.msg}") from exc
    lines = io.StringIO(source).readlines()
    tokens = list(tokenize.generate_tokens(iter(lines).__next__))
    markers = _read_markers(tokens, lines, name)
    skipped = markers.dropped | markers.replaced.keys()

    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    # Edits as (start, end, replacement) offsets into ``source``.
    edits = [(starts[row - 1], starts[row], "") for row in markers.dropped]
    edits += [(starts[row - 1], starts[row], code) for row, code in markers.replaced.items()]
    for i, tok in enumerate(tokens):
        if not skipped.isdisjoint(range(tok.start[0], tok.end[0] + 1)):
            continue
        where = f"{name}:{tok.start[0]}"
        if tok.type == _FSTRING_START:
            raise UnasyncError(
                f"{where}: this Python tokenizes f-strings in pieces, which would change the "
                "output; run the generator with Python 3.11, the repository's version"
            )
        if tok.type == tokenize.NAME:
            if tok.string in ("async", "await"):
                # The keyword and the blanks after it on its line: ``await  x`` -> ``x``. Never
                # past the line, so that edits stay inside their rows and cannot overlap.
                rest = lines[tok.end[0] - 1][tok.end[1] :]
                blanks = len(rest) - len(rest.lstrip(" \t"))
                edits.append((offset(tok.start), offset(tok.end) + blanks, ""))
            elif tok.string in FORBIDDEN:
                raise UnasyncError(f"{where}: {tok.string}: {FORBIDDEN[tok.string]}")
            elif tok.string == "_async" and _in_module_path(tokens, i):
                edits.append((offset(tok.start), offset(tok.end), "_sync"))
            else:
                mapped = _map_name(tok.string)
                if mapped is not None:
                    edits.append((offset(tok.start), offset(tok.end), mapped))
        elif tok.type == tokenize.STRING:
            renamed = _rename_in_string(tok.string, where)
            if renamed != tok.string:
                edits.append((offset(tok.start), offset(tok.end), renamed))

    # Marker edits cover whole rows, token edits only rows no marker touches: they are disjoint.
    pieces: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(edits):
        pieces += [source[cursor:start], replacement]
        cursor = end
    pieces.append(source[cursor:])
    text = "".join(pieces)
    _verify(text, name)
    return text


def banner(source: str) -> str:
    """The first lines of a generated file, naming its source (``source`` relative, posix)."""
    return (
        f"# GENERATED by codegen.unasync from {source}.\n"
        f"# DO NOT EDIT: edit the source and {_RERUN}.\n"
    )


def find_ruff() -> list[str]:
    """The command that runs ruff: the binary next to the interpreter, else ``python -m ruff``."""
    exe = Path(sys.executable).parent / ("ruff.exe" if sys.platform == "win32" else "ruff")
    if exe.is_file():
        return [str(exe)]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    raise UnasyncError(
        "ruff is required to format the generated code and was not found next to "
        f"{sys.executable}; install it in this environment (pip install ruff)"
    )


def _ruff(ruff: Sequence[str], args: Sequence[str], text: str, root: Path) -> str:
    done = subprocess.run(
        [*ruff, *args, "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if done.returncode != 0:
        raise UnasyncError(f"ruff {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def render(source: str, source_name: str, target_name: str, root: Path, ruff: Sequence[str]) -> str:
    """The whole generated file: banner, transformed code, imports sorted, ruff-formatted.

    ``source_name`` and ``target_name`` are posix paths relative to ``root``, whose ruff
    configuration applies.
    """
    text = banner(source_name) + unasync_source(source, source_name)
    stdin = ["--no-cache", "--stdin-filename", target_name]
    # Without a declared first party, ruff sorts ``flext_api.<module>`` by whether the module
    # exists on disk yet, and the output would change once the target is written.
    sort = ["check", "--select", "I", "--fix-only", "--exit-zero", "--config", _FIRST_PARTY]
    text = _ruff(ruff, [*sort, *stdin], text, root)
    return _ruff(ruff, ["format", *stdin], text, root)


@dataclass(frozen=True)
class Tree:
    """A pair of directories relative to the root: async ``source`` -> generated ``target``."""

    source: Path
    target: Path


def discover_trees(root: Path) -> list[Tree]:
    """:data:`TREES` plus every ``flext_api/**/_async`` or ``_sync`` directory's pair."""
    pairs = {(Path(source), Path(target)) for source, target in TREES}
    package = root / "flext_api"
    for directory in package.rglob("_*sync"):
        if directory.is_dir() and directory.name in ("_async", "_sync"):
            relative = directory.relative_to(root)
            pairs.add((relative.with_name("_async"), relative.with_name("_sync")))
    return [Tree(source, target) for source, target in sorted(pairs)]


def _python_files(directory: Path) -> list[Path]:
    return sorted(p.relative_to(directory) for p in directory.rglob("*.py") if p.is_file())


@dataclass
class Plan:
    """What the target trees must hold, computed without writing anything.

    ``files`` maps each target path to its expected text and its source path; ``extras`` are
    target files with no source; ``errors`` are sources the transform refused.
    """

    files: dict[Path, tuple[Path, str]] = field(default_factory=dict)
    extras: list[tuple[Path, Path]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def build(root: Path, ruff: Sequence[str]) -> Plan:
    """Transform every source file under ``root``; never writes."""
    plan = Plan()
    for tree in discover_trees(root):
        sources = _python_files(root / tree.source)
        for relative in sources:
            source, target = tree.source / relative, tree.target / relative
            try:
                text = (root / source).read_bytes().decode("utf-8")
                plan.files[target] = (
                    source,
                    render(text, source.as_posix(), target.as_posix(), root, ruff),
                )
            except UnasyncError as exc:
                plan.errors.append(str(exc))
        plan.extras += [
            (tree.target / relative, tree.source / relative)
            for relative in _python_files(root / tree.target)
            if relative not in sources
        ]
    return plan


def check(root: Path, ruff: Sequence[str], out: TextIO) -> int:
    """Compare the whole target trees with what the sources generate now; 0 if identical."""
    plan = build(root, ruff)
    problems = [f"unasync: error: {error}" for error in plan.errors]
    for target, (source, text) in plan.files.items():
        path = root / target
        if not path.is_file():
            problems.append(f"{target.as_posix()}: missing (generated from {source.as_posix()})")
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append(
                f"{target.as_posix()}: differs from what {source.as_posix()} generates "
                "(edited by hand, or the source changed)"
            )
    problems += [
        f"{target.as_posix()}: extra file, its source {source.as_posix()} does not exist"
        for target, source in plan.extras
    ]
    if problems:
        for problem in problems:
            print(problem, file=out)
        print(f"unasync: {len(problems)} problem(s); {_RERUN} and commit the result", file=out)
        return 1
    print(f"unasync: {len(plan.files)} files up to date", file=out)
    return 0


def write(root: Path, ruff: Sequence[str], out: TextIO) -> int:
    """Write the target trees and delete their extra files; writes nothing if a source fails."""
    plan = build(root, ruff)
    if plan.errors:
        for error in plan.errors:
            print(f"unasync: error: {error}", file=out)
        print("unasync: nothing written; fix the sources above", file=out)
        return 1
    written = 0
    for target, (_, text) in plan.files.items():
        path = root / target
        data = text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written += 1
    for target, _ in plan.extras:
        (root / target).unlink()
    unchanged = len(plan.files) - written
    print(
        f"unasync: {written} written, {len(plan.extras)} deleted, {unchanged} unchanged",
        file=out,
    )
    return 0


def run(root: Path, *, check_only: bool, out: TextIO) -> int:
    """The ``unasync`` command: :func:`check` with ``check_only``, else :func:`write`."""
    try:
        ruff = find_ruff()
    except UnasyncError as exc:
        print(f"unasync: error: {exc}", file=out)
        return 1
    return check(root, ruff, out) if check_only else write(root, ruff, out)
