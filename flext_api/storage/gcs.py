"""Google Cloud Storage: :class:`GCSStorage` (blocking) and :class:`AsyncGCSStorage` (asyncio and
trio), service-account credentials and V4 signed URLs.

See :mod:`flext_api.storage._async.gcs` for how uploads, downloads and auth work. Signing needs
``cryptography`` (``pip install flext-api[storage-gcs]``).
"""

from __future__ import annotations

from flext_api.storage._async.gcs import AsyncGCSStorage
from flext_api.storage._gcs_auth import (
    READ_WRITE_SCOPE,
    InvalidCredentials,
    ServiceAccountCredentials,
    ServiceAccountFlow,
)
from flext_api.storage._gcs_signing import SignedURLParts, sign_url_v4
from flext_api.storage._sync.gcs import GCSStorage

__all__ = [
    "READ_WRITE_SCOPE",
    "AsyncGCSStorage",
    "GCSStorage",
    "InvalidCredentials",
    "ServiceAccountCredentials",
    "ServiceAccountFlow",
    "SignedURLParts",
    "sign_url_v4",
]
