"""moto's server, taught to authenticate presigned S3 URLs (run as a script: the arguments
are moto.server's).

With its authentication on, moto checks the ``Authorization`` header of every S3 request
with botocore's signer but fails (500) on a request that carries its signature in the query
instead. Here such a request is checked the same way: botocore's ``S3SigV4QueryAuth``
presigns the same method, path, query and host with the key the URL names, at the time the
URL says it was signed, and the signatures must be equal; an expired URL is refused too.
A request whose ``x-amz-content-sha256`` names a digest is refused unless the body it carried
has that digest, as S3 does (moto trusts the header): every upload test checks the payload
hashes the client computed. Everything else is moto's own.
"""

from __future__ import annotations

import hashlib
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.auth import S3SigV4QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from moto.iam import access_control
from moto.server import main

_original_init = access_control.IAMRequestBase.__init__
_original_check = access_control.IAMRequestBase.check_signature
_SIGNING = {
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
}


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    names = ("account_id", "method", "path", "data", "body", "headers", "action")
    given = {**dict(zip(names, args, strict=False)), **kwargs}
    path: str = given["path"]
    headers: Any = given["headers"]
    query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    self._presigned = None
    if "Authorization" not in headers and "X-Amz-Signature" in query:
        self._presigned = query
        headers = dict(headers)
        given["headers"] = headers
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={query['X-Amz-Credential']}, "
            f"SignedHeaders={query.get('X-Amz-SignedHeaders', '')}, "
            f"Signature={query['X-Amz-Signature']}"
        )
    _original_init(self, **given)


def _check_signature(self: Any) -> None:
    query = self._presigned
    if query is None:
        _original_check(self)
        _check_payload(self)
        return
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    expires = int(query["X-Amz-Expires"])
    if datetime.now(UTC).replace(tzinfo=None) > signed_at + timedelta(seconds=expires):
        self._raise_access_denied()
    parts = urlsplit(self._path)
    kept = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in _SIGNING
    ]
    host = self._headers.get("Host") or self._headers.get("host")
    url = f"http://{host}{parts.path}" + (f"?{urlencode(kept)}" if kept else "")
    signed = query.get("X-Amz-SignedHeaders", "host").split(";")
    sent = {name.lower(): value for name, value in self._headers.items()}
    headers = {name: sent[name] for name in signed if name != "host" and name in sent}
    request = AWSRequest(method=self._method, url=url, headers=headers)
    credentials = self._access_key.create_credentials()
    auth = S3SigV4QueryAuth(credentials, self._service, self._region, expires=expires)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        auth.add_auth(request)
    expected = dict(parse_qsl(urlsplit(request.url).query))["X-Amz-Signature"]
    if expected != query["X-Amz-Signature"]:
        self._raise_signature_does_not_match()


def _check_payload(self: Any) -> None:
    sent = {name.lower(): value for name, value in self._headers.items()}
    digest = sent.get("x-amz-content-sha256", "")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        return  # UNSIGNED-PAYLOAD or the chunked signature's marker
    body = self._body if isinstance(self._body, bytes) else str(self._body or "").encode()
    if hashlib.sha256(body).hexdigest() != digest:
        self._raise_signature_does_not_match()


setattr(access_control.IAMRequestBase, "__init__", _init)  # noqa: B010 (patching moto)
setattr(access_control.IAMRequestBase, "check_signature", _check_signature)  # noqa: B010

if __name__ == "__main__":
    main(sys.argv[1:])
