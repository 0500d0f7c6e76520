"""A testing kit for code that uses flext-api: mock the network, assert on what was sent.

- :class:`MockRouter`: routes ``(method, path template)`` to a :class:`MockResponse`, a list
  of them (served in turn) or a function of the :class:`RecordedRequest`; records every
  request; ``assert_called``, ``assert_not_called``, ``assert_all_called``.
- ``router.client(...)`` / ``router.async_client(...)``: a client whose network is the router
  (no socket; sync, asyncio and trio). The whole client stack runs, HTTP/1.1 framing included.
- ``mock_transport(router)`` / ``mock_async_transport(router)``: the router as the end of a
  middleware chain, for unit tests of pipeline logic (no bytes at all).
- :class:`LoopbackServer`: the same router behind a real 127.0.0.1 socket.
- A pytest plugin (``flext_api.testing.pytest_plugin``, registered by the distribution) with
  the fixtures ``flext_mock`` (a router that fails the test at teardown if a request matched
  no route or a handler raised) and ``flext_loopback`` (a started server on that router).

Generated SDKs ship ``testing.py`` with a ready mock of their client built on this kit.
"""

from __future__ import annotations

from typing import Any

from flext_api._async.client import AsyncFlextApiClient
from flext_api._sync.client import FlextApiClient
from flext_api.testing._loopback import LoopbackServer
from flext_api.testing._network import AsyncMockBackend, MockBackend
from flext_api.testing._router import MockResponse, MockRouter, RecordedRequest, Route
from flext_api.testing._transport import mock_async_transport, mock_transport

__all__ = [
    "AsyncMockBackend",
    "LoopbackServer",
    "MockBackend",
    "MockResponse",
    "MockRouter",
    "RecordedRequest",
    "Route",
    "mock_async_client",
    "mock_async_transport",
    "mock_client",
    "mock_transport",
]


def mock_client(router: MockRouter, **kwargs: Any) -> FlextApiClient:
    """A blocking client whose connections reach ``router`` (``base_url`` defaults to
    ``http://mock.test``); other keywords go to :class:`FlextApiClient`."""
    kwargs.setdefault("base_url", "http://mock.test")
    return FlextApiClient(backend=router.backend(), trust_env=False, **kwargs)


def mock_async_client(router: MockRouter, **kwargs: Any) -> AsyncFlextApiClient:
    """The async twin of :func:`mock_client` (asyncio and trio)."""
    kwargs.setdefault("base_url", "http://mock.test")
    return AsyncFlextApiClient(backend=router.async_backend(), trust_env=False, **kwargs)
