"""Webhooks and callbacks for generated packages: signatures, the receiving context, the routes.

A generated package whose document has ``webhooks`` (or operation ``callbacks``) gets a
``webhooks`` module: a handler Protocol with one method per event, ``make_webhook_router`` /
``make_webhook_app`` that verify, decode and dispatch each delivery (on
:func:`flext_api.server.webhooks.webhook_router`), and typed ``send_<event>`` functions for
tests and for services that emit the events. This module holds what those need without a
server:

- :class:`WebhookSignature`: HMAC-SHA256 signatures in the Standard Webhooks shape
  (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``; the signed
  content is ``id.timestamp.body``), with a timestamp tolerance against replays and several
  signatures per header for key rotation. It is both a :class:`WebhookSigner` and a
  :class:`WebhookVerifier`; an SDK author whose provider signs differently plugs in an object
  with the same ``sign``/``verify`` methods.
- :class:`WebhookContext`: what a handler learns besides the event (name, headers, raw body).
- :class:`WebhookRoute`: one receivable event (the generated module lists them).

Never: compare signatures with ``==`` (timing), accept a signature without a timestamp inside
the tolerance, or decode an event before its signature is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "AllOf",
    "BasicAuthVerifier",
    "WebhookContext",
    "WebhookRoute",
    "WebhookSignature",
    "WebhookSigner",
    "WebhookVerifier",
]


class WebhookVerifier(Protocol):
    """Checks a delivery before it is decoded: ``None`` when it is authentic, else why not."""

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None: ...


class WebhookSigner(Protocol):
    """The headers that authenticate ``body`` (sent with a delivery)."""

    def sign(self, body: bytes) -> list[tuple[str, str]]: ...


class WebhookSignature:
    """HMAC-SHA256 webhook signatures (Standard Webhooks): sign deliveries, verify them.

    ``secret`` is the shared key: ``whsec_<base64>`` (as providers hand it out), or raw bytes.
    ``tolerance`` is how far (seconds) a delivery's timestamp may be from now, either way.
    Header names are looked up without case.
    """

    __slots__ = ("_clock", "_key", "tolerance")

    def __init__(
        self,
        secret: str | bytes,
        *,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(secret, str):
            try:
                key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except ValueError as exc:
                raise ValueError(
                    "WebhookSignature: a text secret is 'whsec_' and base64 (as providers "
                    "give it); pass bytes for a raw key"
                ) from exc
        else:
            key = bytes(secret)
        if not key:
            raise ValueError("WebhookSignature: the secret is empty")
        if not tolerance > 0:
            raise ValueError(f"tolerance={tolerance!r}: give seconds above 0")
        self._key = key
        self._clock = clock
        self.tolerance = tolerance

    def signature(self, message_id: str, timestamp: int, body: bytes) -> str:
        """``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
        content = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(self._key, content, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    def sign(
        self, body: bytes, *, message_id: str | None = None, timestamp: int | None = None
    ) -> list[tuple[str, str]]:
        """The three headers of a delivery of ``body`` (a fresh id, now, unless given)."""
        message_id = message_id or "msg_" + secrets.token_hex(12)
        timestamp = int(self._clock()) if timestamp is None else timestamp
        return [
            ("webhook-id", message_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", self.signature(message_id, timestamp, body)),
        ]

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """``None`` when one of the delivery's signatures is ours and its timestamp is fresh;
        else the reason (missing header, stale or future timestamp, no matching signature)."""
        lower = {name.lower(): value for name, value in headers.items()}
        message_id = lower.get("webhook-id")
        stamp = lower.get("webhook-timestamp")
        offered = lower.get("webhook-signature")
        if not message_id or not stamp or not offered:
            return "missing webhook-id, webhook-timestamp or webhook-signature header"
        try:
            timestamp = int(stamp)
        except ValueError:
            return f"webhook-timestamp {stamp[:32]!r} is not a number of seconds"
        skew = self._clock() - timestamp
        if abs(skew) > self.tolerance:
            which = "old" if skew > 0 else "far in the future"
            return (
                f"the delivery's timestamp is too {which} "
                f"({abs(skew):.0f} s, tolerance {self.tolerance:.0f} s)"
            )
        expected = self.signature(message_id, timestamp, body).encode()
        for candidate in offered.split():
            if hmac.compare_digest(candidate.encode(), expected):
                return None
        return "no webhook-signature matches the body (wrong secret, or the body was altered)"

    def __repr__(self) -> str:
        return f"WebhookSignature(tolerance={self.tolerance!r})"  # never the key


class BasicAuthVerifier:
    """Deliveries must carry these HTTP Basic credentials (providers that authenticate their
    webhook calls that way; the document says so with an ``http``/``basic`` security scheme
    on the webhook). ``basic_header()`` gives the header a sender adds."""

    __slots__ = ("_expected",)

    def __init__(self, username: str, password: str) -> None:
        self._expected = self.basic_header(username, password)[1].encode()

    @staticmethod
    def basic_header(username: str, password: str) -> tuple[str, str]:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return "Authorization", f"Basic {token}"

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        offered = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if hmac.compare_digest(offered.encode(), self._expected):
            return None
        return "missing or wrong HTTP Basic credentials"

    def __repr__(self) -> str:
        return "BasicAuthVerifier(...)"


class AllOf:
    """Every verifier must accept the delivery (checked in order; the first refusal wins)."""

    __slots__ = ("_verifiers",)

    def __init__(self, *verifiers: WebhookVerifier) -> None:
        self._verifiers = verifiers

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        for verifier in self._verifiers:
            problem = verifier.verify(headers, body)
            if problem is not None:
                return problem
        return None


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """What a handler receives besides the decoded event."""

    name: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRoute:
    """One receivable event: its document name, the path it is received on, the method, the
    handler method's name, the event type and the status a handled delivery answers."""

    name: str
    path: str
    method: str
    handler: str
    event_type: Any
    status: int = 200
