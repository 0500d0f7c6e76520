"""The SOCKS5 handshake as bytes (RFC 1928 sections 3-6, RFC 1929 section 2)."""

from __future__ import annotations

import pytest

from flext_api import Proxy
from flext_api._sansio import socks


def test_greeting_offers_credentials_only_when_there_are_some() -> None:
    assert socks.greeting(False) == b"\x05\x01\x00"
    assert socks.greeting(True) == b"\x05\x02\x02\x00"


@pytest.mark.parametrize(
    ("host", "port", "wire"),
    [
        ("example.com", 443, b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"),
        ("xn--bcher-kva.example", 80, b"\x05\x01\x00\x03\x15xn--bcher-kva.example\x00\x50"),
        ("192.0.2.7", 8080, b"\x05\x01\x00\x01\xc0\x00\x02\x07\x1f\x90"),
        (
            "2001:db8::1",
            1,
            b"\x05\x01\x00\x04" + bytes.fromhex("20010db8" + "0" * 22 + "01") + b"\x00\x01",
        ),
    ],
)
def test_connect_names_the_destination_by_name_or_address(
    host: str, port: int, wire: bytes
) -> None:
    assert socks.connect_request(host, port) == wire


def test_credentials_are_length_prefixed_utf8() -> None:
    assert socks.auth_request("bob", "pä") == b"\x01\x03bob\x03p\xc3\xa4"
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        socks.auth_request("", "x")
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        Proxy(f"socks5://bob:{'x' * 256}@proxy.example")


@pytest.mark.parametrize(
    ("head", "length"),
    [
        (b"\x05\x00\x00\x01\x7f", 10),
        (b"\x05\x00\x00\x04\x00", 22),
        (b"\x05\x00\x00\x03\x09", 16),
    ],
)
def test_reply_length_by_address_type(head: bytes, length: int) -> None:
    assert socks.reply_length(head) == length


@pytest.mark.parametrize(("code", "words"), sorted(socks.REPLY_MESSAGES.items()))
def test_every_failure_reply_is_named(code: int, words: str) -> None:
    with pytest.raises(socks.SocksRefused, match=words):
        socks.reply_length(bytes([5, code, 0, 1, 0]))


def test_method_choice_and_auth_reply() -> None:
    assert socks.parse_method_choice(b"\x05\x00", False) == socks.NO_AUTH
    assert socks.parse_method_choice(b"\x05\x02", True) == socks.USERNAME_PASSWORD
    with pytest.raises(socks.SocksRefused, match="put credentials") as refused:
        socks.parse_method_choice(b"\x05\xff", False)
    assert refused.value.auth
    socks.parse_auth_reply(b"\x01\x00")
    with pytest.raises(socks.SocksRefused, match="refused the credentials"):
        socks.parse_auth_reply(b"\x01\x01")


def test_socks_proxy_urls() -> None:
    proxy = Proxy("socks5h://u:p@proxy.example")
    assert proxy.is_socks and proxy.origin == ("socks5h", "proxy.example", 1080)
    assert proxy.socks_credentials == ("u", "p") and "p@" not in repr(proxy)
    assert Proxy("socks5://u:p@proxy.example") != Proxy("socks5://u:q@proxy.example")
    with pytest.raises(ValueError, match="takes no headers"):
        Proxy("socks5://proxy.example", headers={"X": "1"})
    with pytest.raises(ValueError, match="socks5://"):
        Proxy("socks4://proxy.example")
