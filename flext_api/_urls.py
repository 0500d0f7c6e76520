"""URL: an RFC 3986 URL parsed once, validated once, then only read.

Every request goes through a :class:`URL`, so this module parses the string a single time and
stores everything the transport asks for later (``raw_path``, ``host_header``, ``origin``...) as
plain slot attributes: reading one is an attribute load, never a computation.

What "normalized" means here (it is what ``str(url)`` and ``==`` use): the scheme and host are
lowercased, a non-ASCII host is IDNA-encoded, a port equal to the scheme default is dropped, an
empty path of a URL with a host becomes ``/``, ``.`` and ``..`` segments of an absolute URL are
resolved, characters outside each component's allowed set are UTF-8 percent-encoded (existing
``%XX`` escapes are kept as written, a lone ``%`` becomes ``%25``), and an empty fragment is
dropped. An empty query (``"http://a/?"``) keeps its ``?``: RFC 3986 section 6.2.3 does not let
us drop the delimiter, and the request target keeps it too.

This module must never do I/O (no DNS lookup, no socket) and never silently accept a URL that
the transport would send somewhere other than where it appears to point: whitespace, control
characters, backslashes in the authority and malformed ports or IPv6 literals are refused with
:class:`~flext_api._exceptions.InvalidURL`. It does not decide which schemes are usable; the
client does (``UnsupportedScheme``). Each component's checks and encoding live in
``_url_components``; this module parses, assembles, joins and copies whole URLs. ``repr(url)``
and every error message hide the password; ``str(url)`` keeps it (it is what is sent).
"""

from __future__ import annotations

import enum
from typing import Final, final
from urllib.parse import unquote

from flext_api._exceptions import REDACTED, InvalidURL, redact_url
from flext_api._url_components import (
    _FORBIDDEN,
    _FORBIDDEN_NAMES,
    _PATH_SAFE,
    _PATH_UNSAFE,
    _QUERY_SAFE,
    _QUERY_UNSAFE,
    _SCHEME,
    _USERINFO_SAFE,
    _USERINFO_UNSAFE,
    _USERNAME_UNSAFE,
    PrimitiveData,
    QueryParamTypes,
    _encode,
    _encode_literal,
    _host_in_uri,
    _parse_host,
    _parse_ipv6,
    _parse_port,
    _reject_forbidden,
    _remove_dot_segments,
    encode_params,
)

__all__ = ["URL", "PrimitiveData", "QueryParamTypes", "encode_params"]

_DEFAULT_PORTS: Final[dict[str, int]] = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Scheme spellings that skip the regex check and lower().
_COMMON_SCHEMES: Final[dict[str, str]] = {name: name for name in _DEFAULT_PORTS} | {
    name.upper(): name for name in _DEFAULT_PORTS
}
# Parsed URLs by input text. A URL is immutable, so a hit can be shared: clients call the same
# few endpoints over and over, and a hit costs one dict lookup instead of a parse.
_PARSED: dict[str, URL] = {}
_PARSED_LIMIT: Final = 1024


class _Unset(enum.Enum):
    TOKEN = enum.auto()


_UNSET: Final = _Unset.TOKEN


class _URLFields:
    """The storage of :class:`URL`, with ordinary (fast) attribute assignment.

    ``URL`` has the same slot layout but refuses ``setattr``. An instance is built as a
    ``_URLFields`` and then relabelled a ``URL``: assigning 20 slots through an overridden
    ``__setattr__`` would cost several times the whole parse.
    """

    __slots__ = (
        "_has_authority",
        "_has_query",
        "_str",
        "default_port",
        "effective_port",
        "fragment",
        "host",
        "host_header",
        "is_absolute",
        "origin",
        "password",
        "path",
        "port",
        "query",
        "raw_path",
        "scheme",
        "userinfo",
        "username",
    )

    _has_authority: bool
    _has_query: bool
    _str: str | None
    scheme: str
    userinfo: str
    username: str
    password: str
    host: str
    port: int | None
    default_port: int | None
    effective_port: int
    path: str
    query: str
    fragment: str
    raw_path: bytes
    host_header: bytes
    origin: tuple[str, str, int]
    is_absolute: bool


def _assemble(
    *,
    scheme: str,
    has_authority: bool,
    userinfo: str,
    host: str,
    port: int | None,
    path: str,
    has_query: bool,
    query: str,
    fragment: str,
    source: str,
) -> URL:
    """Build a URL from components that are already validated and encoded."""
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is not None:
        if not host:
            raise InvalidURL(
                f"URL {redact_url(source)!r} has no host; a {scheme} URL needs one, "
                f"as in '{scheme}://example.com/path'"
            )
        if not path:
            path = "/"
    if port == default_port:
        port = None
    self = object.__new__(_URLFields)
    self._has_authority = has_authority
    self._has_query = has_query
    self._str = None
    self.scheme = scheme
    self.userinfo = userinfo
    if userinfo:
        username, _, password = userinfo.partition(":")
        self.username = unquote(username)
        self.password = unquote(password)
    else:
        self.username = self.password = ""
    self.host = host
    self.port = port
    self.default_port = default_port
    effective_port = port if port is not None else (default_port or 0)
    self.effective_port = effective_port
    self.path = path
    self.query = query
    self.fragment = fragment
    self.raw_path = (path + "?" + query if has_query else path).encode("ascii")
    # Brackets for IPv6; the zone is local to this machine and never sent (RFC 6874).
    host_header = "[" + host.partition("%")[0] + "]" if ":" in host else host
    if port is not None:
        host_header = f"{host_header}:{port}"
    self.host_header = host_header.encode("ascii")
    self.origin = (scheme, host, effective_port)
    self.is_absolute = bool(scheme)
    self.__class__ = URL
    return self  # type: ignore[return-value]  # relabelled to URL one line above


@final
class URL(_URLFields):
    """An absolute URL or a relative reference, parsed once; immutable and hashable.

    Attributes (all plain reads):

    - ``scheme``: lowercase, ``""`` for a relative reference.
    - ``userinfo``: as written in the URL (percent-encoded); ``username`` and ``password`` are
      its two halves, percent-decoded (``""`` when absent).
    - ``host``: lowercase, IDNA-encoded ASCII; an IPv6 address without brackets.
    - ``port``: the explicit port, or ``None`` when absent or equal to the scheme's default.
    - ``default_port``: 80 for http/ws, 443 for https/wss, ``None`` for other schemes.
    - ``effective_port``: ``port``, else ``default_port``, else ``0`` (an unknown scheme with no
      port; the client refuses such schemes before the port matters).
    - ``path``, ``query`` (without ``?``), ``fragment`` (without ``#``): percent-encoded.
    - ``raw_path``: the request target, ``path`` plus ``?query``, as ASCII bytes.
    - ``host_header``: the ``Host`` header value: host, ``:port`` when not the default.
    - ``origin``: ``(scheme, host, effective_port)``, the connection pool's key.
    - ``is_absolute``: whether there is a scheme.

    ``str(url)`` is the normalized URL, password included; ``repr(url)`` hides the password.
    ``url == "..."`` compares normalized forms; ``hash(url)`` is the hash of ``str(url)``.
    """

    __slots__ = ()

    def __new__(cls, url: str | URL) -> URL:
        if type(url) is URL:
            return url  # immutable, so the same object serves
        if not isinstance(url, str):
            raise TypeError(f"URL() takes a str or a URL, not {type(url).__name__}")
        cached = _PARSED.get(url)
        if cached is not None:
            return cached
        parsed = _parse(url)
        if len(_PARSED) >= _PARSED_LIMIT:
            # Clearing (rather than evicting one by one) keeps a hit at one dict lookup and
            # lets the cache follow an application whose set of URLs changes over time.
            _PARSED.clear()
        _PARSED[url] = parsed
        return parsed

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"URL is immutable; use url.copy_with({name}=...) for a new one")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("URL is immutable")

    def __reduce__(self) -> tuple[type[URL], tuple[str]]:
        return (URL, (str(self),))

    def _render(self, password: str) -> str:
        parts: list[str] = []
        if self.scheme:
            parts.append(self.scheme + ":")
        if self._has_authority:
            parts.append("//")
            if self.userinfo:
                if password and ":" in self.userinfo:
                    parts.append(self.userinfo.partition(":")[0] + ":" + password + "@")
                else:
                    parts.append(self.userinfo + "@")
            parts.append(_host_in_uri(self.host))
            if self.port is not None:
                parts.append(f":{self.port}")
        parts.append(self.path)
        if self._has_query:
            parts.append("?" + self.query)
        if self.fragment:
            parts.append("#" + self.fragment)
        return "".join(parts)

    def __str__(self) -> str:
        text = self._str
        if text is None:
            text = self._render("")
            # A cache, not state: set through object.__setattr__ because ours refuses.
            object.__setattr__(self, "_str", text)
        return text

    def __repr__(self) -> str:
        return f"URL({self._render(REDACTED)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL):
            return str(self) == str(other)
        if isinstance(other, str):
            try:
                return str(self) == str(URL(other))
            except InvalidURL:
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def join(self, url: str | URL) -> URL:
        """Resolve ``url`` against this URL as a base (RFC 3986 section 5.2.2, strict).

        ``URL("https://api.example/v1/").join("users?page=2")`` is
        ``https://api.example/v1/users?page=2``; a leading ``/`` replaces the whole base path,
        and an absolute ``url`` replaces everything.
        """
        if isinstance(url, str) and not url:
            # The empty reference is "this document" (RFC 3986 section 5.4.1), though URL("")
            # itself is refused as a mistake.
            return self.copy_with(fragment="") if self.fragment else self
        ref = URL(url)
        if ref.scheme:
            return ref  # already absolute; its dot segments were removed when it was parsed
        if ref._has_authority:
            scheme, has_authority = self.scheme, True
            userinfo, host, port = ref.userinfo, ref.host, ref.port
            path = _remove_dot_segments(ref.path) if ref.path else ""
            has_query, query = ref._has_query, ref.query
        else:
            scheme, has_authority = self.scheme, self._has_authority
            userinfo, host, port = self.userinfo, self.host, self.port
            if not ref.path:
                path = self.path
                if ref._has_query:
                    has_query, query = True, ref.query
                else:
                    has_query, query = self._has_query, self.query
            else:
                if ref.path.startswith("/"):
                    path = _remove_dot_segments(ref.path)
                elif self._has_authority and not self.path:
                    # RFC 3986 section 5.2.3: merge with an empty base path gives "/" + ref.
                    path = _remove_dot_segments("/" + ref.path)
                else:
                    base_dir = self.path[: self.path.rfind("/") + 1]
                    path = _remove_dot_segments(base_dir + ref.path)
                has_query, query = ref._has_query, ref.query
        return _assemble(
            scheme=scheme,
            has_authority=has_authority,
            userinfo=userinfo,
            host=host,
            port=port,
            path=path,
            has_query=has_query,
            query=query,
            fragment=ref.fragment,
            source=str(ref),
        )

    def copy_with(
        self,
        *,
        scheme: str | _Unset = _UNSET,
        username: str | _Unset = _UNSET,
        password: str | _Unset = _UNSET,
        host: str | _Unset = _UNSET,
        port: int | _Unset | None = _UNSET,
        path: str | _Unset = _UNSET,
        query: str | _Unset = _UNSET,
        fragment: str | _Unset = _UNSET,
    ) -> URL:
        """A new URL with the given parts replaced; every part is validated and encoded.

        Values are unencoded text except ``path``, ``query`` and ``fragment``, which may already
        hold ``%XX`` escapes (kept as written; any other character that needs it is encoded,
        so a ``?`` in ``path`` is a literal ``%3F``, not the start of a query). ``port=None``
        removes the port. ``username=""`` (and no password) removes the userinfo. ``query=""``
        removes the query.

        The port is remembered only when it differs from the scheme default, so switching
        ``http://a:80/`` to ``scheme="https"`` gives ``https://a/`` (port 443).
        """
        source = str(self)
        new_scheme = self.scheme
        if not isinstance(scheme, _Unset):
            if _SCHEME.fullmatch(scheme) is None:
                raise InvalidURL(
                    f"scheme {scheme!r} is not a valid URL scheme; a scheme is a letter followed "
                    "by letters, digits, '+', '-' or '.', such as 'https'"
                )
            new_scheme = scheme.lower()

        new_userinfo = self.userinfo
        if not isinstance(username, _Unset) or not isinstance(password, _Unset):
            user = self.username if isinstance(username, _Unset) else username
            secret = self.password if isinstance(password, _Unset) else password
            new_userinfo = _encode_literal(user, _USERNAME_UNSAFE)
            if secret:
                new_userinfo += ":" + _encode_literal(secret, _USERINFO_UNSAFE)

        new_host = self.host
        has_authority = self._has_authority
        if not isinstance(host, _Unset):
            _reject_forbidden(host, "host")
            if host.startswith("[") and host.endswith("]"):
                new_host = _parse_ipv6(host[1:-1], source)
            elif ":" in host:
                new_host = _parse_ipv6(host.replace("%", "%25", 1), source)
            else:
                new_host = _parse_host(host, source)
            has_authority = True

        new_port = self.port
        if not isinstance(port, _Unset):
            if port is not None and not (
                isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535
            ):
                raise InvalidURL(f"port {port!r} is not a valid TCP port; use an int in 0-65535")
            new_port = port

        new_path = self.path
        if not isinstance(path, _Unset):
            _reject_forbidden(path, "path")
            new_path = _encode(path, _PATH_SAFE, _PATH_UNSAFE, source)
            if has_authority and new_path and not new_path.startswith("/"):
                raise InvalidURL(
                    f"path {path!r} does not start with '/'; a URL with a host needs an "
                    "absolute path, such as '/' + your path"
                )
            if new_scheme and ("/." in new_path or new_path[:1] == "."):
                new_path = _remove_dot_segments(new_path)

        has_query, new_query = self._has_query, self.query
        if not isinstance(query, _Unset):
            _reject_forbidden(query, "query")
            new_query = _encode(query.removeprefix("?"), _QUERY_SAFE, _QUERY_UNSAFE, source)
            has_query = bool(new_query)

        new_fragment = self.fragment
        if not isinstance(fragment, _Unset):
            _reject_forbidden(fragment, "fragment")
            new_fragment = _encode(fragment, _QUERY_SAFE, _QUERY_UNSAFE, source)

        return _assemble(
            scheme=new_scheme,
            has_authority=has_authority,
            userinfo=new_userinfo,
            host=new_host,
            port=new_port,
            path=new_path,
            has_query=has_query,
            query=new_query,
            fragment=new_fragment,
            source=source,
        )

    def copy_merge_params(self, params: QueryParamTypes) -> URL:
        """A new URL with ``params`` appended to the query.

        Existing parameters are kept, and a key already present is appended again rather than
        replaced: ``URL("/s?a=1").copy_merge_params({"a": 2})`` is ``/s?a=1&a=2``. Build the
        query you want and use ``copy_with(query=...)`` to replace instead.
        """
        extra = encode_params(params)
        if not extra:
            return self
        query = f"{self.query}&{extra}" if self.query else extra
        return _assemble(
            scheme=self.scheme,
            has_authority=self._has_authority,
            userinfo=self.userinfo,
            host=self.host,
            port=self.port,
            path=self.path,
            has_query=True,
            query=query,
            fragment=self.fragment,
            source=str(self),
        )


def _parse(url: str) -> URL:
    """Parse and validate ``url`` (no cache); see :class:`URL`."""
    if not url:
        raise InvalidURL(
            "URL is empty; pass an absolute URL such as 'https://example.com/path' "
            "or a relative reference such as '/path'"
        )
    # For ASCII text, isprintable() is exactly "no control character" (three C calls, cheaper
    # than one regex search); non-ASCII text takes the regex.
    if not (url.isascii() and url.isprintable() and " " not in url):
        forbidden = _FORBIDDEN.search(url)
        if forbidden is not None:
            char = forbidden.group()
            name = _FORBIDDEN_NAMES.get(char, f"the control character {char!r}")
            raise InvalidURL(
                f"URL {redact_url(url)!r} contains {name} at position {forbidden.start()}; "
                "remove whitespace and control characters (percent-encode them, e.g. a space "
                "as %20, if they belong in the path or query)"
            )

    # Split in the order RFC 3986 appendix B does: fragment, query, scheme, authority.
    rest = url
    fragment = ""
    hash_at = rest.find("#")
    if hash_at >= 0:
        fragment = rest[hash_at + 1 :]
        rest = rest[:hash_at]
    query = ""
    has_query = False
    question_at = rest.find("?")
    if question_at >= 0:
        query = rest[question_at + 1 :]
        rest = rest[:question_at]
        has_query = True
    scheme = ""
    colon_at = rest.find(":")
    if colon_at >= 0 and "/" not in rest[:colon_at]:
        candidate = rest[:colon_at]
        scheme = _COMMON_SCHEMES.get(candidate, "")
        if not scheme and _SCHEME.fullmatch(candidate) is None:
            # Not a scheme, so this would be a relative path whose first segment holds a
            # ":", which RFC 3986 forbids; most often a missing "http://".
            raise InvalidURL(
                f"URL {redact_url(url)!r} does not start with a valid scheme ({candidate!r} "
                "is not one); write the scheme first, as in 'http://host:port/path', or "
                "start a relative path with './'"
            )
        if not scheme:
            scheme = candidate.lower()
        rest = rest[colon_at + 1 :]

    userinfo = ""
    host = ""
    port: int | None = None
    has_authority = rest.startswith("//")
    if has_authority:
        slash_at = rest.find("/", 2)
        if slash_at < 0:
            authority = rest[2:]
            path = ""
        else:
            authority = rest[2:slash_at]
            path = rest[slash_at:]
        if "\\" in authority:
            # A backslash is where parsers disagree (browsers read it as "/"), which makes
            # it a classic way to point one URL at two different hosts.
            raise InvalidURL(
                f"URL {redact_url(url)!r} has a backslash in its host part; use '/' to "
                "separate the path, or percent-encode it (%5C) in a username or password"
            )
        at_at = authority.rfind("@")
        if at_at >= 0:
            userinfo = _encode(authority[:at_at], _USERINFO_SAFE, _USERINFO_UNSAFE, url)
            authority = authority[at_at + 1 :]
        if authority.startswith("["):
            close_at = authority.find("]")
            if close_at < 0:
                raise InvalidURL(
                    f"URL {redact_url(url)!r} has an IPv6 address without its closing ']'; "
                    "write it as '[address]', as in 'http://[::1]:8080/'"
                )
            host = _parse_ipv6(authority[1:close_at], url)
            after = authority[close_at + 1 :]
            if after:
                if after[0] != ":":
                    raise InvalidURL(
                        f"URL {redact_url(url)!r} has {after!r} after the IPv6 address; only "
                        "':port' may follow the closing ']'"
                    )
                port = _parse_port(after[1:], url)
        else:
            host_text, _, port_text = authority.partition(":")
            host = _parse_host(host_text, url)
            # The common case inline; _parse_port has the rules and the messages.
            if port_text.isdigit() and len(port_text) < 5 and port_text.isascii():
                port = int(port_text)
            elif port_text:
                port = _parse_port(port_text, url)
    else:
        path = rest

    if path:
        path = _encode(path, _PATH_SAFE, _PATH_UNSAFE, url)
        # Dot segments are resolved only in absolute URLs: a relative reference keeps them
        # until it is joined to a base (RFC 3986 section 5.2).
        if scheme and ("/." in path or path[0] == "."):
            path = _remove_dot_segments(path)
    if query:
        query = _encode(query, _QUERY_SAFE, _QUERY_UNSAFE, url)
    if fragment:
        fragment = _encode(fragment, _QUERY_SAFE, _QUERY_UNSAFE, url)
    return _assemble(
        scheme=scheme,
        has_authority=has_authority,
        userinfo=userinfo,
        host=host,
        port=port,
        path=path,
        has_query=has_query,
        query=query,
        fragment=fragment,
        source=url,
    )
