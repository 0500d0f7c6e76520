"""Azure Storage connection strings, parsed without I/O.

A connection string is ``Key=Value`` pairs joined by ``;`` (keys case-insensitive). The forms
understood here:

* ``DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=KEY[;EndpointSuffix=SUFFIX]``:
  the blob endpoint is ``https://NAME.blob.SUFFIX`` (suffix ``core.windows.net`` by default);
* ``BlobEndpoint=URL`` with ``AccountName``/``AccountKey`` or ``SharedAccessSignature=TOKEN``
  (an explicit endpoint: an emulator, a custom domain);
* ``UseDevelopmentStorage=true`` (optionally ``DevelopmentStorageProxyUri=URL``): the local
  emulator's well-known account ``devstoreaccount1`` on ``http://127.0.0.1:10000``, path-style.

The account key is never echoed in an error message, and never kept outside a :class:`Secret`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from flext_api._sansio.auth import Secret
from flext_api.storage._azure_auth import AzureAuthError, AzureCredentials

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AzureConnection",
    "parse_connection_string",
]

# The development account every Azure Storage emulator accepts; the key is public by design.
AZURITE_ACCOUNT_NAME: Final = "devstoreaccount1"
AZURITE_ACCOUNT_KEY: Final = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_AZURITE_BLOB_PORT: Final = 10000


@dataclass(frozen=True, slots=True)
class AzureConnection:
    """Where a blob service is (``blob_endpoint``, no trailing ``/``) and how to sign for it.

    Exactly one of ``credentials`` (Shared Key) and ``sas_token`` (a SAS query string, no ``?``)
    is set.
    """

    blob_endpoint: str
    credentials: AzureCredentials | None = None
    sas_token: Secret | None = None


_KNOWN_KEYS: Final = {
    "defaultendpointsprotocol",
    "accountname",
    "accountkey",
    "endpointsuffix",
    "blobendpoint",
    "sharedaccesssignature",
    "usedevelopmentstorage",
    "developmentstorageproxyuri",
    # Endpoints of the other services: accepted and ignored.
    "queueendpoint",
    "tableendpoint",
    "fileendpoint",
    "blobsecondaryendpoint",
    "queuesecondaryendpoint",
    "tablesecondaryendpoint",
    "filesecondaryendpoint",
}


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for raw in text.split(";"):
        part = raw.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        key = name.strip().lower()
        if not sep or not key:
            raise AzureAuthError(
                f"connection string part {name.strip()[:40]!r} is not Key=Value: copy the whole "
                "string from the storage account's Access keys"
            )
        if key not in _KNOWN_KEYS:
            raise AzureAuthError(f"unknown connection string key {name.strip()!r}")
        if key in pairs:
            raise AzureAuthError(f"connection string key {name.strip()!r} is given twice")
        pairs[key] = value.strip()
    return pairs


def parse_connection_string(text: str) -> AzureConnection:
    """Parse an Azure Storage connection string; :class:`AzureAuthError` names what is wrong."""
    pairs = _pairs(text)
    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        proxy = pairs.get("developmentstorageproxyuri")
        base = (proxy or "http://127.0.0.1").rstrip("/")
        return AzureConnection(
            blob_endpoint=f"{base}:{_AZURITE_BLOB_PORT}/{AZURITE_ACCOUNT_NAME}",
            credentials=AzureCredentials(AZURITE_ACCOUNT_NAME, Secret(AZURITE_ACCOUNT_KEY)),
        )
    name = pairs.get("accountname", "")
    key = pairs.get("accountkey", "")
    sas = pairs.get("sharedaccesssignature", "").lstrip("?")
    endpoint = pairs.get("blobendpoint", "").rstrip("/")
    if not endpoint:
        if not name:
            raise AzureAuthError("the connection string has neither BlobEndpoint nor AccountName")
        scheme = pairs.get("defaultendpointsprotocol", "https").lower()
        if scheme not in ("http", "https"):
            raise AzureAuthError(f"DefaultEndpointsProtocol {scheme!r}: use https (or http)")
        suffix = pairs.get("endpointsuffix", "core.windows.net").strip(".")
        endpoint = f"{scheme}://{name}.blob.{suffix}"
    elif not endpoint.startswith(("http://", "https://")):
        raise AzureAuthError(f"BlobEndpoint {endpoint!r} must be an http(s) URL")
    if key and sas:
        raise AzureAuthError("give AccountKey or SharedAccessSignature, not both")
    if key:
        if not name:
            raise AzureAuthError("AccountKey needs AccountName beside it")
        return AzureConnection(endpoint, credentials=AzureCredentials(name, Secret(key)))
    if sas:
        return AzureConnection(endpoint, sas_token=Secret(sas))
    raise AzureAuthError(
        "the connection string has no AccountKey and no SharedAccessSignature: nothing to sign with"
    )
