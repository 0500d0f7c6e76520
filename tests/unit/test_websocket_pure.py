"""The WebSocket client's decisions without I/O: backoff delays, option validation, the
handshake's header fields and accept check, the bounded inflater and the message router."""

from __future__ import annotations

import pickle
import zlib

import msgspec
import pytest
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import generate_accept_token

from flext_api import Headers
from flext_api.protocols._websocket_common import (
    BoundedPerMessageDeflate,
    check_accept,
    handshake_fields,
)
from flext_api.protocols.websocket import (
    Backoff,
    MessageRouter,
    WebSocketOptions,
    WebSocketUnauthorized,
)


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (40, 30.0)]
)
def test_backoff_grows_to_its_maximum(attempt: int, expected: float) -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, multiplier=2.0, jitter=0.5)
    assert backoff.delay(attempt, lambda: 0.0) == expected
    assert backoff.delay(attempt, lambda: 0.999) == pytest.approx(expected * (1 - 0.4995))


@pytest.mark.parametrize(
    "settings",
    [{"initial": -1}, {"maximum": 0.1}, {"multiplier": 0.5}, {"jitter": 2}, {"max_attempts": 0}],
)
def test_backoff_refuses_impossible_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        Backoff(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"max_message_size": 0}, "max_message_size"),
        ({"client_max_window_bits": 7}, "between 8 and 15"),
        ({"server_max_window_bits": 16}, "between 8 and 15"),
        ({"ping_interval": 0}, "ping_interval"),
        ({"ping_timeout": -1}, "ping_timeout"),
        ({"close_timeout": 0}, "close_timeout"),
    ],
)
def test_options_refuse_impossible_settings(settings: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        WebSocketOptions(**settings)  # type: ignore[arg-type]


def test_the_deflate_offer_carries_the_window_and_takeover_parameters() -> None:
    options = WebSocketOptions(
        client_max_window_bits=10,
        server_max_window_bits=12,
        client_no_context_takeover=True,
        server_no_context_takeover=True,
    )
    fields = dict(
        handshake_fields(
            [(b"Authorization", b"authorization", b"Bearer t"), (b"Host", b"host", b"x")],
            host=b"example.org",
            key=b"k",
            subprotocols=("a", "b"),
            extensions=options.extensions(),
        )
    )
    offer = fields[b"Sec-WebSocket-Extensions"].decode()
    assert offer.startswith("permessage-deflate")
    for parameter in (
        "client_max_window_bits=10",
        "server_max_window_bits=12",
        "client_no_context_takeover",
        "server_no_context_takeover",
    ):
        assert parameter in offer
    assert fields[b"Host"] == b"example.org"  # the handshake's own, not the built request's
    assert fields[b"Authorization"] == b"Bearer t"
    assert fields[b"Sec-WebSocket-Protocol"] == b"a, b"
    assert WebSocketOptions(compression=False).extensions() == []


def test_check_accept_names_what_is_wrong() -> None:
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    good = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": generate_accept_token(key).decode(),
    }
    assert check_accept(Headers(good), key, (), "h") is None
    wrong = check_accept(Headers({**good, "Sec-WebSocket-Accept": "x"}), key, (), "h")
    assert wrong is not None and "Sec-WebSocket-Accept" in wrong
    unoffered = check_accept(Headers({**good, "Sec-WebSocket-Protocol": "p"}), key, ("q",), "h")
    assert unoffered is not None and "'p'" in unoffered
    no_upgrade = check_accept(Headers({**good, "Upgrade": "h2c"}), key, (), "h")
    assert no_upgrade is not None and "Upgrade" in no_upgrade


class _Proto:
    client = True


def test_the_inflater_stops_at_the_limit() -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = deflater.compress(b"\0" * 10_000_000) + deflater.flush(zlib.Z_SYNC_FLUSH)
    extension = BoundedPerMessageDeflate(1000)
    extension._inbound_compressed = True
    extension._inbound_is_compressible = True
    extension._decompressor = zlib.decompressobj(-15)
    result = extension.frame_inbound_payload_data(_Proto(), bomb[:2000])
    assert result is CloseReason.MESSAGE_TOO_BIG


def test_handshake_errors_pickle_without_the_response() -> None:
    error = WebSocketUnauthorized("no", status_code=401, url="ws://h/")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.status_code, copy.response) == ("WEBSOCKET_UNAUTHORIZED", 401, None)


class Chat(msgspec.Struct, tag="chat"):
    text: str


class Join(msgspec.Struct, tag="join"):
    user: str


def test_the_router_calls_the_handler_of_each_type() -> None:
    router = MessageRouter()
    router.on(Chat)(lambda message: f"chat {message.text}")
    router.on(Join)(lambda message: f"join {message.user}")
    assert router.dispatch(router.encode(Join(user="ada"))).unwrap() == "join ada"
    assert router.dispatch(b'{"type": "chat", "text": "hi"}').unwrap() == "chat hi"
    unknown = router.dispatch('{"type": "leave"}')
    assert unknown.is_failure
    assert unknown.error.code == "DECODE_ERROR"
    assert "Chat, Join" in str(unknown.error)


def test_the_router_refuses_untagged_types_and_second_handlers() -> None:
    class Untagged(msgspec.Struct):
        x: int

    router = MessageRouter()
    with pytest.raises(TypeError, match="tag"):
        router.on(Untagged)
    router.on(Chat)(print)
    with pytest.raises(ValueError, match="already"):
        router.on(Chat)
    with pytest.raises(RuntimeError, match="no handler"):
        MessageRouter().dispatch("{}")
