"""HTTP Digest authentication (RFC 7616) without I/O: parse ``WWW-Authenticate``, answer a
challenge, count nonces.

The I/O shell feeds :class:`DigestAuth` a 401's challenges and asks it for the next
``Authorization`` value. Nothing here awaits, sleeps, reads a clock or touches a socket; the
client nonce comes from an injected source of random bytes. The password never appears in a
``repr``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from flext_api._exceptions import AuthError
from flext_api._sansio.auth import REDACTED, Secret
from flext_api._urls import URL

__all__ = [
    "Challenge",
    "DigestAuth",
    "DigestChallenge",
    "digest_authorization",
    "parse_www_authenticate",
]


# -- WWW-Authenticate parsing --------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME_RE = re.compile(rf"[\s,]*({_TOKEN})")
_PARAM_RE = re.compile(rf'[\s,]*({_TOKEN})[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))')
_TOKEN68_RE = re.compile(r"[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` field: scheme (lowercased), params (names
    lowercased) or a token68."""

    scheme: str
    params: dict[str, str]
    token68: str | None = None


def parse_www_authenticate(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` values (RFC 9110 section 11.6.1).

    A field may hold several challenges separated by commas, whose parameters are commas
    separated too: a token followed by ``=`` continues the current challenge, any other token
    starts the next one. Malformed trailing text is ignored, never raised.
    """
    challenges: list[Challenge] = []
    for value in values:
        pos, end = 0, len(value)
        while pos < end:
            scheme = _SCHEME_RE.match(value, pos)
            if scheme is None:
                break
            pos = scheme.end()
            params: dict[str, str] = {}
            token68 = None
            t68 = _TOKEN68_RE.match(value, pos)
            if t68 is not None and not _PARAM_RE.match(value, pos):
                token68, pos = t68.group(1), t68.end()
            else:
                while (param := _PARAM_RE.match(value, pos)) is not None:
                    quoted = param.group(2)
                    text = _UNESCAPE.sub(r"\1", quoted) if quoted is not None else param.group(3)
                    params.setdefault(param.group(1).lower(), text)
                    pos = param.end()
            challenges.append(Challenge(scheme.group(1).lower(), params, token68))
            rest = value[pos:].lstrip(" \t")
            if rest and not rest.startswith(","):
                break  # garbage: keep what was parsed
    return challenges


# -- Digest (RFC 7616) ---------------------------------------------------------------------


def _sha512_256(data: bytes) -> Any:
    return hashlib.new("sha512_256", data)


_DIGEST_HASHES: Final[dict[str, Callable[[bytes], Any]]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-512-256": _sha512_256,
}
# Strongest first: a server that offers several challenges gets the best we support.
_ALGORITHM_RANK: Final = ("SHA-512-256", "SHA-256", "MD5")


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"  # uppercased, "-sess" kept
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False

    @property
    def base_algorithm(self) -> str:
        return self.algorithm.removesuffix("-SESS")

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> DigestChallenge | None:
        """The Digest challenge, or None if it lacks what a response needs."""
        params = challenge.params
        if challenge.scheme != "digest" or "nonce" not in params:
            return None
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params.get("realm", ""),
            nonce=params["nonce"],
            algorithm=params.get("algorithm", "MD5").upper(),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
            userhash=params.get("userhash", "").lower() == "true",
        )

    @property
    def supported(self) -> bool:
        """qop ``auth`` (or none, RFC 2069) and a known algorithm; ``auth-int`` alone is not
        supported (it needs the whole body hashed before sending, which streaming forbids)."""
        return self.base_algorithm in _DIGEST_HASHES and (not self.qop or "auth" in self.qop)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_authorization(
    challenge: DigestChallenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    *,
    nonce_count: int,
    cnonce: str,
) -> str:
    """The ``Authorization`` value answering ``challenge`` (RFC 7616 section 3.4)."""
    new_hash = _DIGEST_HASHES[challenge.base_algorithm]

    def h(text: str) -> str:
        return str(new_hash(text.encode("utf-8")).hexdigest())

    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if challenge.algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    nc = f"{nonce_count:08x}"
    if challenge.qop:
        response = h(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")

    if challenge.userhash:
        user_param = "username=" + _quote(h(f"{username}:{challenge.realm}"))
    elif username.isascii() and '"' not in username and "\\" not in username:
        user_param = "username=" + _quote(username)
    else:  # RFC 7616 section 3.4.4: username* in RFC 8187 form
        user_param = "username*=UTF-8''" + quote(username, safe="")
    parts = [
        user_param,
        "realm=" + _quote(challenge.realm),
        "uri=" + _quote(uri),
        "algorithm=" + challenge.algorithm,
        "nonce=" + _quote(challenge.nonce),
    ]
    if challenge.qop:
        parts += ["nc=" + nc, "cnonce=" + _quote(cnonce), "qop=auth"]
    parts.append("response=" + _quote(response))
    if challenge.opaque is not None:
        parts.append("opaque=" + _quote(challenge.opaque))
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


class DigestAuth:
    """Digest credentials and the nonce state of one client.

    ``on_challenge`` takes a 401's ``WWW-Authenticate`` values and says whether retrying can
    help: True for a new nonce (or ``stale=true``), False when the nonce just used was refused
    again (wrong credentials: one retry only) or no Digest challenge was offered, and an
    ``AuthError`` value when every Digest challenge needs something unsupported. Later requests
    reuse the nonce preemptively with an increasing ``nc``.
    """

    __slots__ = ("_random_bytes", "challenge", "nonce_count", "password", "username")

    def __init__(
        self,
        username: str,
        password: str | Secret,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.username = username
        self.password = Secret(password)
        self._random_bytes = random_bytes
        self.challenge: DigestChallenge | None = None
        self.nonce_count = 0

    def __repr__(self) -> str:
        return f"DigestAuth(username={self.username!r}, password={REDACTED!r})"

    def on_challenge(self, www_authenticate: Iterable[str]) -> bool | AuthError:
        offered = [
            d
            for c in parse_www_authenticate(www_authenticate)
            if (d := DigestChallenge.from_challenge(c)) is not None
        ]
        if not offered:
            return False
        usable = [d for d in offered if d.supported]
        if not usable:
            found = ", ".join(f"algorithm={d.algorithm} qop={','.join(d.qop)}" for d in offered)
            return AuthError(
                f"the server's Digest challenges ({found}) need an algorithm or qop this client "
                "does not support (supported: MD5, SHA-256, SHA-512-256 with qop=auth)"
            )
        best = min(usable, key=lambda d: _ALGORITHM_RANK.index(d.base_algorithm))
        previous = self.challenge
        if previous is not None and previous.nonce == best.nonce and not best.stale:
            return False  # the nonce we answered was refused: the credentials are wrong
        self.challenge = best
        self.nonce_count = 0
        return True

    def authorization(self, method: str, url: URL) -> str | None:
        """The header for the next request, or None before any challenge was seen."""
        challenge = self.challenge
        if challenge is None:
            return None
        self.nonce_count += 1
        cnonce = self._random_bytes(16).hex()
        return digest_authorization(
            challenge,
            self.username,
            self.password.reveal(),
            method.upper(),
            url.raw_path.decode("ascii"),
            nonce_count=self.nonce_count,
            cnonce=cnonce,
        )
