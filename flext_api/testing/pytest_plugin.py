"""pytest fixtures of the testing kit (registered through the ``pytest11`` entry point).

- ``flext_mock``: a fresh :class:`~flext_api.testing.MockRouter`; at teardown the test fails
  if a request matched no route or a handler raised.
- ``flext_loopback``: a started :class:`~flext_api.testing.LoopbackServer` on ``flext_mock``.

Both are plain (synchronous) fixtures, so they serve sync tests, anyio's plugin
(``@pytest.mark.anyio``) and pytest-trio alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flext_api.testing._loopback import LoopbackServer
from flext_api.testing._router import MockRouter

__all__ = ["flext_loopback", "flext_mock"]


@pytest.fixture
def flext_mock() -> Iterator[MockRouter]:
    """A router for ``mock_client(flext_mock)``; unmatched requests fail the test."""
    router = MockRouter()
    yield router
    router.check()


@pytest.fixture
def flext_loopback(flext_mock: MockRouter) -> Iterator[LoopbackServer]:
    """``flext_mock`` served on 127.0.0.1 (``flext_loopback.url``)."""
    with LoopbackServer(flext_mock) as server:
        yield server
