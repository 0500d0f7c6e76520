"""Routes, recorded responses and what was sent: the part of the testing kit that is pure.

A :class:`MockRouter` maps ``(method, path template)`` to a response, a list of responses
(served in turn, the last one repeated) or a function of the request. Every request it sees is
kept as a :class:`RecordedRequest`, matched or not, so a test asserts on what the client
really sent: the bytes went through the whole client (middleware, pool, HTTP/1.1 framing) and
were parsed back by h11 on the other side, exactly as a server would see them.

A request no route matches is answered ``404`` with a body naming it, and remembered: the
pytest fixture fails the test at teardown, as it does for a handler that raised (its
traceback is answered as a ``500`` and kept), so a mistake in the mock never passes silently.
"""

from __future__ import annotations

import json as jsonlib
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

from flext_api._headers import Headers

if TYPE_CHECKING:
    from flext_api.testing._network import AsyncMockBackend, MockBackend

__all__ = ["MockResponse", "MockRouter", "RecordedRequest", "Route"]

_TEMPLATE_FIELD: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _unescape_braces(template: str) -> str:
    """``re.escape(template)`` with its ``{name}`` fields left as they were written."""
    return re.escape(template).replace(r"\{", "{").replace(r"\}", "}")


class RecordedRequest:
    """A request as the server side of the mock parsed it."""

    __slots__ = (
        "content",
        "headers",
        "method",
        "original",
        "path",
        "path_params",
        "query",
        "target",
        "url",
    )

    def __init__(
        self, method: str, target: str, headers: Headers, content: bytes, *, scheme: str
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.content = content
        parts = urlsplit(target)
        self.path = parts.path
        self.query: list[tuple[str, str]] = parse_qsl(parts.query, keep_blank_values=True)
        self.url = f"{scheme}://{headers.get('host', '')}{target}"
        # Set when the request came through mock_transport(): the Request object itself.
        self.original: Any = None
        self.path_params: dict[str, str] = {}

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` when it is not)."""
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.content.decode("utf-8")

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.target} ({len(self.content)} bytes)>"


class MockResponse:
    """A response the mock sends: status, headers and body.

    ``json=`` serialises a value and sets ``Content-Type: application/json``; ``text=`` sends
    UTF-8 text as ``text/plain``; ``content=`` sends bytes as they are.
    """

    __slots__ = ("content", "headers", "status_code")

    def __init__(
        self,
        status_code: int = 200,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        content: bytes = b"",
        text: str | None = None,
        json: Any = None,
    ) -> None:
        if not 100 <= status_code <= 599:
            raise ValueError(f"status_code must be 100-599, got {status_code}")
        self.status_code = status_code
        self.headers = Headers(headers)
        if json is not None:
            content = jsonlib.dumps(json).encode()
            self.headers.setdefault("content-type", "application/json")
        elif text is not None:
            content = text.encode()
            self.headers.setdefault("content-type", "text/plain; charset=utf-8")
        self.content = content


Handler = Callable[[RecordedRequest], MockResponse]
"""A function answering a request (``request.path_params`` holds the template's fields)."""


class Route:
    """One ``method`` + path template, its answers, and the requests it matched."""

    __slots__ = ("_answers", "_pattern", "calls", "method", "template")

    def __init__(
        self, method: str, template: str, answer: MockResponse | Handler | Sequence[MockResponse]
    ) -> None:
        if not template.startswith("/") and method != "*":
            raise ValueError(f"a route's path starts with '/', got {template!r}")
        self.method = method.upper()
        self.template = template
        # Escape the template, then turn each (escaped) "{name}" into a one-segment group.
        self._pattern = re.compile(
            _TEMPLATE_FIELD.sub(r"(?P<\1>[^/]+)", _unescape_braces(template))
        )
        if isinstance(answer, Sequence) and not answer:
            raise ValueError("a list of responses needs at least one")
        self._answers = answer
        self.calls: list[RecordedRequest] = []

    def match(self, request: RecordedRequest) -> dict[str, str] | None:
        """The template's fields when this route takes ``request``, else ``None``."""
        if self.method == "*":
            return {}
        if request.method != self.method:
            return None
        found = self._pattern.fullmatch(request.path)
        return None if found is None else found.groupdict()

    def answer(self, request: RecordedRequest) -> MockResponse:
        answers = self._answers
        if isinstance(answers, MockResponse):
            return answers
        if isinstance(answers, Sequence):
            return answers[min(len(self.calls) - 1, len(answers) - 1)]
        return answers(request)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def __repr__(self) -> str:
        return f"<Route {self.method} {self.template} called {len(self.calls)}x>"


class MockRouter:
    """Routes requests to recorded responses or handlers, and records every request.

    ``flext_api.testing.mock_client(router)`` / ``mock_async_client(router)`` build a client
    whose connections never leave the process (the router is its network);
    ``flext_api.testing.LoopbackServer`` serves the same router on a real 127.0.0.1 socket.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.calls: list[RecordedRequest] = []
        self.unmatched: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def route(
        self, method: str, path: str, answer: MockResponse | Handler | Sequence[MockResponse]
    ) -> Route:
        """Add a route; the first added that matches wins."""
        added = Route(method, path, answer)
        self.routes.append(added)
        return added

    def any(self, answer: MockResponse | Handler | Sequence[MockResponse]) -> Route:
        """A route for every request (add it last: the first route that matches wins)."""
        return self.route("*", "*", answer)

    def get(self, path: str, answer: MockResponse | Handler | Sequence[MockResponse]) -> Route:
        return self.route("GET", path, answer)

    def post(self, path: str, answer: MockResponse | Handler | Sequence[MockResponse]) -> Route:
        return self.route("POST", path, answer)

    def put(self, path: str, answer: MockResponse | Handler | Sequence[MockResponse]) -> Route:
        return self.route("PUT", path, answer)

    def patch(self, path: str, answer: MockResponse | Handler | Sequence[MockResponse]) -> Route:
        return self.route("PATCH", path, answer)

    def delete(self, path: str, answer: MockResponse | Handler | Sequence[MockResponse]) -> Route:
        return self.route("DELETE", path, answer)

    def handle(self, request: RecordedRequest) -> MockResponse:
        """Answer ``request`` (what the mock network and the loopback server call)."""
        with self._lock:
            self.calls.append(request)
            for candidate in self.routes:
                params = candidate.match(request)
                if params is not None:
                    request.path_params = params
                    candidate.calls.append(request)
                    break
            else:
                self.unmatched.append(request)
                known = ", ".join(f"{r.method} {r.template}" for r in self.routes) or "none"
                return MockResponse(
                    404,
                    headers={"x-flext-mock": "unmatched"},
                    text=f"MockRouter: no route for {request.method} {request.path} "
                    f"(routes: {known})",
                )
        try:
            return candidate.answer(request)
        except Exception as exc:
            with self._lock:
                self.errors.append(exc)
            return MockResponse(500, headers={"x-flext-mock": "handler-error"},
                                text="".join(traceback.format_exception(exc)))  # fmt: skip

    # -- assertions ------------------------------------------------------------------------

    def assert_called(
        self, method: str, path: str, *, times: int | None = None
    ) -> list[RecordedRequest]:
        """The requests sent as ``method path`` (the path without its query); fails when
        there were none, or not exactly ``times``."""
        seen = [c for c in self.calls if c.method == method.upper() and c.path == path]
        if not seen or (times is not None and len(seen) != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(
                f"expected {method.upper()} {path} {wanted}, saw it {len(seen)} time(s); "
                f"requests sent: {_listing(self.calls)}"
            )
        return seen

    def assert_not_called(self, method: str, path: str) -> None:
        """Fails when ``method path`` was sent."""
        seen = [c for c in self.calls if c.method == method.upper() and c.path == path]
        if seen:
            raise AssertionError(f"{method.upper()} {path} was sent {len(seen)} time(s)")

    def assert_all_called(self) -> None:
        """Fails naming each route no request matched."""
        idle = [r for r in self.routes if not r.calls]
        if idle:
            raise AssertionError(
                "routes never called: " + ", ".join(f"{r.method} {r.template}" for r in idle)
            )

    def check(self) -> None:
        """Fails when a request matched no route or a handler raised (the fixture's teardown)."""
        if self.errors:
            raise AssertionError(f"a MockRouter handler raised: {self.errors[0]!r}") from (
                self.errors[0]
            )
        if self.unmatched:
            raise AssertionError(f"requests no route matched: {_listing(self.unmatched)}")

    # -- clients ---------------------------------------------------------------------------

    def backend(self) -> MockBackend:
        """A blocking network backend whose connections reach this router."""
        from flext_api.testing._network import MockBackend

        return MockBackend(self)

    def async_backend(self) -> AsyncMockBackend:
        """An async network backend (asyncio and trio) whose connections reach this router."""
        from flext_api.testing._network import AsyncMockBackend

        return AsyncMockBackend(self)


def _listing(requests: Iterable[RecordedRequest]) -> str:
    shown = [f"{r.method} {r.target}" for r in requests]
    return ", ".join(shown) if shown else "none"
