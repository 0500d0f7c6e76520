"""Google Cloud Storage credentials without I/O: service-account keys and the JWT bearer grant.

A service-account key file (the JSON a console download gives) holds the account's e-mail, an
RSA private key and the token endpoint. To get an access token, the account signs a JWT
(RS256) naming itself, the scope and the token endpoint, and posts it to that endpoint as the
RFC 7523 ``jwt-bearer`` grant; the answer is an ordinary OAuth2 token response, read by
:func:`flext_api._sansio.auth.parse_token_response`. :class:`ServiceAccountFlow` has the
``token_request(state)`` shape of :class:`flext_api._sansio.auth.OAuth2Flow`, so the OAuth2
layer's single-flight refresh and 401 retry serve it unchanged.

RSA signing needs ``cryptography`` (the ``storage-gcs`` extra); it is imported when a key is
loaded, and its absence is a named failure, not an ``ImportError``.

This module must never read a clock (``clock`` is a parameter), touch a socket, or put the
private key or a token in a ``repr`` or an error message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from flext_api._exceptions import AuthError, TokenRefreshError
from flext_api._result import Failure, Success
from flext_api._sansio.auth import REDACTED, Secret, TokenRequest, TokenState
from flext_api._urls import URL

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "DEFAULT_TOKEN_URI",
    "JWT_BEARER_GRANT",
    "READ_WRITE_SCOPE",
    "InvalidCredentials",
    "RSASigner",
    "ServiceAccountCredentials",
    "ServiceAccountFlow",
    "jwt_assertion",
]

DEFAULT_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"
READ_WRITE_SCOPE: Final = "https://www.googleapis.com/auth/devstorage.read_write"
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google accepts assertions valid for at most one hour.
ASSERTION_LIFETIME: Final = 3600


class InvalidCredentials(AuthError):
    """A service-account key that cannot be used: unreadable, not JSON, a field missing, a
    private key that does not load, or ``cryptography`` not installed."""

    code = "INVALID_CREDENTIALS"


class RSASigner:
    """RSASSA-PKCS1-v1_5 with SHA-256 (JWT ``RS256``, ``GOOG4-RSA-SHA256``) over one key."""

    __slots__ = ("_key",)

    def __init__(self, key: RSAPrivateKey) -> None:
        self._key = key

    @classmethod
    def from_pem(cls, pem: Secret) -> Success[RSASigner] | Failure[InvalidCredentials]:
        try:
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
        except ImportError:
            return Failure(
                InvalidCredentials(
                    "signing with a service-account key needs the 'cryptography' package; "
                    "install flext-api[storage-gcs]"
                )
            )
        try:
            key = load_pem_private_key(pem.reveal().encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            # The library's message may quote the key material: name the field only.
            return Failure(
                InvalidCredentials(
                    "the service-account private_key is not an unencrypted PEM private key; "
                    "download a new JSON key for the account"
                )
            )
        if not isinstance(key, RSAPrivateKey):
            return Failure(
                InvalidCredentials(
                    f"the service-account private_key is a {type(key).__name__}, not an RSA "
                    "key; Google service accounts sign with RSA"
                )
            )
        return Success(cls(key))

    def sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.hashes import SHA256

        return self._key.sign(message, PKCS1v15(), SHA256())

    def __repr__(self) -> str:
        return f"RSASigner(key={REDACTED!r})"


_REQUIRED: Final = ("client_email", "private_key")


@dataclass(frozen=True, slots=True)
class ServiceAccountCredentials:
    """One service account: who it is, its signer and where it gets tokens.

    Build it with :meth:`from_file` or :meth:`from_info` (which load and check the key once).
    """

    client_email: str
    signer: RSASigner = field(repr=False)
    private_key_id: str | None = None
    token_uri: str = DEFAULT_TOKEN_URI
    project_id: str | None = None

    @classmethod
    def from_info(
        cls, info: Mapping[str, object]
    ) -> Success[ServiceAccountCredentials] | Failure[InvalidCredentials]:
        """From the parsed JSON key (a mapping with ``client_email``, ``private_key``...)."""
        kind = info.get("type")
        if kind is not None and kind != "service_account":
            return Failure(
                InvalidCredentials(
                    f"the key is of type {kind!r}; a 'service_account' JSON key is needed"
                )
            )
        for name in _REQUIRED:
            value = info.get(name)
            if not isinstance(value, str) or not value:
                return Failure(
                    InvalidCredentials(
                        f"the service-account key has no {name!r}; use the JSON key file "
                        "downloaded for the account"
                    )
                )
        private_key = info["private_key"]
        assert isinstance(private_key, str)
        signer = RSASigner.from_pem(Secret(private_key))
        if isinstance(signer, Failure):
            return signer
        token_uri = info.get("token_uri")
        key_id = info.get("private_key_id")
        project = info.get("project_id")
        return Success(
            cls(
                client_email=str(info["client_email"]),
                signer=signer.value,
                private_key_id=key_id if isinstance(key_id, str) and key_id else None,
                token_uri=token_uri
                if isinstance(token_uri, str) and token_uri
                else DEFAULT_TOKEN_URI,
                project_id=project if isinstance(project, str) and project else None,
            )
        )

    @classmethod
    def from_json(
        cls, data: str | bytes
    ) -> Success[ServiceAccountCredentials] | Failure[InvalidCredentials]:
        try:
            info = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return Failure(InvalidCredentials("the service-account key is not valid JSON"))
        if not isinstance(info, dict):
            return Failure(InvalidCredentials("the service-account key is not a JSON object"))
        return cls.from_info(info)

    @classmethod
    def from_file(
        cls, path: str | Path
    ) -> Success[ServiceAccountCredentials] | Failure[InvalidCredentials]:
        """Read a JSON key file (once, when a backend is configured; a small local read)."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            failure = InvalidCredentials(
                f"cannot read the service-account key file {str(path)!r} "
                f"({error.strerror or type(error).__name__}); check the path"
            )
            failure.__cause__ = error
            return Failure(failure)
        return cls.from_json(data)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_assertion(
    credentials: ServiceAccountCredentials,
    *,
    scope: str,
    now: float,
    audience: str | None = None,
    lifetime: int = ASSERTION_LIFETIME,
) -> str:
    """The signed JWT of the bearer grant: issued by the account, for ``audience`` (the token
    endpoint by default), valid from ``now`` (Unix seconds) for ``lifetime`` seconds."""
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if credentials.private_key_id:
        header["kid"] = credentials.private_key_id
    issued = int(now)
    claims = {
        "iss": credentials.client_email,
        "scope": scope,
        "aud": audience or credentials.token_uri,
        "iat": issued,
        "exp": issued + lifetime,
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = credentials.signer.sign(signing_input.encode("ascii"))
    return signing_input + "." + _b64url(signature)


class ServiceAccountFlow:
    """The JWT bearer grant as an OAuth2 flow: ``token_request(state)`` signs a fresh assertion.

    ``clock`` gives Unix time for the assertion's ``iat``/``exp`` (the token endpoint checks
    them against its own clock, so this must be wall time, ``time.time``, not monotonic).
    """

    __slots__ = ("clock", "credentials", "scope", "token_url")

    def __init__(
        self,
        credentials: ServiceAccountCredentials,
        *,
        scope: str = READ_WRITE_SCOPE,
        token_url: str | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.credentials = credentials
        self.scope = scope
        self.token_url = URL(token_url or credentials.token_uri)
        self.clock = clock

    def __repr__(self) -> str:
        return (
            f"ServiceAccountFlow(account={self.credentials.client_email!r}, "
            f"token_url={str(self.token_url)!r}, scope={self.scope!r})"
        )

    def token_request(self, state: TokenState) -> TokenRequest | TokenRefreshError:
        """A POST of a new assertion; ``state`` is unused (the grant has no refresh token)."""
        assertion = jwt_assertion(
            self.credentials,
            scope=self.scope,
            now=self.clock(),
            audience=self.credentials.token_uri,
        )
        return TokenRequest(
            self.token_url,
            (("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)),
            (
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
            ),
        )
