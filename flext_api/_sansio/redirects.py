"""Redirect decisions without I/O: where a 3xx response sends the next request, and how.

``next_request_for_redirect`` reads a response's status and ``Location`` and returns a
``RedirectPlan`` (method, absolute URL, whether to drop the body, which headers to drop), a
``RedirectError`` value when the redirect must not be followed, or ``None`` when the response
is not a redirect to follow. ``RedirectTracker`` adds the per-call limit and history. Nothing
here does I/O; the shell builds the next request from the plan.

What must never happen:

* Credentials leaving their origin: across origins ``Authorization``, ``Cookie`` and any header
  the caller names sensitive (API-key headers) are dropped; the cookie jar then adds the cookies
  that belong to the new origin. The one exception is an upgrade of the same host from http on
  port 80 to https on port 443: the credentials only gain protection.
* An https request silently continuing over http: refused with ``RedirectDowngrade`` unless the
  caller allows it.
* A redirect to a scheme other than http(s) (``file:``, ``javascript:``...): refused.

Method and body rules (RFC 9110 section 15.4):

======  =================================================  ==========================
status  method                                             body
======  =================================================  ==========================
301     POST becomes GET (what every user agent does);     dropped when it became GET
302     any other method is kept
303     every method but HEAD becomes GET                  dropped (HEAD has none)
307     kept                                               kept (replayed)
308     kept                                               kept (replayed)
======  =================================================  ==========================

When the body is dropped, the headers that described it go too (``Content-Type``,
``Content-Length``, ``Transfer-Encoding``, ``Content-Encoding``). A ``Location`` without a
fragment inherits the request's fragment (RFC 9110 section 10.2.2).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from flext_api._exceptions import (
    InvalidRedirectLocation,
    InvalidURL,
    RedirectDowngrade,
    RedirectError,
    TooManyRedirects,
)
from flext_api._headers import Headers
from flext_api._urls import URL

__all__ = [
    "REDIRECT_STATUSES",
    "RedirectPlan",
    "RedirectTracker",
    "next_request_for_redirect",
]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS: Final = ("content-type", "content-length", "transfer-encoding", "content-encoding")
_CREDENTIAL_HEADERS: Final = ("authorization", "cookie")
_HTTP_SCHEMES: Final = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class RedirectPlan:
    """The next request of a redirect chain.

    ``headers_to_drop`` are lowercased names to remove from the previous request's headers;
    ``host`` is always among them when the origin changes (the shell sets the new one).
    ``cross_origin`` tells the shell to re-run per-origin work (cookies, auth for the new host).
    """

    method: str
    url: URL
    drop_body: bool
    headers_to_drop: tuple[str, ...]
    cross_origin: bool


def _location_text(location: str) -> str:
    # Headers decodes values as latin-1; servers that put raw UTF-8 in Location meant UTF-8.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        location = location.encode("latin-1").decode("utf-8")
    # An inner space is a server's sloppy spelling of %20 (browsers accept it); other control
    # characters stay and are refused by URL.
    return location.replace(" ", "%20")


def _safe(url: URL) -> str:
    """The URL for an error's ``url`` field, without its userinfo (a password never travels
    in an error)."""
    return str(url.copy_with(username="", password="")) if url.userinfo else str(url)


def _keeps_credentials(old: URL, new: URL) -> bool:
    if old.origin == new.origin:
        return True
    # http://host(:80) -> https://host(:443): same host, credentials gain TLS.
    return (
        old.scheme == "http"
        and new.scheme == "https"
        and old.host == new.host
        and old.effective_port == 80
        and new.effective_port == 443
    )


def next_request_for_redirect(
    request_method: str,
    request_url: URL,
    response_status: int,
    location_header: str | None,
    request_headers: Headers,
    *,
    allow_downgrade: bool = False,
    sensitive_headers: Iterable[str] = (),
) -> RedirectPlan | RedirectError | None:
    """The plan for following a redirect, an error value, or None (not a redirect).

    ``sensitive_headers`` names extra headers that carry credentials (an API-key header) and so
    must not follow the request to another origin.
    """
    if response_status not in REDIRECT_STATUSES or location_header is None:
        return None
    location = _location_text(location_header.strip())
    if not location:
        return InvalidRedirectLocation(
            f"{request_url!r} answered {response_status} with an empty Location; "
            "the server's redirect is broken",
            url=_safe(request_url),
        )
    try:
        target = request_url.join(location)
        has_fragment = bool(URL(location).fragment)
    except InvalidURL as exc:
        error = InvalidRedirectLocation(
            f"{request_url!r} answered {response_status} with a Location that is not a valid "
            f"URL: {exc}",
            url=_safe(request_url),
        )
        error.__cause__ = exc
        return error
    if target.scheme not in _HTTP_SCHEMES:
        return InvalidRedirectLocation(
            f"{request_url!r} redirected to a {target.scheme!r} URL; only http and https "
            "redirects are followed",
            url=_safe(request_url),
        )
    if request_url.scheme == "https" and target.scheme == "http" and not allow_downgrade:
        return RedirectDowngrade(
            f"{request_url!r} redirected to {target!r}, from https to plain http; refused so "
            "that the request is not sent unencrypted. Pass allow_downgrade=True to follow it",
            url=_safe(request_url),
        )
    if not has_fragment and request_url.fragment:
        target = target.copy_with(fragment=request_url.fragment)

    method = request_method.upper()
    if (response_status == 303 and method != "HEAD") or (
        response_status in (301, 302) and method == "POST"
    ):
        method = "GET"
    drop_body = method != request_method.upper() or (response_status == 303)

    to_drop: list[str] = []
    if drop_body:
        to_drop.extend(name for name in _BODY_HEADERS if name in request_headers)
    cross_origin = target.origin != request_url.origin
    if cross_origin:
        to_drop.append("host")
    if not _keeps_credentials(request_url, target):
        for name in (*_CREDENTIAL_HEADERS, *(n.lower() for n in sensitive_headers)):
            if name in request_headers and name not in to_drop:
                to_drop.append(name)
    return RedirectPlan(method, target, drop_body, tuple(to_drop), cross_origin)


@dataclass(slots=True)
class RedirectTracker:
    """One call's redirect chain: the limit and the URLs visited (``history``, oldest first,
    the original request URL included)."""

    max_redirects: int = 20
    allow_downgrade: bool = False
    sensitive_headers: tuple[str, ...] = ()
    history: list[URL] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.max_redirects, bool) or self.max_redirects < 0:
            raise ValueError("max_redirects must be an int >= 0")

    @property
    def redirects(self) -> int:
        return max(0, len(self.history) - 1)

    def follow(
        self,
        request_method: str,
        request_url: URL,
        response_status: int,
        location_header: str | None,
        request_headers: Headers,
    ) -> RedirectPlan | RedirectError | TooManyRedirects | None:
        """Like ``next_request_for_redirect``, counting hops: past ``max_redirects`` the
        answer is a ``TooManyRedirects`` value naming the first and last URL."""
        if not self.history:
            self.history.append(request_url)
        plan = next_request_for_redirect(
            request_method,
            request_url,
            response_status,
            location_header,
            request_headers,
            allow_downgrade=self.allow_downgrade,
            sensitive_headers=self.sensitive_headers,
        )
        if not isinstance(plan, RedirectPlan):
            return plan
        if self.redirects >= self.max_redirects:
            return TooManyRedirects(
                f"{self.history[0]!r} redirected more than {self.max_redirects} times "
                f"(last to {plan.url!r}); the server may be looping. Raise max_redirects "
                "or call the final URL directly",
                url=_safe(self.history[0]),
            )
        self.history.append(plan.url)
        return plan
