"""Check the built documentation site as a browser shows it (``make docs`` runs this).

``mkdocs build --strict`` proves the pages build without a broken link; this proves they
render: headless Chromium loads the built home page and an API reference page from ``site/``
(``--dump-dom`` prints the DOM after the theme's scripts ran), and the navigation must link
every page ``mkdocs.yml`` lists and the reference must show the public names it documents.

Usage: ``python -m tests.docs_site [SITE_DIR]``; exits 1 naming what is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
REFERENCE_NAMES = ("FlextApiClient", "AsyncFlextApiClient", "FlextResult", "FlextApiError")


class _Links(HTMLParser):
    """Hrefs inside the primary navigation, and the ids of documented objects."""

    def __init__(self) -> None:
        super().__init__()
        self.nav_links: set[str] = set()
        self.object_ids: set[str] = set()
        self.scripted = False
        self._nav_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "nav" and (self._nav_depth or "md-nav--primary" in classes):
            self._nav_depth += 1
        if tag == "a" and self._nav_depth and found.get("href"):
            self.nav_links.add(str(found["href"]))
        if "doc-heading" in classes and found.get("id"):
            self.object_ids.add(str(found["id"]))
        if "md-code__nav" in classes or "md-clipboard" in classes:
            self.scripted = True  # added by the theme's JavaScript, absent from the static file

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1


def dump_dom(page: Path) -> str:
    """The DOM of ``page`` after its scripts ran, as headless Chromium prints it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit(
            "chromium is not installed (make docs installs it: apt-get install chromium)"
        )
    url = page.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0 or "</html>" not in done.stdout:
        raise SystemExit(f"chromium could not render {page}: {done.stderr[-2000:]}")
    return done.stdout


def _pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _pages(value)]
    return []


def _url(page: str) -> str:
    """The URL mkdocs gives ``page``: ``client.md`` -> ``client/``, ``deploy/README.md`` ->
    ``deploy/``, ``index.md`` -> ``.``."""
    stem = page.removesuffix(".md")
    for index in ("index", "README"):
        if stem == index:
            return "."
        if stem.endswith(f"/{index}"):
            return stem.removesuffix(index)
    return f"{stem}/"


def check(site: Path) -> list[str]:
    """What is missing from the rendered site (empty when it is all there)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    wanted = {_url(page) for page in _pages(config["nav"])}
    home = _Links()
    home.feed(dump_dom(site / "index.html"))
    problems = [f"the navigation has no link to {url}" for url in sorted(wanted - home.nav_links)]
    if not home.scripted:
        problems.append("the theme's scripts did not run on the home page")
    reference = _Links()
    reference.feed(dump_dom(site / "reference" / "flext_api" / "index.html"))
    problems.extend(
        f"the API reference does not document flext_api.{name}"
        for name in REFERENCE_NAMES
        if f"flext_api.{name}" not in reference.object_ids
    )
    return problems


def main() -> int:
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"
    problems = check(site)
    for problem in problems:
        print(f"docs site: {problem}", file=sys.stderr)
    if not problems:
        print(f"docs site: {site} renders with its navigation and API reference")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
