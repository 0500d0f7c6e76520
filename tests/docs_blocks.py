"""Find the runnable Python blocks of the documentation (used by tests/test_docs_blocks.py).

A block is a fenced ```python block in README.md or docs/*.md. The HTML comment on the line
right before its fence (blank lines between are allowed) says how it runs:

- ``<!-- fixture: NAME -->``: run with the names the fixture provides (``BASE_URL``...) in its
  namespace; the fixtures are in tests/test_docs_blocks.py.
- ``<!-- no-run: REASON -->``: only compiled (a block that would block forever, say).
- nothing: run as it is, with no server.

Nothing in a block is rewritten: what a reader copies is what the tests ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
_DIRECTIVE: Final = re.compile(r"^<!--\s*(fixture|no-run):\s*(.*?)\s*-->$")


@dataclass(frozen=True, slots=True)
class DocBlock:
    path: Path
    line: int  # of the first line of code, 1-based
    code: str
    fixture: str | None = None
    no_run: str | None = None

    @property
    def name(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def documentation_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def extract_blocks(path: Path) -> list[DocBlock]:
    """Every ```python block of ``path``, with its directive."""
    lines = path.read_text().splitlines()
    blocks: list[DocBlock] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```python":
            index += 1
            continue
        fixture = no_run = None
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        if before >= 0 and (match := _DIRECTIVE.match(lines[before].strip())):
            kind, value = match.groups()
            if not value:
                raise ValueError(f"{path}:{before + 1}: '{kind}:' needs a name or a reason")
            fixture, no_run = (value, None) if kind == "fixture" else (None, value)
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: a ```python block is never closed")
        blocks.append(
            DocBlock(path, index + 2, "\n".join(lines[index + 1 : end]) + "\n", fixture, no_run)
        )
        index = end + 1
    return blocks


def all_blocks() -> list[DocBlock]:
    return [block for path in documentation_files() for block in extract_blocks(path)]
