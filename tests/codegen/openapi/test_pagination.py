"""Pagination in generated clients (CODEGEN.md G18), against the generated stubs on uvicorn.

For twilio (next page URL in the body), adyen (``_links.next.href``), discord (``after`` the
last item's id) and netlify (``page``/``per_page``), a handler serves three pages; the sync
client and the async one (asyncio and trio) must iterate exactly the items of the three pages
and stop. Every request the iteration sent is judged by openapi-core against the document
(the independent validator of the generator's oracle), so a next-page request the
specification does not allow fails here. Also: a page that fails ends the iteration with that
Failure, ``max_items``/``max_pages`` stop early, and which operations each corpus spec
paginates (with the rule that matched) is pinned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.models import ModelEmitter
from codegen.openapi.pagination import detect
from codegen.openapi.parse import parse_path
from codegen.openapi.plan import Planner
from codegen.openapi.readwrite import split_read_write
from flext_api import Failure, Success
from tests.codegen.openapi.conftest import CORPUS, Generated
from tests.codegen.openapi.samples import sample
from tests.codegen.oracle.recording import Recorded
from tests.codegen.oracle.validators import Validator
from tests.servers.runners import run_uvicorn

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} is absent")

TWILIO_SID = "MG" + "0" * 32


@dataclass
class Recorder:
    """ASGI middleware: keeps each raw request for the validator, then calls the stub."""

    app: Any
    seen: list[Recorded] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        messages: list[Any] = []
        more = True
        while more:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            more = message.get("more_body", False)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        self.seen.append(
            Recorded(
                method=scope["method"],
                path=raw_path.decode("latin-1"),
                query=scope["query_string"].decode("latin-1"),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
                body=body,
            )
        )

        async def replay() -> Any:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        await self.app(scope, replay, send)


class ThreePages:
    """Handlers of the four paginated operations: three pages each, then the end."""

    def __init__(self, ops: Any, base_url: str, fail_page: int | None = None) -> None:
        self.ops = ops
        self.base_url = base_url
        self.fail_page = fail_page
        self.calls: list[dict[str, Any]] = []
        self.rng = random.Random(7)

    def _items(self, annotation: str, numbers: range) -> list[Any]:
        item_type = eval(annotation, vars(self.ops))
        out = []
        for n in numbers:
            item = sample(item_type, self.rng)
            if "id" in item.__struct_fields__:
                item = msgspec.structs.replace(item, id=str(n))
            out.append(item)
        return out

    def _failing(self, number: int) -> bool:
        return self.fail_page == number

    # netlify: page / per_page; pages of 3, 3, 1
    async def list_sites(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        page = kwargs.get("page") or 1
        if self._failing(page):
            return (500, None)
        size = kwargs.get("per_page") or 3
        count = size if page < 3 else 1
        return self._items("Site", range((page - 1) * size + 1, (page - 1) * size + count + 1))

    # discord: after the last item's id; pages of 3, 3, 1
    async def list_messages(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        after = int(kwargs.get("after") or 0)
        page = after // 3 + 1
        if self._failing(page):
            return (500, None)
        count = 3 if page < 3 else 1
        return self._items("MessageResponse", range(after + 1, after + count + 1))

    # twilio: the next page's URL in meta.next_page_url; pages of 2
    async def list_alpha_sender(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        token = kwargs.get("page_token")
        page = 1 if token is None else int(token.removeprefix("PT")) + 1
        if self._failing(page):
            return (500, None)
        body = sample(eval("ListAlphaSenderResponse", vars(self.ops)), self.rng)
        items = self._items("MessagingV1ServiceAlphaSender", range(2 * page - 1, 2 * page + 1))
        next_url = None
        if page < 3:
            next_url = (
                f"{self.base_url}/v1/Services/{TWILIO_SID}/AlphaSenders"
                f"?PageSize=2&Page={page}&PageToken=PT{page}"
            )
        meta = eval("ListAlphaSenderResponseMeta", vars(self.ops))(next_page_url=next_url)
        return msgspec.structs.replace(body, alpha_senders=items, meta=meta)

    # adyen: _links.next.href; pages of 2
    async def get_transactions(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        cursor = kwargs.get("cursor")
        page = 1 if cursor is None else int(cursor.removeprefix("C")) + 1
        if self._failing(page):
            return (500, None)
        body = sample(eval("TransactionSearchResponse", vars(self.ops)), self.rng)
        items = self._items("Transaction", range(2 * page - 1, 2 * page + 1))
        links: Any = msgspec.UNSET
        if page < 3:
            link_type = eval("Links", vars(self.ops))
            href_type = eval("Link", vars(self.ops))
            href = (
                f"{self.base_url}/transactions?createdSince=2026-01-01T00:00:00Z"
                f"&createdUntil=2026-02-01T00:00:00Z&limit=2&cursor=C{page}"
            )
            links = link_type(next=href_type(href=href))
        return msgspec.structs.replace(body, data=items, links=links)


@dataclass(frozen=True)
class Case:
    spec: str
    operation: str
    template: str
    arguments: dict[str, Any]
    expected: list[str]  # the ids (or positions) of every item, in order
    requests: int
    page_size: int


CASES = [
    Case("netlify_api.yml", "list_sites", "/sites", {"per_page": 3},
         [str(n) for n in range(1, 8)], 3, 3),
    Case("discord_api.json", "list_messages", "/channels/{channel_id}/messages",
         {"channel_id": "42", "limit": 3}, [str(n) for n in range(1, 8)], 3, 3),
    Case("twilio_messaging-v1.yaml", "list_alpha_sender", "/v1/Services/{ServiceSid}/AlphaSenders",
         {"service_sid": TWILIO_SID, "page_size": 2}, [str(n) for n in range(1, 7)], 3, 2),
    Case("adyen_transfers-v4.json", "get_transactions", "/transactions",
         {"created_since": "2026-01-01T00:00:00Z", "created_until": "2026-02-01T00:00:00Z",
          "limit": 2}, [str(n) for n in range(1, 7)], 3, 2),
]  # fmt: skip


@dataclass
class Served:
    case: Case
    client_module: Any
    api_name: str
    handlers: ThreePages
    recorder: Recorder
    base_url: str
    validator: Validator
    prefix: str


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c.spec.split("_")[0])
def served(
    request: pytest.FixtureRequest, make_package: Callable[[Path, str], Generated]
) -> Iterator[Served]:
    case: Case = request.param
    result, _ = make_package(CORPUS / case.spec, "p")
    name = result.package_dir.name
    stubs = importlib.import_module(f"{name}.stubs")
    handlers = ThreePages(importlib.import_module(f"{name}.models"), "")
    recorder = Recorder(stubs.make_app(handlers))
    with run_uvicorn("h11", app=recorder) as server:
        base_url = server.url + stubs.SERVER_PREFIX
        handlers.base_url = base_url
        yield Served(
            case,
            importlib.import_module(f"{name}.client"),
            result.api_name,
            handlers,
            recorder,
            base_url,
            Validator(CORPUS / case.spec),
            stubs.SERVER_PREFIX,
        )


def _arguments(served: Served) -> dict[str, Any]:
    out = dict(served.case.arguments)
    for key in ("created_since", "created_until"):
        if key in out:
            out[key] = dt.datetime.fromisoformat(out[key].replace("Z", "+00:00"))
    return out


def _credentials(served: Served) -> dict[str, Any]:
    from tests.codegen.openapi.test_round_trip import _credentials as credentials

    cls = getattr(served.client_module, f"{served.api_name}Client")
    return credentials(cls, None)


def _ids(items: list[Any]) -> list[str]:
    return [str(getattr(item, "id", index + 1)) for index, item in enumerate(items)]


def _check_wire(served: Served) -> None:
    """Every request judged by openapi-core against the document."""
    assert served.recorder.seen
    for recorded in served.recorder.seen:
        verdict = served.validator.check_request(served.case.template, recorded, served.prefix)
        assert verdict.errors == [], (recorded.path, recorded.query, verdict.errors)


def _reset(served: Served, fail_page: int | None = None) -> None:
    served.recorder.seen.clear()
    served.handlers.calls.clear()
    served.handlers.fail_page = fail_page


def test_the_blocking_client_iterates_three_pages_and_stops(served: Served) -> None:
    _reset(served)
    cls = getattr(served.client_module, f"{served.api_name}Client")
    with cls(base_url=served.base_url, **_credentials(served)) as api:
        results = list(getattr(api, f"iter_{served.case.operation}")(**_arguments(served)))
    assert all(isinstance(r, Success) for r in results), results
    assert _ids([r.value for r in results]) == served.case.expected
    assert len(served.handlers.calls) == served.case.requests
    _check_wire(served)


@pytest.mark.parametrize("runner", ["asyncio", "trio"])
def test_the_async_client_iterates_three_pages_and_stops(served: Served, runner: str) -> None:
    _reset(served)
    cls = getattr(served.client_module, f"Async{served.api_name}Client")

    async def main() -> list[Any]:
        async with cls(base_url=served.base_url, **_credentials(served)) as api:
            iterator = getattr(api, f"iter_{served.case.operation}")(**_arguments(served))
            return [result async for result in iterator]

    results = asyncio.run(main()) if runner == "asyncio" else trio.run(main)
    assert _ids([r.unwrap() for r in results]) == served.case.expected
    assert len(served.handlers.calls) == served.case.requests
    _check_wire(served)


def test_a_failing_page_ends_the_iteration_with_its_failure(served: Served) -> None:
    _reset(served, fail_page=2)
    cls = getattr(served.client_module, f"{served.api_name}Client")
    with cls(base_url=served.base_url, **_credentials(served)) as api:
        results = list(getattr(api, f"iter_{served.case.operation}")(**_arguments(served)))
    first_page = len([r for r in results if isinstance(r, Success)])
    assert first_page == served.case.page_size  # the first page's items, the failure, no more
    assert isinstance(results[-1], Failure)  # the 500 (as its error class, or undecodable)
    assert len(served.handlers.calls) == 2  # nothing asked after the failed page


def test_max_items_and_max_pages_stop_early(served: Served) -> None:
    cls = getattr(served.client_module, f"{served.api_name}Client")
    with cls(base_url=served.base_url, **_credentials(served)) as api:
        _reset(served)
        some = list(
            getattr(api, f"iter_{served.case.operation}")(**_arguments(served), max_items=3)
        )
        assert _ids([r.unwrap() for r in some]) == served.case.expected[:3]
        # A page of 3 holds the three items; with pages of 2, the second page is needed.
        assert len(served.handlers.calls) == (1 if served.case.page_size >= 3 else 2)
        _reset(served)
        one = list(getattr(api, f"iter_{served.case.operation}")(**_arguments(served), max_pages=1))
        assert len(served.handlers.calls) == 1
        assert len(one) == served.case.page_size
        with pytest.raises(ValueError, match="max_items=0"):
            next(
                iter(
                    getattr(api, f"iter_{served.case.operation}")(**_arguments(served), max_items=0)
                )
            )


# What each corpus spec paginates, by rule (docs/codegen.md lists the same table).
EXPECTED_RULES = {
    "adyen_transfers-v4.json": {"next-url": 2},
    "discord_api.json": {"after-item": 8},
    "lob_api.yml": {"next-url": 20, "offset": 1},
    "netlify_api.yml": {"page": 11},
    "redocly_museum.yaml": {"page": 2},
    "twilio_messaging-v1.yaml": {"next-url": 10},
    "xero_accounting.yaml": {"page": 11, "offset": 1},
    "xero_files.yaml": {"page": 2},
}


def test_what_each_corpus_spec_paginates_is_pinned() -> None:
    unmatched: dict[str, int] = {}
    for spec in sorted(CORPUS.iterdir()):
        diagnostics = Diagnostics()
        api = split_read_write(parse_path(spec, diagnostics))
        emitter = ModelEmitter(api, diagnostics)
        _, exported = emitter.emit()
        planner = Planner(api, emitter, set(exported))
        found = Diagnostics()
        rules = Counter(
            rule.style
            for plan in planner.plan_all()
            if (rule := detect(plan, planner, found)) is not None
        )
        assert dict(rules) == EXPECTED_RULES.get(spec.name, {}), spec.name
        unmatched[spec.name] = len(found)
        assert all(d.severity == "info" and "x-pagination" in d.action for d in found.sorted())
    assert unmatched["discord_api.json"] == 7  # looks paginated, no rule: each one reported


def test_each_rule_on_a_minimal_spec(make_package: Callable[[Path, str], Generated]) -> None:
    from tests.codegen.openapi.conftest import SPECS

    result, _ = make_package(SPECS / "pagination.yaml", "t")
    ops = importlib.import_module(f"{result.package_dir.name}.operations")
    assert ops.PAGINATION_LIST_LINKED.style == "link-header"
    assert ops.PAGINATION_LIST_LINKED.size == "per_page"
    cursor = ops.PAGINATION_LIST_CURSORED
    assert (cursor.style, cursor.items, cursor.param, cursor.source) == (
        "cursor",
        ("things",),
        "page_token",
        ("next_page_token",),
    )  # the warnings array is not taken for the items
    declared = ops.PAGINATION_LIST_DECLARED
    assert (declared.style, declared.param, declared.source, declared.items) == (
        "cursor",
        "from_",
        ("paging", "resume"),
        ("results",),
    )
    assert not hasattr(ops, "PAGINATION_LIST_UNEXPLAINED")
    reported = [d for d in result.diagnostics.sorted() if "looks paginated" in d.reason]
    assert [(d.pointer, d.severity) for d in reported] == [("#/paths/~1unexplained/get", "info")]
    assert "skip" in reported[0].reason and "x-pagination" in reported[0].action
    client = importlib.import_module(f"{result.package_dir.name}.client")
    assert hasattr(client.PaginationRulesClient, "iter_list_linked")
    assert not hasattr(client.PaginationRulesClient, "iter_list_unexplained")
