"""Which proxy a request goes through: proxy URLs, ``NO_PROXY`` rules, per-origin selection.

Job: parse what users configure (``proxy=``, ``proxies={pattern: proxy}``, the ``HTTP_PROXY``
family of environment variables) into a :class:`ProxyRouter` once, at client construction,
and answer "which :class:`Proxy`, if any, for this origin?" per request without I/O.

Never: read ``os.environ`` itself (the caller passes a mapping, so tests pass a dict), resolve
a host name (``NO_PROXY`` matches names and IP literals as written), or put a proxy password
in a ``repr``, an error message or a log line: credentials live only in the
``Proxy-Authorization`` header bytes.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
from collections.abc import Mapping
from typing import Final

from flext_api._exceptions import InvalidURL
from flext_api._headers import Headers, HeaderTypes
from flext_api._sansio import socks
from flext_api._urls import URL

__all__ = [
    "NoProxy",
    "Proxy",
    "ProxyRouter",
    "ProxyTypes",
    "build_router",
    "proxy_routes_from_env",
]

Origin = tuple[str, str, int]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_PROXY_SCHEMES: Final = frozenset({"http", "https", "socks5", "socks5h"})
_SOCKS_SCHEMES: Final = frozenset({"socks5", "socks5h"})
_SOCKS_PORT: Final = 1080
_PATTERN_SCHEMES: Final = frozenset({"http", "https", "all"})


class Proxy:
    """A forward proxy: ``Proxy("http://user:pass@proxy.internal:3128", headers={...})``.

    ``socks5://`` (or ``socks5h://``, the same here) proxies tunnel every connection, http
    origins included; the destination name is resolved by the proxy (remote DNS). Their
    credentials (``socks5://user:pass@host``, port 1080 by default) are RFC 1929's, sent only
    when the proxy asks.

    ``http://`` proxies are spoken to in clear text; ``https://`` proxies over TLS, verified like
    any server (the client's ``verify=``). Credentials in the URL's userinfo become a
    ``Proxy-Authorization: Basic`` header and are removed from ``url``; ``headers`` are sent to
    the proxy only (on ``CONNECT`` and on forwarded requests), never to the origin.

    Two proxies with the same URL, credentials and headers are equal, so they share a pool.
    """

    __slots__ = ("_fields", "_key", "has_credentials", "is_socks", "socks_credentials", "url")

    def __init__(self, url: str | URL, *, headers: HeaderTypes | None = None) -> None:
        try:
            parsed = URL(url)
        except InvalidURL as exc:
            raise ValueError(f"invalid proxy URL: {exc}") from None
        if parsed.scheme not in _PROXY_SCHEMES:
            raise ValueError(
                f"proxy {parsed!r}: only http://, https:// and socks5:// (or socks5h://) "
                "proxies are supported "
                f"(not {parsed.scheme or 'a URL without scheme'!r})"
            )
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise ValueError(f"proxy {parsed!r}: a proxy URL has no path, query or fragment")
        fields: list[tuple[bytes, bytes, bytes]] = []
        self.has_credentials = bool(parsed.userinfo)
        self.is_socks = parsed.scheme in _SOCKS_SCHEMES
        self.socks_credentials: tuple[str, str] | None = None
        if self.is_socks:
            if headers is not None:
                raise ValueError(f"proxy {parsed!r}: a SOCKS proxy takes no headers")
            if parsed.port is None:
                parsed = parsed.copy_with(port=_SOCKS_PORT)
            if parsed.userinfo:
                # RFC 1929 username/password, sent only if the proxy asks for them.
                self.socks_credentials = (parsed.username, parsed.password)
                socks.auth_request(*self.socks_credentials)  # ValueError: too long for RFC 1929
                parsed = parsed.copy_with(username="", password="")
        elif parsed.userinfo:
            token = base64.b64encode(f"{parsed.username}:{parsed.password}".encode())
            fields.append((b"Proxy-Authorization", b"proxy-authorization", b"Basic " + token))
            parsed = parsed.copy_with(username="", password="")
        if headers is not None:
            fields += Headers(headers)._list
        self.url = parsed
        self._fields = fields
        self._key = (parsed.origin, tuple(fields), self.socks_credentials)

    @property
    def origin(self) -> Origin:
        """``(scheme, host, port)`` of the proxy itself."""
        return self.url.origin

    @property
    def header_fields(self) -> list[tuple[bytes, bytes, bytes]]:
        """The fields sent to the proxy, ``Proxy-Authorization`` first (a fresh list)."""
        return list(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        auth = ", auth=[secure]" if self.has_credentials else ""
        return f"Proxy({str(self.url).rstrip('/')!r}{auth})"


ProxyTypes = str | URL | Proxy
"""What ``proxy=`` and the values of ``proxies=`` take (``None`` in ``proxies=``: direct)."""


def _coerce(proxy: ProxyTypes) -> Proxy:
    if isinstance(proxy, Proxy):
        return proxy
    if isinstance(proxy, str | URL):
        return Proxy(proxy)
    raise TypeError(f"a proxy is a URL str or a flext_api.Proxy, not {type(proxy).__name__}")


# --- NO_PROXY ------------------------------------------------------------------------------


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None


class NoProxy:
    """Parsed ``NO_PROXY``: the hosts that bypass every proxy.

    Entries are separated by commas or white space, matched case-insensitively:

    * ``*`` alone: no request uses a proxy;
    * ``example.com`` and ``.example.com``: that domain and every name under it (curl's rule;
      ``*.example.com`` is read the same way);
    * ``10.1.2.3``, ``::1``: that IP literal; ``10.0.0.0/8``, ``fd00::/8``: a network (a host
      *name* is never resolved to check it);
    * any of these with ``:port`` (``[::1]:8080`` for IPv6): only that port.
    """

    __slots__ = ("_addresses", "_domains", "_everything", "_networks")

    def __init__(self, value: str) -> None:
        self._everything = False
        self._domains: list[tuple[str, int | None]] = []
        self._addresses: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int | None]]
        self._addresses = []
        self._networks: list[tuple[IPNetwork, int | None]] = []
        for entry in value.replace(",", " ").split():
            self._add(entry.lower())

    def _add(self, entry: str) -> None:
        if entry == "*":
            self._everything = True
            return
        host, port = entry, None
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = _port(rest[1:]) if rest.startswith(":") else None
        elif entry.count(":") == 1:
            name, _, digits = entry.partition(":")
            if digits.isdigit():
                host, port = name, _port(digits)
        address = _ip(host)
        if address is not None:
            self._addresses.append((address, port))
            return
        if "/" in host:
            # Not a network: an unusable entry is ignored, as curl does.
            with contextlib.suppress(ValueError):
                self._networks.append((ipaddress.ip_network(host, strict=False), port))
            return
        domain = host.removeprefix("*").lstrip(".").rstrip(".")
        if domain:
            self._domains.append((domain, port))

    def __bool__(self) -> bool:
        return self._everything or bool(self._domains or self._addresses or self._networks)

    def matches(self, host: str, port: int) -> bool:
        """Whether a request to ``host:port`` must go direct."""
        if self._everything:
            return True
        host = host.lower().rstrip(".")
        address = _ip(host)
        if address is not None:
            for ip, only in self._addresses:
                if ip == address and (only is None or only == port):
                    return True
            for network, only in self._networks:
                if address in network and (only is None or only == port):
                    return True
            return False
        for domain, only in self._domains:
            if (host == domain or host.endswith("." + domain)) and (only is None or only == port):
                return True
        return False


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) <= 65535 else None


# --- per-origin selection -----------------------------------------------------------------


class _Pattern:
    """One key of ``proxies=``: ``scheme://``, ``scheme://host`` or ``scheme://host:port``;
    ``all`` matches both schemes and ``*.example.com`` only names under example.com."""

    __slots__ = ("host", "port", "rank", "scheme", "subdomains", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"proxies= keys are str patterns such as 'https://', not {text!r}")
        scheme, sep, rest = text.partition("://")
        if not sep or scheme.lower() not in _PATTERN_SCHEMES:
            raise ValueError(
                f"proxies= key {text!r}: use 'http://', 'https://' or 'all://', optionally "
                "followed by a host and port ('https://api.example.com:8443')"
            )
        self.text = text
        self.scheme: str | None = None if scheme.lower() == "all" else scheme.lower()
        host, port = rest.rstrip("/").lower(), None
        if host.startswith("["):
            literal, _, tail = host[1:].partition("]")
            host, port = literal, _pattern_port(tail, text)
        elif ":" in host:
            host, _, digits = host.partition(":")
            port = _pattern_port(":" + digits, text)
        self.subdomains = host.startswith("*.")
        if host == "*":
            host = ""
        self.host = host[2:] if self.subdomains else host
        # Most specific first: a port, then an exact host, then a longer wildcard domain,
        # then a named scheme (over all://).
        self.rank = (
            port is not None,
            bool(self.host) and not self.subdomains,
            len(self.host),
            self.scheme is not None,
        )
        self.port = port

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if not self.host:
            return True
        if self.subdomains:
            return host.endswith("." + self.host)
        return host == self.host


def _pattern_port(tail: str, text: str) -> int | None:
    if not tail:
        return None
    digits = tail[1:]
    if not tail.startswith(":") or _port(digits) is None:
        raise ValueError(f"proxies= key {text!r} has an invalid port {digits!r}")
    return int(digits)


class ProxyRouter:
    """Chooses the proxy for each origin: ``NO_PROXY`` first, then the most specific pattern.

    Built once per client; :meth:`select` is a dict lookup after the first request to an
    origin (the answer for an origin never changes).
    """

    __slots__ = ("_cache", "_no_proxy", "_routes", "proxies")

    _CACHE_LIMIT: Final = 1024

    def __init__(
        self, routes: Mapping[str, ProxyTypes | None], no_proxy: NoProxy | None = None
    ) -> None:
        parsed = [
            (_Pattern(pattern), None if proxy is None else _coerce(proxy))
            for pattern, proxy in routes.items()
        ]
        parsed.sort(key=lambda item: item[0].rank, reverse=True)
        self._routes = parsed
        self._no_proxy = no_proxy if no_proxy else None
        self._cache: dict[Origin, Proxy | None] = {}
        # Every distinct proxy a request may use (each gets its own connection pool).
        self.proxies: list[Proxy] = list(dict.fromkeys(p for _, p in parsed if p is not None))

    def select(self, origin: Origin) -> Proxy | None:
        """The proxy for a request to ``origin`` (``(scheme, host, port)``), or ``None``."""
        try:
            return self._cache[origin]
        except KeyError:
            pass
        scheme, host, port = origin
        host = host.lower()
        chosen: Proxy | None = None
        if self._no_proxy is None or not self._no_proxy.matches(host, port):
            for pattern, proxy in self._routes:
                if pattern.matches(scheme, host, port):
                    chosen = proxy
                    break
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()
        self._cache[origin] = chosen
        return chosen

    def __repr__(self) -> str:
        routes = ", ".join(f"{pattern.text!r}: {proxy!r}" for pattern, proxy in self._routes)
        return f"ProxyRouter({{{routes}}})"


def _env(environ: Mapping[str, str], name: str) -> str:
    # The lowercase form wins, as in curl. Uppercase HTTP_PROXY is ignored under CGI, where
    # a client's "Proxy:" request header arrives as HTTP_PROXY ("httpoxy", CVE-2016-5385).
    value = environ.get(name.lower())
    if value is None and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
        value = environ.get(name)
    return (value or "").strip()


def _env_proxy(value: str) -> Proxy:
    # "proxy:3128" without a scheme means an http proxy (curl's reading).
    return Proxy(value if "://" in value else "http://" + value)


def proxy_routes_from_env(
    environ: Mapping[str, str],
) -> tuple[dict[str, ProxyTypes | None], NoProxy]:
    """``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case) as routes
    for :class:`ProxyRouter` and the bypass list. Unset or empty variables add nothing."""
    routes: dict[str, ProxyTypes | None] = {}
    for scheme, name in (("http", "HTTP_PROXY"), ("https", "HTTPS_PROXY"), ("all", "ALL_PROXY")):
        value = _env(environ, name)
        if value:
            routes[f"{scheme}://"] = _env_proxy(value)
    return routes, NoProxy(_env(environ, "NO_PROXY"))


def build_router(
    *,
    proxy: ProxyTypes | None,
    proxies: Mapping[str, ProxyTypes | None] | None,
    trust_env: bool,
    environ: Mapping[str, str],
) -> ProxyRouter | None:
    """The client's router, or ``None`` when every request goes direct (the fast path).

    An explicit ``proxy=`` or ``proxies=`` replaces the environment entirely (its
    ``NO_PROXY`` included: write ``None`` routes instead); otherwise, with ``trust_env``,
    the environment decides.
    """
    if proxy is not None and proxies is not None:
        raise ValueError(
            "pass either proxy= (one proxy for every request) or proxies= (per origin), not both"
        )
    no_proxy: NoProxy | None = None
    routes: Mapping[str, ProxyTypes | None]
    if proxy is not None:
        routes = {"all://": _coerce(proxy)}
    elif proxies is not None:
        if not isinstance(proxies, Mapping):
            raise TypeError("proxies= takes a mapping such as {'https://': 'http://proxy:3128'}")
        routes = proxies
    elif trust_env:
        routes, no_proxy = proxy_routes_from_env(environ)
    else:
        return None
    router = ProxyRouter(routes, no_proxy)
    return router if router.proxies else None
