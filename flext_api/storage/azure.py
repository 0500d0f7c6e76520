"""Azure Blob Storage backends: :class:`AzureBlobStorage` (blocking) and
:class:`AsyncAzureBlobStorage` (asyncio and trio), registered as the ``azure`` storage kind.

Shared Key and SAS signing, connection strings (``UseDevelopmentStorage=true`` for Azurite)
and block-blob uploads are documented on the classes and in ``docs/storage.md``.
"""

from __future__ import annotations

from flext_api.storage._async.azure import AsyncAzureBlobStorage
from flext_api.storage._azure_auth import SERVICE_VERSION, AzureCredentials, account_sas, blob_sas
from flext_api.storage._azure_config import (
    AZURITE_ACCOUNT_KEY,
    AZURITE_ACCOUNT_NAME,
    AzureConnection,
    parse_connection_string,
)
from flext_api.storage._sync.azure import AzureBlobStorage

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "SERVICE_VERSION",
    "AsyncAzureBlobStorage",
    "AzureBlobStorage",
    "AzureConnection",
    "AzureCredentials",
    "account_sas",
    "blob_sas",
    "parse_connection_string",
]
