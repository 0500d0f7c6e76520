"""The ``http`` protocol: one request, one response, through a :class:`FlextApiClient`."""

from __future__ import annotations

from typing import ClassVar

from flext_api._exceptions import FlextApiError
from flext_api._models import Request, Response
from flext_api._result import Failure, Success
from flext_api.protocols import BaseProtocol

__all__ = ["HTTPProtocol"]


class HTTPProtocol(BaseProtocol):
    """Plain HTTP: ``execute_request(request)`` sends a built :class:`flext_api.Request`."""

    name: ClassVar[str] = "http"

    def execute_request(self, request: Request) -> Success[Response] | Failure[FlextApiError]:
        return self.client.request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content if request.stream is None else request.stream,
            timeout=request.timeout,
        )
