"""Amazon S3 and S3-compatible object stores: :class:`S3Storage` (blocking) and
:class:`AsyncS3Storage` (asyncio and trio), on flext-api's own HTTP client with SigV4 signing.
See :class:`AsyncS3Storage` for the options."""

from __future__ import annotations

from flext_api.storage._async.s3 import AsyncS3Storage
from flext_api.storage._sync.s3 import S3Storage

__all__ = ["AsyncS3Storage", "S3Storage"]
