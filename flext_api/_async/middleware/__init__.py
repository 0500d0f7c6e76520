"""The middleware pipeline: a chain of handlers around the transport, one module per policy.

``chain`` holds the contract (:class:`AsyncMiddleware`: a layer never mutates the request it
receives) and the composition; ``hooks``, ``retry``, ``circuit``, ``redirects``, ``cookies``,
``auth`` and ``oauth2`` hold one policy each, mirroring ``flext_api._sansio``. Decisions come
from ``_sansio``; these modules only act on them: sleep, call again, count. None holds a lock
across an await.
"""

from flext_api._async.middleware.auth import (
    AsyncApiKeyMiddleware,
    AsyncDigestAuthMiddleware,
    AsyncHeaderAuthMiddleware,
)
from flext_api._async.middleware.chain import (
    AsyncCallNext,
    AsyncMiddleware,
    Outcome,
    R,
    ResponseLike,
    build_chain,
    derive,
    discard,
    replayable,
    streams,
    with_header,
)
from flext_api._async.middleware.circuit import AsyncCircuitBreakerMiddleware
from flext_api._async.middleware.cookies import AsyncCookieMiddleware
from flext_api._async.middleware.hooks import (
    AsyncErrorTransformer,
    AsyncRequestInterceptor,
    AsyncResponseProcessor,
)
from flext_api._async.middleware.oauth2 import AsyncOAuth2Middleware
from flext_api._async.middleware.redirects import AsyncRedirectMiddleware
from flext_api._async.middleware.retry import AsyncRetryMiddleware

__all__ = [
    "AsyncApiKeyMiddleware",
    "AsyncCallNext",
    "AsyncCircuitBreakerMiddleware",
    "AsyncCookieMiddleware",
    "AsyncDigestAuthMiddleware",
    "AsyncErrorTransformer",
    "AsyncHeaderAuthMiddleware",
    "AsyncMiddleware",
    "AsyncOAuth2Middleware",
    "AsyncRedirectMiddleware",
    "AsyncRequestInterceptor",
    "AsyncResponseProcessor",
    "AsyncRetryMiddleware",
    "Outcome",
    "R",
    "ResponseLike",
    "build_chain",
    "derive",
    "discard",
    "replayable",
    "streams",
    "with_header",
]
