"""CORS for the server stack: Starlette's CORS rules, with refusals in the JSON error shape.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) that asks for
an origin, method or headers the configuration does not allow is a 400
``CORS_PREFLIGHT_REJECTED`` whose ``details.refused`` lists what was refused (``origin``,
``method``, ``headers``, ``private-network``); Starlette answers it in plain text. The
decision itself stays Starlette's. This module must never loosen a CORS decision: it only
changes how a refusal is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from flext_api.server.errors import RequestRejected, error_response

if TYPE_CHECKING:
    from starlette.datastructures import Headers

__all__ = ["CORSRejected", "FlextCORSMiddleware"]

_REFUSAL_PREFIX = "Disallowed CORS "
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class CORSRejected(RequestRejected):
    """A CORS preflight asked for something the server's CORS settings do not allow."""

    code = "CORS_PREFLIGHT_REJECTED"
    default_status = 400


class FlextCORSMiddleware(CORSMiddleware):
    """Starlette's ``CORSMiddleware`` (same arguments) answering refused preflights in JSON.

    The refusal keeps the CORS headers Starlette computed (``Vary``, the allowed methods and
    headers), so a developer can still read what the server allows.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        text = bytes(response.body).decode("latin-1")
        refused: list[str] = []
        if text.startswith(_REFUSAL_PREFIX):  # "Disallowed CORS origin, headers"
            refused = text.removeprefix(_REFUSAL_PREFIX).split(", ")
        error = CORSRejected(
            f"CORS preflight refused: the requested {', '.join(refused) or 'request'} is not "
            "allowed by this server's CORS settings (cors_origins, cors_allow_methods, "
            "cors_allow_headers)",
            details={"refused": refused},
            headers={
                name: value
                for name, value in response.headers.items()
                if name.lower() not in _BODY_HEADERS
            },
        )
        return error_response(error)
