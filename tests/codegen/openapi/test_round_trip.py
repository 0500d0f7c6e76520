"""Client <-> stub round trip over a real socket (G13-G17, G21), one uvicorn server per spec.

Per operation: seeded example arguments from the schema; the generated stub parses the raw
request with the same models and the recording handler checks it received exactly what the
client sent; then the stub answers each documented status and the client must yield the right
variant (Success with the body, or Failure of the documented error class with the typed body).
Plus an undocumented status, and the async client on asyncio and trio (an enum value the
document does not list: test_petstore_stub.py).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import random
import re
import typing
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
import trio

from codegen.openapi.plan import OperationPlan, ResponsePlan
from flext_api import Failure, HTTPStatusError, Success
from flext_api import codegen_runtime as _rt
from flext_api.codegen_runtime import UnexpectedStatus
from tests.codegen.openapi.conftest import CORPUS, Generated
from tests.codegen.openapi.samples import fit, sample
from tests.servers.runners import run_uvicorn

SPECS = [
    "swaggerapi_petstore.yaml",
    "readme_petstore-2.0.yaml",
    "redocly_museum.yaml",
    "readme_parameters-style.yaml",
    "readme_security.yaml",
    "readme_schema-types.yaml",
    "twilio_messaging-v1.yaml",
    "xero_files.yaml",
    "xero_accounting.yaml",
]
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} is absent")
CREDENTIAL = {"apiKey": "key-1", "http": "token-1", "oauth2": "token-2", "openIdConnect": "t3"}


class Recorder:
    """A handler object for every operation: records the arguments, answers ``reply``."""

    def __init__(self) -> None:
        self.received: dict[str, Any] | None = None
        self.reply: object = None

    def last(self) -> dict[str, Any] | None:
        return self.received

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def handle(**kwargs: Any) -> object:
            self.received = kwargs
            return self.reply

        return handle


class Served(msgspec.Struct):
    package: str
    result: Any
    client: Any
    ops: ModuleType
    recorder: Recorder
    base_url: str


@pytest.fixture(scope="module", params=SPECS)
def served(
    request: pytest.FixtureRequest, make_package: Callable[[Path, str], Generated]
) -> Iterator[Served]:
    result, _ = make_package(CORPUS / request.param, "c")
    name = result.package_dir.name
    stubs = importlib.import_module(f"{name}.stubs")
    client_module = importlib.import_module(f"{name}.client")
    recorder = Recorder()
    with run_uvicorn("h11", app=stubs.make_app(recorder)) as server:
        base_url = server.url + stubs.SERVER_PREFIX
        cls = getattr(client_module, f"{result.api_name}Client")
        with cls(base_url=base_url, **_credentials(cls, result)) as client:
            yield Served(
                name, result, client, importlib.import_module(f"{name}.operations"), recorder,
                base_url,
            )  # fmt: skip


def _credentials(cls: Any, result: Any) -> dict[str, object]:
    """A credential for every security scheme argument the client constructor takes."""
    out: dict[str, object] = {}
    hints = typing.get_type_hints(cls.__init__)
    for arg, hint in hints.items():
        text = str(hint)
        if "BasicAuth" in text:
            out[arg] = ("user", "pass")
        elif "ApiKeyAuth" in text:
            out[arg] = CREDENTIAL["apiKey"]
        elif "BearerAuth" in text:
            out[arg] = CREDENTIAL["http"]
    return out


def _clean(value: Any) -> Any:
    """Arguments without empty strings (an empty path segment is a different URL)."""
    if type(value) is str and not value:
        return "x y,z/é"
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _arguments(
    method: Any,
    rng: random.Random,
    fitting: dict[str, Any] | None = None,
    plan: OperationPlan | None = None,
) -> dict[str, Any]:
    """Seeded arguments; ``fitting`` (argument -> stub check node, and the check table under
    ``""``) makes them pass what the stub refuses (pattern, bounds, lengths). The media type
    choices (``request_media_type``, ``accept``) keep their defaults, so a body is drawn from
    the default media type's own type (test_negotiation.py covers the others)."""
    hints = typing.get_type_hints(method)
    out: dict[str, Any] = {}
    fitting = fitting or {"": {}}
    skip = {"self", "timeout", "headers", "idempotency_key"}
    if plan is not None and plan.accept:
        skip.add(plan.accept_arg)
    if plan is not None and plan.body is not None and plan.body.alternatives:
        skip.add(plan.body.media_arg)
        hints["body"] = body_type(method, plan)
    for name, parameter in inspect.signature(method).parameters.items():
        if name in skip:
            continue
        required = parameter.default is inspect.Parameter.empty
        if required or rng.random() < 0.6:
            value = _clean(sample(hints[name], rng))
            for _ in range(5):  # an empty label/matrix array is a "." path segment: not kept
                if value != []:
                    break
                value = _clean(sample(hints[name], rng))
            if value is not None or required:
                out[name] = fit(value, fitting.get(name), fitting[""])
    return out


def body_type(method: Any, plan: OperationPlan) -> Any:
    """The type of ``method``'s body in the operation's default media type (the signature's
    type is the union over every media type offered)."""
    if plan.body is None or not plan.body.alternatives:
        return typing.get_type_hints(method)["body"]
    module = importlib.import_module(method.__module__.rsplit(".", 1)[0] + ".models")
    return eval(plan.body.annotation, {**vars(module), "_rt": _rt})


def _fitting(served: Served, plan: OperationPlan) -> dict[str, Any]:
    """What the stub checks for each argument of ``plan``, as :func:`_arguments` takes it."""
    checks = served.result.checks
    stubs = importlib.import_module(f"{served.package}.stubs")
    out: dict[str, Any] = {"": stubs._CHECKS}
    for p in plan.params:
        t = p.param.content[0].type if p.param.content and p.param.content[0].type else p.param.type
        node = checks.node(t)
        if node is not None:
            out[p.arg] = eval(node)
    if plan.body is not None:
        node = checks.node(checks.body_type(plan.op, plan.body.media_type))
        if node is not None:
            out["body"] = eval(node)
    return out


def _wire(value: Any, plan: OperationPlan) -> Any:
    """What the wire can carry: a multipart body has no part for an empty array."""
    if plan.body is None or plan.body.kind != "multipart" or not isinstance(value, msgspec.Struct):
        return value
    empty = {f: msgspec.UNSET for f in value.__struct_fields__ if getattr(value, f) == []}
    return msgspec.structs.replace(value, **empty)


def _status_for(key: str, documented: set[str]) -> int:
    if key.isdigit():
        return int(key)
    if key.endswith("XX"):
        base = int(key[0]) * 100
        return next(s for s in range(base + 1, base + 100) if str(s) not in documented)
    return next(s for s in (500, 502, 503, 418, 409) if str(s) not in documented)


def _group_of(ops: ModuleType, plan: OperationPlan) -> ModuleType:
    """The ``_ops_<group>`` module defining the operation (its annotations' namespace), reached
    through the ``operations`` facade that re-exports it."""
    return importlib.import_module(getattr(ops, f"parse_{plan.name}").__module__)


def _expected_body(plan_response: ResponsePlan, ops: ModuleType, rng: random.Random) -> Any:
    if plan_response.kind == "none":
        return None
    if plan_response.kind == "text":
        return "plain text é"
    if plan_response.kind == "binary":
        return b"\x89PNG\x00binary"
    return _clean(sample(eval(plan_response.annotation, vars(ops)), rng))


def _round_trip_operation(served: Served, plan: OperationPlan, rng: random.Random) -> list[str]:
    problems: list[str] = []
    method = getattr(served.client, plan.name)
    args = _arguments(method, rng, _fitting(served, plan), plan)
    documented = {r.status for r in plan.responses}
    answers: list[ResponsePlan | None] = [*plan.responses] or [None]
    for response in answers:
        status = _status_for(response.status, documented) if response else 200
        body = _expected_body(response, _group_of(served.ops, plan), rng) if response else None
        served.recorder.received = None
        served.recorder.reply = (status, body)
        if plan.op.deprecated:  # readme_petstore-2.0 findPetsByTags
            with pytest.warns(DeprecationWarning, match=f"{plan.name}: .* is deprecated"):
                result = method(**args)
        else:
            result = method(**args)
        received = served.recorder.last()
        expected_args: dict[str, Any] = {a: _wire(args.get(a), plan) for a in (received or {})}
        if received != expected_args:
            problems.append(f"{plan.name}: stub got {received!r}, client sent {args!r}")
            break
        if response is None or (response.error_class is None and 200 <= status < 300):
            if not isinstance(result, Success):
                problems.append(f"{plan.name} {status}: expected Success, got {result!r}")
            elif response is not None and status != 204 and result.value != body:
                problems.append(f"{plan.name} {status}: body {result.value!r} != {body!r}")
            continue
        match result:
            case Failure(error=HTTPStatusError() as error) if error.status_code == status:
                assert response.error_class is not None
                if type(error).__name__ != response.error_class:
                    problems.append(f"{plan.name} {status}: {type(error).__name__}")
                elif (
                    response.kind != "none"
                    and status != 204
                    and getattr(error, "body", None) != body
                ):
                    problems.append(f"{plan.name} {status}: error body differs")
            case _:
                problems.append(f"{plan.name} {status}: expected the error class, got {result!r}")
    return problems


def test_every_operation_round_trips(served: Served) -> None:
    rng = random.Random(served.package)
    problems: list[str] = []
    plans: tuple[OperationPlan, ...] = served.result.operations
    assert plans, "no operations planned"
    routes = Counter((p.op.method, re.sub(r"\{[^}]*\}", "{}", p.op.path)) for p in plans)
    for plan in plans:
        if "#" in plan.op.path:
            # readme_parameters-style keys paths like '/cookies#formNonExploded': a fragment
            # never reaches the server, so they share '/cookies' with another operation.
            continue
        # xero_accounting has '/Accounts/{AccountID}/Attachments/{FileName}' next to
        # '.../{AttachmentID}': identical templates (OpenAPI forbids them); which operation a
        # server routes such a request to is not defined, so none of them is checked here.
        if routes[plan.op.method, re.sub(r"\{[^}]*\}", "{}", plan.op.path)] > 1:
            continue
        problems += _round_trip_operation(served, plan, rng)
    assert not problems, "\n".join(problems[:20])


def test_undocumented_status_keeps_the_raw_response(served: Served) -> None:
    plans: tuple[OperationPlan, ...] = served.result.operations
    plan = next(
        (
            p
            for p in plans
            if not any(r.status in ("default", "4XX", "418") for r in p.responses)
            and "#" not in p.op.path
        ),
        None,
    )
    served.recorder.reply = (418, {"teapot": True})
    if plan is None:  # every operation documents `default` (petstore): 418 is documented
        default = next(r for r in plans[0].responses if r.status == "default")
        method = getattr(served.client, plans[0].name)
        result = method(
            **_arguments(method, random.Random(0), _fitting(served, plans[0]), plans[0])
        )
        assert isinstance(result, Failure)
        assert type(result.error).__name__ == default.error_class
        assert result.error.status_code == 418
        return
    method = getattr(served.client, plan.name)
    result = method(**_arguments(method, random.Random(0), _fitting(served, plan), plan))
    assert isinstance(result, Failure)
    assert isinstance(result.error, UnexpectedStatus)
    assert result.error.status_code == 418
    assert result.error.response is not None
    assert msgspec.json.decode(result.error.response.content) == {"teapot": True}


def test_openapi_json_is_served(served: Served) -> None:
    import flext_api

    with flext_api.FlextApiClient() as raw:
        root = served.base_url.split("://", 1)[1].split("/", 1)[0]
        got = raw.request("GET", f"http://{root}/openapi.json").unwrap()
    assert got.status_code == 200
    assert "paths" in msgspec.json.decode(got.content) or "webhooks" in got.text


def test_sync_and_async_clients_have_the_same_methods_and_signatures(served: Served) -> None:
    module = importlib.import_module(f"{served.package}.client")
    sync_cls = getattr(module, f"{served.result.api_name}Client")
    async_cls = getattr(module, f"Async{served.result.api_name}Client")
    public = {n for n in dir(async_cls) if not n.startswith("_") and n != "aclose"}
    assert public == {n for n in dir(sync_cls) if not n.startswith("_") and n != "close"}
    for name in public:
        a, s = getattr(async_cls, name), getattr(sync_cls, name)
        if name.startswith("iter_"):  # pagination: an async iterator and a blocking one
            assert inspect.isasyncgenfunction(a) and inspect.isgeneratorfunction(s), name
            assert inspect.signature(a).parameters == inspect.signature(s).parameters, name
            continue
        assert inspect.iscoroutinefunction(a) and not inspect.iscoroutinefunction(s)
        assert inspect.signature(a) == inspect.signature(s), name
    # Same constructor arguments; only the transport classes differ (async vs blocking).
    init_a, init_s = inspect.signature(async_cls.__init__), inspect.signature(sync_cls.__init__)
    assert list(init_a.parameters) == list(init_s.parameters)


def _first_simple(served: Served) -> tuple[OperationPlan, dict[str, Any]]:
    plan = next(p for p in served.result.operations if "#" not in p.op.path)
    method = getattr(served.client, plan.name)
    return plan, _arguments(method, random.Random(3), _fitting(served, plan), plan)


def test_async_client_on_asyncio_and_trio(served: Served) -> None:
    module = importlib.import_module(f"{served.package}.client")
    cls = getattr(module, f"Async{served.result.api_name}Client")
    plan, args = _first_simple(served)
    served.recorder.reply = (599, None)

    async def call() -> Any:
        async with cls(base_url=served.base_url, **_credentials(cls, served.result)) as client:
            result = await getattr(client, plan.name)(**args)
            with_response = await getattr(client, plan.name + "_with_response")(**args)
            return result, with_response

    for result, with_response in (asyncio.run(call()), trio.run(call)):
        received = served.recorder.last() or {}
        assert received == {a: _wire(args.get(a), plan) for a in received}
        assert set(args) <= set(received)
        assert isinstance(result, Failure) and result.error.status_code == 599
        assert isinstance(with_response, Failure)
