"""SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), as bytes.

Job: build the client's messages (greeting, credentials, CONNECT) and read the proxy's answers,
with each refusal turned into a sentence that says what to do. The destination always goes as
a domain name when it is one (``ATYP 3``): the proxy resolves it ("remote DNS"), so the name
never touches the local resolver and the proxy can reach names only it can resolve. IP
literals go as IPv4 or IPv6 addresses.

Never: send credentials the proxy did not ask for, accept a method the client did not offer,
or read past the CONNECT reply (the bytes after it belong to the tunnel).
"""

from __future__ import annotations

import ipaddress
from typing import Final

__all__ = [
    "NO_AUTH",
    "REPLY_MESSAGES",
    "USERNAME_PASSWORD",
    "SocksRefused",
    "auth_request",
    "connect_request",
    "greeting",
    "parse_auth_reply",
    "parse_method_choice",
    "reply_length",
]

VERSION: Final = 5
NO_AUTH: Final = 0x00
USERNAME_PASSWORD: Final = 0x02
NO_ACCEPTABLE: Final = 0xFF

REPLY_MESSAGES: Final = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by the proxy's rules",
    0x03: "network unreachable from the proxy",
    0x04: "host unreachable from the proxy",
    0x05: "connection refused by the destination",
    0x06: "TTL expired",
    0x07: "command not supported by the proxy",
    0x08: "address type not supported by the proxy",
}
"""RFC 1928 section 6, reply field values other than success."""


class SocksRefused(Exception):
    """What the proxy answered, in words; ``auth`` when it is about credentials."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.auth = auth


def greeting(with_credentials: bool) -> bytes:
    """The methods offered: username/password only when there are credentials."""
    methods = bytes([USERNAME_PASSWORD, NO_AUTH]) if with_credentials else bytes([NO_AUTH])
    return bytes([VERSION, len(methods)]) + methods


def parse_method_choice(data: bytes, with_credentials: bool) -> int:
    """The method the proxy chose (2 bytes); refuses one the client did not offer."""
    if len(data) != 2 or data[0] != VERSION:
        raise SocksRefused("the proxy did not answer as a SOCKS5 server (wrong version)")
    method = data[1]
    if method == NO_ACCEPTABLE:
        raise SocksRefused(
            "the proxy accepts none of the offered authentication methods"
            + ("" if with_credentials else ": put credentials in the proxy URL"),
            auth=True,
        )
    offered = (USERNAME_PASSWORD, NO_AUTH) if with_credentials else (NO_AUTH,)
    if method not in offered:
        raise SocksRefused(f"the proxy chose authentication method {method}, which was not offered")
    return method


def auth_request(username: str, password: str) -> bytes:
    """RFC 1929: each field 1 to 255 bytes of UTF-8."""
    user, secret = username.encode(), password.encode()
    if not 0 < len(user) < 256 or not 0 < len(secret) < 256:
        raise ValueError("SOCKS5 username and password must each be 1 to 255 bytes")
    return bytes([1, len(user)]) + user + bytes([len(secret)]) + secret


def parse_auth_reply(data: bytes) -> None:
    if len(data) != 2 or data[0] != 1:
        raise SocksRefused("the proxy sent an invalid answer to the credentials")
    if data[1] != 0:
        raise SocksRefused("the proxy refused the credentials in the proxy URL", auth=True)


def connect_request(host: str, port: int) -> bytes:
    """CONNECT to ``host:port``: an IP literal as an address, a name as a domain (remote DNS)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None:
        # URL hosts are already IDNA-encoded ASCII, at most 253 bytes.
        name = host.encode("ascii")
        target = bytes([3, len(name)]) + name
    else:
        target = (bytes([1]) if address.version == 4 else bytes([4])) + address.packed
    return bytes([VERSION, 1, 0]) + target + port.to_bytes(2, "big")


def reply_length(head: bytes) -> int:
    """The whole reply's length from its first 5 bytes; refuses a failure reply."""
    if len(head) < 5 or head[0] != VERSION:
        raise SocksRefused("the proxy sent an invalid answer to CONNECT")
    if head[1] != 0:
        reason = REPLY_MESSAGES.get(head[1], f"reply code {head[1]}")
        raise SocksRefused(f"the proxy could not connect: {reason}")
    kind = head[3]
    if kind == 1:
        return 4 + 4 + 2
    if kind == 4:
        return 4 + 16 + 2
    if kind == 3:
        return 4 + 1 + head[4] + 2
    raise SocksRefused(f"the proxy answered CONNECT with an unknown address type {kind}")
