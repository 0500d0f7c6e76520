"""A cookie jar without I/O (RFC 6265, with the Secure rules of RFC 6265bis).

``extract(url, set_cookie_headers, now)`` stores what a response set; ``header_for(url, now)``
builds the ``Cookie`` header of a request (or None). ``now`` is epoch seconds from the caller
(cookie expiry is wall-clock time, unlike the monotonic clocks of the pool and retries).

What must never happen:

* A cookie sent to a host it does not domain-match, to a path it does not path-match, or a
  Secure cookie sent over plain http.
* A response setting a cookie for another site: ``Domain`` must domain-match the response's
  host, and a single-label ``Domain`` (``com``, ``local``) is refused as a public suffix. This is
  "public-suffix-lite": the full Public Suffix List is not shipped, so ``Domain=co.uk`` from
  ``a.co.uk`` is accepted; the cost of a wrong answer there is a cookie shared between sites.
* A plain-http response setting or overwriting a Secure cookie (RFC 6265bis section 5.7).
* Work on requests when the jar is empty: ``header_for`` returns None at once, and the shell
  calls ``extract`` only when a response has ``Set-Cookie``.

Storage: ``{domain: {(path, name): Cookie}}``. ``header_for`` looks up the request host and each
of its parent domains (one dict lookup per label), never scans every cookie. SameSite is parsed
and kept for inspection; it is not enforced, because an API client has no "site" it browses
from. HttpOnly is kept too (every use here is HTTP).
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from collections.abc import Iterator
from typing import Final

from flext_api._urls import URL

__all__ = ["Cookie", "CookieJar", "parse_cookie_date"]

# Larger Set-Cookie values are ignored: RFC 6265 section 6.1 asks for at least 4096 bytes per
# cookie, and a bound keeps a hostile server from filling memory.
_MAX_SET_COOKIE: Final = 8192
_MAX_PER_DOMAIN: Final = 180
# Far beyond any real expiry, and still a finite float for comparisons.
_MAX_EXPIRY: Final = 253402300799.0  # 9999-12-31T23:59:59Z
_SECURE_SCHEMES: Final = frozenset({"https", "wss"})
_DELIMITER = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D.*)?$")
_DAY = re.compile(r"(\d{1,2})(?:\D.*)?$")
_YEAR = re.compile(r"(\d{2,4})(?:\D.*)?$")
_MONTHS: Final = {
    name: index
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_SAME_SITE: Final = {"strict": "Strict", "lax": "Lax", "none": "None"}


def parse_cookie_date(text: str) -> float | None:
    """Epoch seconds of a cookie date per RFC 6265 section 5.1.1, or None if it is invalid.

    The algorithm is deliberately lenient (servers send every date format there is): it picks
    the first time, day, month and year tokens wherever they stand.
    """
    time: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DELIMITER.split(text):
        if not token:
            continue
        if time is None and (match := _TIME.match(token)):
            time = (int(match[1]), int(match[2]), int(match[3]))
        elif day is None and (match := _DAY.match(token)):
            day = int(match[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS[token[:3].lower()]
        elif year is None and (match := _YEAR.match(token)):
            year = int(match[1])
    if time is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = time
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None  # 31 February does not exist
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def _is_ip(host: str) -> bool:
    # Cheap tests first: this runs on every request that has cookies to look up.
    if ":" in host:
        return True  # an IPv6 literal (URL.host holds it without brackets)
    if not host[-1:].isdigit():
        return False  # no top-level domain is numeric
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _domain_match(host: str, domain: str) -> bool:
    # RFC 6265 section 5.1.3: identical, or a suffix after a dot, and never for IP addresses.
    if host == domain:
        return True
    return host.endswith("." + domain) and not _is_ip(host)


def _path_match(request_path: str, cookie_path: str) -> bool:
    # RFC 6265 section 5.1.4.
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    )


def _default_path(url: URL) -> str:
    path = url.path
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rfind("/")]


class Cookie:
    """One stored cookie. ``expires`` is epoch seconds, None for a session cookie."""

    __slots__ = (
        "creation_time",
        "domain",
        "expires",
        "host_only",
        "http_only",
        "last_access_time",
        "name",
        "path",
        "same_site",
        "secure",
        "value",
    )

    def __init__(
        self,
        name: str,
        value: str,
        *,
        domain: str,
        path: str = "/",
        host_only: bool = True,
        secure: bool = False,
        http_only: bool = False,
        expires: float | None = None,
        same_site: str | None = None,
        creation_time: float = 0.0,
    ) -> None:
        self.name = name
        self.value = value
        self.domain = domain
        self.path = path
        self.host_only = host_only
        self.secure = secure
        self.http_only = http_only
        self.expires = expires
        self.same_site = same_site
        self.creation_time = creation_time
        self.last_access_time = creation_time

    def is_expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def __repr__(self) -> str:
        # The value is often a session credential: never shown.
        return (
            f"Cookie({self.name!r}, domain={self.domain!r}, path={self.path!r}, "
            f"secure={self.secure}, host_only={self.host_only}, expires={self.expires})"
        )


class CookieJar:
    """The cookies of one client."""

    __slots__ = ("_by_domain", "_count")

    def __init__(self) -> None:
        self._by_domain: dict[str, dict[tuple[str, str], Cookie]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Cookie]:
        """Every stored cookie (expired ones too, until the next lookup drops them)."""
        for cookies in list(self._by_domain.values()):
            yield from list(cookies.values())

    def __repr__(self) -> str:
        return f"<CookieJar {self._count} cookies>"

    def clear(self, domain: str | None = None) -> None:
        """Remove every cookie, or those stored for ``domain`` exactly."""
        if domain is None:
            self._by_domain.clear()
            self._count = 0
        else:
            removed = self._by_domain.pop(domain.lower(), None)
            if removed:
                self._count -= len(removed)

    # -- storing ---------------------------------------------------------------------------

    def extract(self, url: URL, set_cookie_headers: list[str], now: float) -> None:
        """Store the cookies that ``Set-Cookie`` values from a response to ``url`` set."""
        for header in set_cookie_headers:
            cookie = self._parse(url, header, now)
            if cookie is not None:
                self._store(cookie, url.scheme in _SECURE_SCHEMES, now)

    def _parse(self, url: URL, header: str, now: float) -> Cookie | None:
        if len(header) > _MAX_SET_COOKIE:
            return None
        pair, *attributes = header.split(";")
        name, equals, value = pair.partition("=")
        name, value = name.strip(" \t"), value.strip(" \t")
        if not equals or not name:
            return None  # RFC 6265 section 5.2 steps 2 and 5
        host = url.host
        expires: float | None = None
        max_age: float | None = None
        domain = ""
        path = ""
        secure = http_only = False
        same_site: str | None = None
        for attribute in attributes:
            key, _, attr_value = attribute.partition("=")
            key = key.strip(" \t").lower()
            attr_value = attr_value.strip(" \t")
            if key == "expires":
                parsed = parse_cookie_date(attr_value)
                if parsed is not None:
                    expires = parsed
            elif key == "max-age":
                if re.fullmatch(r"-?[0-9]+", attr_value):
                    delta = int(attr_value)
                    # A non-positive delta means "already expired" (section 5.2.2).
                    max_age = now + delta if delta > 0 else -1.0
            elif key == "domain":
                if attr_value:
                    domain = attr_value.removeprefix(".").lower()
            elif key == "path":
                path = attr_value if attr_value.startswith("/") else ""
            elif key == "secure":
                secure = True
            elif key == "httponly":
                http_only = True
            elif key == "samesite":
                same_site = _SAME_SITE.get(attr_value.lower())
        if max_age is not None:  # Max-Age wins over Expires (section 5.3 step 3)
            expires = max_age
        if expires is not None:
            expires = min(expires, _MAX_EXPIRY)

        if domain and "." not in domain and domain != host:
            return None  # single-label Domain: a public suffix (see module docstring)
        if domain and not _domain_match(host, domain):
            return None
        # No Domain, or a Domain that is the host itself and cannot have subdomains sharing it
        # (an IP address, a single label such as localhost): a host-only cookie.
        host_only = not domain or (domain == host and (_is_ip(host) or "." not in host))
        domain = domain or host
        if secure and url.scheme not in _SECURE_SCHEMES:
            return None  # only a secure origin may set a Secure cookie (RFC 6265bis)
        if name.startswith("__Secure-") and not secure:
            return None
        if name.startswith("__Host-") and not (secure and host_only and path == "/"):
            return None
        return Cookie(
            name,
            value,
            domain=domain,
            path=path or _default_path(url),
            host_only=host_only,
            secure=secure,
            http_only=http_only,
            expires=expires,
            same_site=same_site,
            creation_time=now,
        )

    def _store(self, cookie: Cookie, secure_origin: bool, now: float) -> None:
        cookies = self._by_domain.setdefault(cookie.domain, {})
        key = (cookie.path, cookie.name)
        old = cookies.get(key)
        if old is not None:
            if old.secure and not secure_origin:
                return  # http cannot overwrite (or delete) a Secure cookie
            cookie.creation_time = old.creation_time  # section 5.3 step 11.3
            del cookies[key]
            self._count -= 1
        if cookie.is_expired(now):
            if not cookies:
                del self._by_domain[cookie.domain]
            return  # a deletion: the old cookie (if any) is gone and nothing replaces it
        if len(cookies) >= _MAX_PER_DOMAIN:
            oldest = min(cookies, key=lambda k: cookies[k].last_access_time)
            del cookies[oldest]
            self._count -= 1
        cookies[key] = cookie
        self._count += 1

    # -- sending ---------------------------------------------------------------------------

    def header_for(self, url: URL, now: float) -> str | None:
        """The ``Cookie`` header value for a request to ``url``, or None when none apply."""
        if not self._count:
            return None
        host = url.host
        secure = url.scheme in _SECURE_SCHEMES
        path = url.path or "/"
        if _is_ip(host) or ":" in host:
            candidates = [host]
        else:
            labels = host.split(".")
            candidates = [".".join(labels[i:]) for i in range(len(labels))]
        found: list[Cookie] = []
        for domain in candidates:
            cookies = self._by_domain.get(domain)
            if not cookies:
                continue
            expired: list[tuple[str, str]] = []
            for key, cookie in cookies.items():
                if cookie.is_expired(now):
                    expired.append(key)
                elif (
                    (not cookie.host_only or domain == host)
                    and (secure or not cookie.secure)
                    and _path_match(path, cookie.path)
                ):
                    found.append(cookie)
            for key in expired:
                del cookies[key]
                self._count -= 1
            if not cookies:
                del self._by_domain[domain]
        if not found:
            return None
        # Longer paths first, then the oldest first (RFC 6265 section 5.4 step 2).
        found.sort(key=lambda c: (-len(c.path), c.creation_time))
        for cookie in found:
            cookie.last_access_time = now
        return "; ".join(f"{c.name}={c.value}" for c in found)
