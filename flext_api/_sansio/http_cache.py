"""HTTP caching decisions (RFC 9111, with RFC 5861's stale-while-revalidate and stale-if-error).

Pure: no I/O and no clock. Every time is passed in, in seconds on the wall clock (``time.time``)
because ``Date``, ``Expires`` and ``Last-Modified`` are wall-clock dates. The middleware in
``flext_api.cache._async.http`` acts on these decisions; this module must never read a socket, a
cache backend or the time itself, so every rule here is table-tested with a fake clock.

What is stored (:class:`StoredResponse`) is the response head, the request header values its
``Vary`` selects, and the two times RFC 9111 section 4.2.3 needs to compute an age. The body is
stored apart by the middleware (in pieces, so a streamed body is never held whole).

Two modes: private (a browser-like cache for one user; the default) and shared (a proxy-like
cache serving many users: ``private`` responses are not stored, ``s-maxage`` wins over
``max-age``, and a request with ``Authorization`` is stored only when the response allows it).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

import msgspec

__all__ = [
    "CACHEABLE_BY_DEFAULT",
    "Decision",
    "HTTPCachePolicy",
    "Lookup",
    "StoredResponse",
    "parse_cache_control",
]


class HeaderSource(Protocol):
    """What the policy reads from a header collection (``flext_api.Headers`` fits)."""

    def get(self, name: str, default: str | None = None) -> str | None: ...

    def get_list(self, name: str) -> list[str]: ...


# RFC 9110 section 15.1: statuses a cache may store with heuristic freshness.
CACHEABLE_BY_DEFAULT: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# Statuses this cache understands well enough to store at all (RFC 9111 section 3: "the
# response status code is final" and understood). 206 needs range merging, which this cache
# does not do, and 304 is only ever a validation answer.
_UNDERSTOOD: Final = CACHEABLE_BY_DEFAULT | {302, 303, 307, 400, 403, 500, 502, 503, 504}
# RFC 9111 section 3.1: connection-specific fields are never stored; Content-Length is not
# taken from a 304 (section 3.2: it describes the 304, not the stored body).
_NOT_STORED: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
)
_NOT_UPDATED: Final = _NOT_STORED | {"content-length"}
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# RFC 5861 section 4: the errors after which stale-if-error may serve a stale response.
ERROR_STATUSES: Final = frozenset({500, 502, 503, 504})


def parse_cache_control(values: Iterable[str]) -> dict[str, str | None]:
    """Cache-Control directives, lowercased, with their argument (``None``: no argument).

    The first occurrence of a directive wins; a quoted argument is unquoted. Commas inside
    quotes (``no-cache="a, b"``) stay in the argument.
    """
    directives: dict[str, str | None] = {}
    for value in values:
        for part in _split_outside_quotes(value):
            name, sep, argument = part.partition("=")
            name = name.strip().lower()
            if not name or name in directives:
                continue
            argument = argument.strip()
            if len(argument) >= 2 and argument[0] == argument[-1] == '"':
                argument = argument[1:-1]
            directives[name] = argument if sep else None
    return directives


def _split_outside_quotes(value: str) -> list[str]:
    if '"' not in value:
        return value.split(",")
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _seconds(directives: Mapping[str, str | None], name: str) -> int | None:
    """A delta-seconds argument; an invalid one counts as absent, except for max-age and
    s-maxage, where RFC 9111 section 1.2.2 asks to treat it as 0 (stale: the safe reading)."""
    if name not in directives:
        return None
    argument = directives[name]
    if argument is not None and argument.isdigit():
        return int(argument)
    return 0 if name in ("max-age", "s-maxage") else None


def http_date(value: str | None) -> float | None:
    """An HTTP-date as POSIX seconds, or ``None`` when absent or invalid."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class StoredResponse(msgspec.Struct, array_like=True):
    """A stored response head and what the policy needs to judge it later.

    ``request_time``/``response_time``: when the request that produced it was sent and its
    response received (RFC 9111 section 4.2.3). ``vary``: the request header values the
    response's Vary names, as sent (``None``: the header was absent). ``body_key`` and
    ``body_parts`` locate the body, stored apart by the middleware; ``body_size`` is its length.
    """

    method: str
    url: str
    status: int
    headers: list[tuple[str, str]]
    request_time: float
    response_time: float
    vary: list[tuple[str, str | None]]
    body_key: str = ""
    body_parts: int = 0
    body_size: int = 0

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_list(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


class Decision(enum.Enum):
    """What to do with a request, given what is stored for it."""

    MISS = "miss"  # nothing usable: send the request as is
    FRESH = "fresh"  # serve the stored response
    STALE = "stale"  # serve the stored response although stale (max-stale, stale-while-revalidate)
    VALIDATE = "validate"  # send a conditional request built from the stored validators
    ONLY_IF_CACHED = "only-if-cached"  # nothing usable and the request forbids the network: 504


class Lookup(msgspec.Struct, frozen=True):
    """A decision and the stored response's current age in whole seconds (the ``Age`` to send).

    ``revalidate``: a stale response served inside its ``stale-while-revalidate`` window, which
    RFC 5861 asks the cache to revalidate in the background.
    """

    decision: Decision
    age: int = 0
    revalidate: bool = False


def _normalized(value: str | None) -> str | None:
    # RFC 9111 section 4.1: values may be normalized before comparison; whitespace around
    # commas and runs of spaces do not change the meaning of the fields Vary names.
    if value is None:
        return None
    return ",".join(" ".join(part.split()) for part in value.split(","))


class HTTPCachePolicy:
    """The rules, for one cache mode; ``heuristic_fraction`` of the time since Last-Modified is
    the freshness of a response that states none (RFC 9111 section 4.2.2 suggests 10%)."""

    __slots__ = ("heuristic_fraction", "shared")

    def __init__(self, *, shared: bool = False, heuristic_fraction: float = 0.1) -> None:
        if not 0 <= heuristic_fraction <= 1:
            raise ValueError("heuristic_fraction must be between 0 and 1")
        self.shared = shared
        self.heuristic_fraction = heuristic_fraction

    # -- storing -------------------------------------------------------------------------

    def is_storable(
        self,
        method: str,
        request_headers: HeaderSource,
        status: int,
        response_headers: HeaderSource,
    ) -> bool:
        """RFC 9111 section 3: whether this response may be stored at all."""
        if method != "GET" or status not in _UNDERSTOOD:
            return False
        request_cc = parse_cache_control(request_headers.get_list("cache-control"))
        response_cc = parse_cache_control(response_headers.get_list("cache-control"))
        if "no-store" in request_cc or "no-store" in response_cc:
            return False
        if self.shared and "private" in response_cc and response_cc["private"] is None:
            return False
        if (
            self.shared
            and request_headers.get("authorization") is not None
            and not ({"must-revalidate", "public", "s-maxage"} & response_cc.keys())
        ):
            return False
        vary = response_headers.get_list("vary")
        if any(part.strip() == "*" for value in vary for part in value.split(",")):
            return False
        explicit = (
            "max-age" in response_cc
            or (self.shared and "s-maxage" in response_cc)
            or response_headers.get("expires") is not None
            or "public" in response_cc
            or (not self.shared and "private" in response_cc)
        )
        if not explicit and status not in CACHEABLE_BY_DEFAULT:
            return False
        # Stored only if it can ever be served: fresh for a while, or revalidatable.
        has_validator = (
            response_headers.get("etag") is not None
            or response_headers.get("last-modified") is not None
        )
        return has_validator or explicit

    def store(
        self,
        method: str,
        url: str,
        request_headers: HeaderSource,
        status: int,
        response_headers: Iterable[tuple[str, str]],
        *,
        request_time: float,
        response_time: float,
    ) -> StoredResponse:
        """The entry to store for a storable response (:meth:`is_storable` said yes)."""
        headers = [(k, v) for k, v in response_headers if k.lower() not in _NOT_STORED]
        entry = StoredResponse(
            method=method,
            url=url,
            status=status,
            headers=headers,
            request_time=request_time,
            response_time=response_time,
            vary=[],
        )
        entry.vary = [(name, request_headers.get(name)) for name in self.vary_names(entry)]
        if self.shared:
            # private="a, b" / no-cache="a, b": those fields are not for other users.
            cc = parse_cache_control(entry.header_list("cache-control"))
            hidden = {
                name.strip().lower()
                for directive in ("private", "no-cache")
                if cc.get(directive)
                for name in (cc[directive] or "").split(",")
            }
            if hidden:
                entry.headers = [(k, v) for k, v in entry.headers if k.lower() not in hidden]
        return entry

    @staticmethod
    def vary_names(entry: StoredResponse) -> list[str]:
        return [
            part.strip().lower()
            for value in entry.header_list("vary")
            for part in value.split(",")
            if part.strip()
        ]

    # -- freshness -----------------------------------------------------------------------

    def freshness_lifetime(self, entry: StoredResponse) -> float:
        """RFC 9111 section 4.2.1, then the heuristic of section 4.2.2."""
        cc = parse_cache_control(entry.header_list("cache-control"))
        if self.shared and (s_maxage := _seconds(cc, "s-maxage")) is not None:
            return s_maxage
        if (max_age := _seconds(cc, "max-age")) is not None:
            return max_age
        expires_header = entry.header("expires")
        if expires_header is not None:
            expires = http_date(expires_header)
            if expires is None:
                return 0  # an invalid Expires means already expired
            date = http_date(entry.header("date")) or entry.response_time
            return max(0.0, expires - date)
        last_modified = http_date(entry.header("last-modified"))
        if last_modified is not None and (entry.status in CACHEABLE_BY_DEFAULT or "public" in cc):
            date = http_date(entry.header("date")) or entry.response_time
            return max(0.0, (date - last_modified) * self.heuristic_fraction)
        return 0

    @staticmethod
    def current_age(entry: StoredResponse, now: float) -> float:
        """RFC 9111 section 4.2.3."""
        age_header = entry.header("age")
        age_value = int(age_header) if age_header is not None and age_header.isdigit() else 0
        date = http_date(entry.header("date"))
        apparent_age = max(0.0, entry.response_time - date) if date is not None else 0.0
        response_delay = max(0.0, entry.response_time - entry.request_time)
        corrected_initial_age = max(apparent_age, age_value + response_delay)
        return corrected_initial_age + max(0.0, now - entry.response_time)

    # -- serving -------------------------------------------------------------------------

    def matches_vary(self, entry: StoredResponse, request_headers: HeaderSource) -> bool:
        """RFC 9111 section 4.1: the request selects the stored variant."""
        return all(
            _normalized(request_headers.get(name)) == _normalized(value)
            for name, value in entry.vary
        )

    def lookup(
        self, request_headers: HeaderSource, entry: StoredResponse | None, now: float
    ) -> Lookup:
        """RFC 9111 section 4: serve, serve stale, validate, or miss."""
        request_cc = parse_cache_control(request_headers.get_list("cache-control"))
        if not request_cc and "no-cache" in (request_headers.get("pragma") or "").lower():
            request_cc = {"no-cache": None}  # section 5.4: Pragma only without Cache-Control
        only_if_cached = "only-if-cached" in request_cc
        if entry is None or not self.matches_vary(entry, request_headers):
            return Lookup(Decision.ONLY_IF_CACHED if only_if_cached else Decision.MISS)
        age = self.current_age(entry, now)
        lifetime = self.freshness_lifetime(entry)
        whole_age = int(age)
        response_cc = parse_cache_control(entry.header_list("cache-control"))
        must_validate = "no-cache" in request_cc or (
            "no-cache" in response_cc and response_cc["no-cache"] is None
        )
        if (max_age := _seconds(request_cc, "max-age")) is not None and age > max_age:
            must_validate = True
        if (min_fresh := _seconds(request_cc, "min-fresh")) is not None and (
            lifetime - age < min_fresh
        ):
            must_validate = True
        if not must_validate and age < lifetime:
            return Lookup(Decision.FRESH, whole_age)
        if only_if_cached:
            # Section 5.2.1.7: the network is off limits; what is stored is what there is.
            return Lookup(Decision.STALE, whole_age)
        if not must_validate and self.may_serve_stale(entry, now, request_cc):
            window = _seconds(response_cc, "stale-while-revalidate")
            revalidate = window is not None and age - lifetime <= window
            return Lookup(Decision.STALE, whole_age, revalidate)
        if entry.header("etag") is not None or entry.header("last-modified") is not None:
            return Lookup(Decision.VALIDATE, whole_age)
        return Lookup(Decision.MISS, whole_age)

    def _stale_forbidden(self, response_cc: Mapping[str, str | None]) -> bool:
        return "must-revalidate" in response_cc or (
            self.shared and ("proxy-revalidate" in response_cc or "s-maxage" in response_cc)
        )

    def may_serve_stale(
        self, entry: StoredResponse, now: float, request_cc: Mapping[str, str | None]
    ) -> bool:
        """A stale response may be served: the request's ``max-stale`` or the response's
        ``stale-while-revalidate`` window covers it, and nothing forbids serving stale."""
        response_cc = parse_cache_control(entry.header_list("cache-control"))
        if self._stale_forbidden(response_cc):
            return False
        staleness = self.current_age(entry, now) - self.freshness_lifetime(entry)
        if "max-stale" in request_cc:
            limit = _seconds(request_cc, "max-stale")
            if limit is None or staleness <= limit:
                return True
        window = _seconds(response_cc, "stale-while-revalidate")
        return window is not None and staleness <= window

    def may_serve_stale_on_error(
        self, entry: StoredResponse, request_headers: HeaderSource, now: float
    ) -> bool:
        """RFC 5861 section 4: after an error (a failed exchange or a 500/502/503/504), a stale
        response may stand in while the request's or the response's window covers it."""
        response_cc = parse_cache_control(entry.header_list("cache-control"))
        if self._stale_forbidden(response_cc):
            return False
        request_cc = parse_cache_control(request_headers.get_list("cache-control"))
        staleness = self.current_age(entry, now) - self.freshness_lifetime(entry)
        windows = [
            w
            for w in (
                _seconds(request_cc, "stale-if-error"),
                _seconds(response_cc, "stale-if-error"),
            )
            if w is not None
        ]
        return any(staleness <= window for window in windows)

    # -- validation ----------------------------------------------------------------------

    @staticmethod
    def conditional_headers(entry: StoredResponse) -> list[tuple[str, str]]:
        """RFC 9111 section 4.3.1: the validators to send, ETag first."""
        headers = []
        if (etag := entry.header("etag")) is not None:
            headers.append(("If-None-Match", etag))
        if (last_modified := entry.header("last-modified")) is not None:
            headers.append(("If-Modified-Since", last_modified))
        return headers

    @staticmethod
    def validator_matches(entry: StoredResponse, not_modified_headers: HeaderSource) -> bool:
        """Section 4.3.4: a 304 updates the stored response it names (by strong ETag, else by
        Last-Modified); a 304 naming another one must not update this one."""
        etag = not_modified_headers.get("etag")
        if etag is not None:
            return entry.header("etag") == etag
        last_modified = not_modified_headers.get("last-modified")
        if last_modified is not None and entry.header("last-modified") is not None:
            return entry.header("last-modified") == last_modified
        return True

    @staticmethod
    def refresh(
        entry: StoredResponse,
        not_modified_headers: Iterable[tuple[str, str]],
        *,
        request_time: float,
        response_time: float,
    ) -> StoredResponse:
        """Section 3.2 and 4.3.4: the stored response with the 304's header fields (they
        replace those of the same name) and the new times."""
        update = [(k, v) for k, v in not_modified_headers if k.lower() not in _NOT_UPDATED]
        replaced = {k.lower() for k, _ in update}
        headers = [(k, v) for k, v in entry.headers if k.lower() not in replaced] + update
        return msgspec.structs.replace(
            entry, headers=headers, request_time=request_time, response_time=response_time
        )

    # -- invalidation --------------------------------------------------------------------

    @staticmethod
    def invalidated(
        method: str, status: int, target: str, response_headers: HeaderSource
    ) -> list[str]:
        """Section 4.4: URLs whose stored responses an unsafe request's non-error answer
        makes obsolete: the target, and Location / Content-Location on the same origin."""
        if method in _SAFE_METHODS or not 200 <= status < 400:
            return []
        urls = [target]
        origin = _origin(target)
        for name in ("location", "content-location"):
            value = response_headers.get(name)
            if value is None:
                continue
            absolute = _resolve(target, value)
            if absolute is not None and _origin(absolute) == origin and absolute not in urls:
                urls.append(absolute)
        return urls


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme.lower()}://{authority.lower()}"


def _resolve(base: str, reference: str) -> str | None:
    """``reference`` made absolute against ``base`` (absolute URLs and absolute paths; a
    relative path is resolved against the base's directory)."""
    if "://" in reference:
        return reference
    origin = _origin(base)
    if reference.startswith("//"):
        return None  # another authority: never same-origin in a way worth guessing
    if reference.startswith("/"):
        return origin + reference
    path = base[len(origin) :].split("?", 1)[0].split("#", 1)[0] or "/"
    return origin + path.rsplit("/", 1)[0] + "/" + reference
