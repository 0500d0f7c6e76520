"""Webhooks and callbacks in generated packages (CODEGEN.md G20), on a real server.

The museum and adyen webhooks, and a minimal spec's callbacks: the generated typed senders
(sync, asyncio, trio) deliver schema-drawn events to the generated receiver on uvicorn, which
verifies each signature, decodes the event into its generated type and hands it to the typed
handler. Independent judges: openapi-core validates every delivery as the document's webhook
request, and the reference Standard Webhooks implementation (``standardwebhooks``) verifies our
signatures and signs deliveries our verifier must accept. Refusals: a wrong secret, a stale
timestamp or an altered body (401, handler not called) and an event that does not fit its
schema (422 naming the field).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import standardwebhooks
import trio

from flext_api import AsyncFlextApiClient, FlextApiClient
from flext_api.codegen_webhooks import AllOf, BasicAuthVerifier, WebhookContext, WebhookSignature
from tests.codegen.openapi.conftest import CORPUS, SPECS, Generated
from tests.codegen.openapi.samples import sample
from tests.codegen.openapi.test_pagination import Recorder
from tests.codegen.oracle.recording import Recorded
from tests.codegen.oracle.validators import Validator
from tests.servers.runners import run_uvicorn

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# The museum and adyen documents authenticate webhook deliveries with HTTP Basic.
BASIC = BasicAuthVerifier.basic_header("hooks", "s3cret")


@dataclass
class Inbox:
    """Handler object for every event of a package: records (handler, event, context)."""

    received: list[tuple[str, Any, WebhookContext]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        async def handle(event: Any, context: WebhookContext) -> None:
            self.received.append((name, event, context))

        return handle


@dataclass
class Receiver:
    module: Any
    inbox: Inbox
    recorder: Recorder
    url: str
    spec: Path


@pytest.fixture(
    scope="module",
    params=[
        CORPUS / "redocly_museum.yaml",
        CORPUS / "adyen_transfer-webhooks-v4.json",
        SPECS / "callbacks.yaml",
    ],
    ids=["museum", "adyen", "callbacks"],
)
def receiver(
    request: pytest.FixtureRequest, make_package: Callable[[Path, str], Generated]
) -> Iterator[Receiver]:
    if not request.param.is_file():
        pytest.skip(f"corpus file {request.param} is absent")
    result, _ = make_package(request.param, "w")
    module = importlib.import_module(f"{result.package_dir.name}.webhooks")
    inbox = Inbox()
    verifier = AllOf(BasicAuthVerifier("hooks", "s3cret"), WebhookSignature(SECRET))
    recorder = Recorder(module.make_webhook_app(inbox, verifier=verifier))
    with run_uvicorn("h11", app=recorder) as server:
        yield Receiver(module, inbox, recorder, server.url, request.param)


def _events(receiver: Receiver, seed: int = 3) -> list[tuple[Any, Any]]:
    """(route, an event) for every receivable event: a document webhook's payload is drawn
    from its schema by schemathesis' engine (a generator that is not ours), decoded into the
    generated type; our own callbacks spec's events come from the seeded sampler."""
    from tests.codegen.oracle.payloads import SchemaSource, examples

    rng = random.Random(seed)
    source = SchemaSource(Validator(receiver.spec).document, requests=True)
    webhooks = source.document.get("webhooks") or {}
    out = []
    for route in receiver.module.WEBHOOKS:
        if route.name not in webhooks:
            out.append((route, sample(route.event_type, rng)))
            continue
        escaped = route.name.replace("~", "~0").replace("/", "~1")
        pointer = source.request_body_pointer(
            f"#/webhooks/{escaped}/{route.method.lower()}", "application/json"
        )
        assert pointer is not None, route.name
        drawn = examples(source.json_schema(pointer), 2)
        payload = drawn[seed % len(drawn)]
        out.append((route, msgspec.json.decode(json.dumps(payload), type=route.event_type)))
    return out


def _encoded(value: Any) -> Any:
    return json.loads(msgspec.json.encode(value))


class _WebhookRequest:
    """A delivery as openapi-core's WebhookRequest protocol reads it."""

    def __init__(self, name: str, recorded: Recorded) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers

        self.name = name
        self.method = recorded.method.lower()
        self.parameters = RequestParameters(header=Headers(recorded.headers))
        self.content_type = dict(recorded.headers)["content-type"]
        self.body = recorded.body


def _judge(receiver: Receiver) -> None:
    """openapi-core validates every recorded delivery of a document webhook."""
    validator = Validator(receiver.spec)
    names = {route.path: route.name for route in receiver.module.WEBHOOKS}
    webhooks = validator.document.get("webhooks") or {}
    judged = 0
    for recorded in receiver.recorder.seen:
        name = names[recorded.path]
        if name not in webhooks:
            continue  # a callback: openapi-core judges webhook requests, not callback ones
        judged += 1
        validator._core.validate_webhook_request(_WebhookRequest(name, recorded))
    assert judged == len(webhooks)


def test_the_blocking_sender_delivers_each_event_to_its_typed_handler(receiver: Receiver) -> None:
    receiver.inbox.received.clear()
    receiver.recorder.seen.clear()
    signer = WebhookSignature(SECRET)
    with FlextApiClient() as client:
        for route, event in _events(receiver):
            send = getattr(receiver.module, f"send_{route.handler}")
            sent = send(client, receiver.url + route.path, event, signer=signer, headers=[BASIC])
            answer = sent.unwrap()
            assert answer.status_code == route.status
            handler, got, context = receiver.inbox.received[-1]
            assert handler == route.handler
            assert isinstance(got, route.event_type)
            assert _encoded(got) == _encoded(event)
            assert context.name == route.name
            assert context.body == msgspec.json.encode(event)
    assert len(receiver.inbox.received) == len(receiver.module.WEBHOOKS)
    _judge(receiver)


@pytest.mark.parametrize("runner", ["asyncio", "trio"])
def test_the_async_sender_delivers_on_both_event_loops(receiver: Receiver, runner: str) -> None:
    receiver.inbox.received.clear()

    async def main() -> list[int]:
        statuses = []
        async with AsyncFlextApiClient() as client:
            for route, event in _events(receiver, seed=11):
                send = getattr(receiver.module, f"asend_{route.handler}")
                answer = await send(
                    client, receiver.url + route.path, event, signer=signer, headers=[BASIC]
                )
                statuses.append(answer.unwrap().status_code)
        return statuses

    signer = WebhookSignature(SECRET)
    statuses = asyncio.run(main()) if runner == "asyncio" else trio.run(main)
    assert statuses == [route.status for route in receiver.module.WEBHOOKS]
    assert [h for h, _, _ in receiver.inbox.received] == [
        r.handler for r in receiver.module.WEBHOOKS
    ]


def _post(url: str, body: bytes, headers: list[tuple[str, str]]) -> Any:
    with FlextApiClient() as client:
        return client.post(
            url, content=body, headers=[("Content-Type", "application/json"), BASIC, *headers]
        ).unwrap()


def test_forged_stale_or_altered_deliveries_are_refused_before_the_handler(
    receiver: Receiver,
) -> None:
    receiver.inbox.received.clear()
    route, event = _events(receiver)[0]
    body = msgspec.json.encode(event)
    url = receiver.url + route.path
    forged = WebhookSignature(b"not the secret").sign(body)
    stale = WebhookSignature(SECRET).sign(body, timestamp=int(dt.datetime.now().timestamp()) - 3600)
    altered = WebhookSignature(SECRET).sign(body)
    with FlextApiClient() as client:
        signed = [("Content-Type", "application/json"), *WebhookSignature(SECRET).sign(body)]
        anonymous = client.post(url, content=body, headers=signed)
    assert anonymous.unwrap().status_code == 401
    assert "HTTP Basic" in anonymous.unwrap().json().unwrap()["message"]
    for headers, content, reason in (
        ([], body, "missing webhook-id"),
        (forged, body, "no webhook-signature matches"),
        (stale, body, "too old"),
        (altered, body + b" ", "no webhook-signature matches"),
    ):
        answer = _post(url, content, headers)
        assert answer.status_code == 401, reason
        refusal = answer.json().unwrap()
        assert refusal["error_code"] == "UNAUTHORIZED"
        assert reason in refusal["message"]
    assert receiver.inbox.received == []


def test_an_event_that_does_not_fit_its_schema_is_a_422_naming_the_field(
    receiver: Receiver,
) -> None:
    receiver.inbox.received.clear()
    route, _ = _events(receiver)[0]
    for body in (b'{"id": "not a number", "kind": []}', b"[1, 2", b'"a string"'):
        answer = _post(receiver.url + route.path, body, WebhookSignature(SECRET).sign(body))
        assert answer.status_code == 422
        refusal = answer.json().unwrap()
        assert refusal["error_code"] == "VALIDATION_ERROR"
        assert route.name in refusal["message"]
    assert receiver.inbox.received == []


def test_signatures_agree_with_the_reference_standard_webhooks_implementation() -> None:
    reference = standardwebhooks.Webhook(SECRET)
    ours = WebhookSignature(SECRET)
    body = b'{"test": 2432232314}'
    now = int(dt.datetime.now(dt.UTC).timestamp())
    headers = dict(ours.sign(body, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek"))
    assert reference.verify(body, headers) == {"test": 2432232314}  # theirs accepts ours
    signature = reference.sign("msg_2", dt.datetime.fromtimestamp(now, dt.UTC), body.decode())
    theirs = {"webhook-id": "msg_2", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert ours.verify(theirs, body) is None  # ours accepts theirs
    # Key rotation: several signatures in one header, one of them current.
    rotated = {**theirs, "webhook-signature": f"v1,b2xk {signature}"}
    assert ours.verify(rotated, body) is None


def test_the_signature_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        WebhookSignature("whsec_###")
    with pytest.raises(ValueError, match="empty"):
        WebhookSignature(b"")
    with pytest.raises(ValueError, match="tolerance"):
        WebhookSignature(SECRET, tolerance=0)
    clock = WebhookSignature(SECRET, clock=lambda: 1_000_000.0)
    future = clock.sign(b"{}", timestamp=1_000_000 + 600)
    assert "far in the future" in (clock.verify(dict(future), b"{}") or "")
    bad = {**dict(clock.sign(b"{}")), "webhook-timestamp": "soon"}
    assert "not a number" in (clock.verify(bad, b"{}") or "")
    assert SECRET not in repr(clock)


def test_callbacks_get_receivers_and_a_body_that_is_not_json_gets_a_diagnostic(
    make_package: Callable[[Path, str], Generated],
) -> None:
    result, _ = make_package(SPECS / "callbacks.yaml", "w")
    module = importlib.import_module(f"{result.package_dir.name}.webhooks")
    assert [(r.name, r.path, r.handler, r.status) for r in module.WEBHOOKS] == [
        ("subscribe.onEvent", "/callbacks/subscribe/on_event", "subscribe_on_event", 204)
    ]
    reasons = [d.reason for d in result.diagnostics.sorted()]
    assert "webhook or callback 'subscribe.onRaw' has no JSON body" in reasons
    with pytest.raises(TypeError, match="no method subscribe_on_event"):
        module.make_webhook_router(object())
