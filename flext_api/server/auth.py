"""Authentication and authorization dependencies: API keys, Bearer JWTs, roles, permissions.

Each authenticator is a FastAPI dependency that returns a :class:`Principal` or raises
:class:`Unauthorized` (401); :func:`require_roles` and :func:`require_permissions` build
dependencies on top of one that raise :class:`Forbidden` (403).

This module must never accept an unsigned token (``none`` is refused at construction and by
PyJWT at decode), never let the token choose its algorithm outside the allow-list, never mix
HMAC and public-key algorithms in one allow-list (key confusion), and never compare API keys
as plain text (a timing side channel).
"""

# Annotations are evaluated at definition time here on purpose: the dependency functions
# built in closures carry ``Annotated[Principal, Depends(auth)]`` with a local ``auth``,
# which FastAPI could not resolve from a string annotation.

import hashlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import jwt
from fastapi import Depends
from jwt.algorithms import get_default_algorithms
from starlette.requests import Request

from flext_api.server.errors import Forbidden, Unauthorized

__all__ = [
    "APIKeyAuth",
    "Authenticator",
    "JWTAuth",
    "Principal",
    "require_permissions",
    "require_roles",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request, and what they may do."""

    subject: str
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)


class Authenticator(Protocol):
    """A FastAPI dependency that authenticates a request."""

    async def __call__(self, request: Request) -> Principal: ...


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class APIKeyAuth:
    """Authenticate by an API key in a header (``X-API-Key`` by default).

    ``keys`` is either a collection of valid keys (the principal's subject is then
    ``"api-key"``) or a mapping from key to its :class:`Principal`. Keys are held and looked
    up by their SHA-256 digest only, never compared as plain text.
    """

    def __init__(
        self,
        keys: Mapping[str, Principal] | Collection[str],
        *,
        header_name: str = "X-API-Key",
    ) -> None:
        if isinstance(keys, str):
            raise TypeError("keys must be a collection of keys or a mapping, not one string")
        principals: Mapping[str, Principal] = (
            keys if isinstance(keys, Mapping) else dict.fromkeys(keys, Principal("api-key"))
        )
        if not principals or any(not key for key in principals):
            raise ValueError("APIKeyAuth needs at least one non-empty key")
        self._by_digest = {_digest(key): principal for key, principal in principals.items()}
        self.header_name = header_name

    async def __call__(self, request: Request) -> Principal:
        presented = request.headers.get(self.header_name)
        if not presented:
            raise Unauthorized(f"missing API key in the {self.header_name} header")
        # Looked up by digest: how long a lookup takes depends on the digest, which an
        # attacker cannot steer towards a valid key, so timing reveals nothing about keys.
        principal = self._by_digest.get(_digest(presented))
        if principal is None:
            raise Unauthorized("invalid API key")
        request.state.principal = principal
        return principal


_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


def _claim_set(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(str(item) for item in value)
    return frozenset()


class JWTAuth:
    """Authenticate by ``Authorization: Bearer <JWT>``, verified with PyJWT.

    ``algorithms`` is the allow-list (the token's header cannot widen it). ``exp`` is required
    and checked; ``audience`` and ``issuer``, when given, are required and checked. Roles come
    from the ``roles_claim`` (a list or a space-separated string) and permissions from the
    ``permissions_claim`` plus the OAuth ``scope`` claim.
    """

    def __init__(
        self,
        key: str | bytes,
        *,
        algorithms: Sequence[str] = ("HS256",),
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        leeway: float = 0.0,
        required_claims: Iterable[str] = ("exp", "sub"),
        roles_claim: str = "roles",
        permissions_claim: str = "permissions",
    ) -> None:
        allowed = list(algorithms)
        if not allowed:
            raise ValueError("JWTAuth needs at least one algorithm in its allow-list")
        if any(algorithm.lower() == "none" for algorithm in allowed):
            raise ValueError("the 'none' algorithm accepts unsigned tokens and is never allowed")
        known = get_default_algorithms()
        unknown = [algorithm for algorithm in allowed if algorithm not in known]
        if unknown:
            raise ValueError(f"unknown JWT algorithms {unknown}; known: {sorted(known)}")
        hmac_used = {algorithm in _HMAC_ALGORITHMS for algorithm in allowed}
        if len(hmac_used) > 1:
            raise ValueError(
                "do not mix HMAC (HS*) and public-key algorithms in one allow-list: a public "
                "key would then verify forged HMAC tokens"
            )
        if not key:
            raise ValueError("JWTAuth needs a non-empty key")
        self._key = key
        self.algorithms = allowed
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        required = set(required_claims) | {"exp"}
        if audience is not None:
            required.add("aud")
        if issuer is not None:
            required.add("iss")
        self.required_claims = sorted(required)
        self.roles_claim = roles_claim
        self.permissions_claim = permissions_claim

    def verify(self, token: str) -> Principal:
        """Verify ``token`` and build its principal, or raise :class:`Unauthorized`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": self.required_claims},
            )
        except jwt.ExpiredSignatureError:
            raise _invalid_token("token expired") from None
        except jwt.InvalidAudienceError:
            raise _invalid_token("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise _invalid_token("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid_token(f"missing claim {exc.claim!r}") from None
        except jwt.InvalidAlgorithmError:
            raise _invalid_token("algorithm not allowed") from None
        except jwt.InvalidSignatureError:
            raise _invalid_token("bad signature") from None
        except jwt.PyJWTError:
            raise _invalid_token("malformed or invalid token") from None
        permissions = _claim_set(claims.get(self.permissions_claim)) | _claim_set(
            claims.get("scope")
        )
        return Principal(
            subject=str(claims.get("sub", "")),
            roles=_claim_set(claims.get(self.roles_claim)),
            permissions=permissions,
            claims=claims,
        )

    async def __call__(self, request: Request) -> Principal:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "missing bearer token", headers={"WWW-Authenticate": 'Bearer realm="api"'}
            )
        principal = self.verify(token.strip())
        request.state.principal = principal
        return principal


def _invalid_token(reason: str) -> Unauthorized:
    return Unauthorized(
        f"invalid bearer token: {reason}",
        details={"reason": reason},
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


def require_roles(auth: Authenticator, *roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates with ``auth`` and demands every one of ``roles``."""
    needed = frozenset(roles)

    async def has_roles(principal: Annotated[Principal, Depends(auth)]) -> Principal:
        missing = needed - principal.roles
        if missing:
            raise Forbidden(
                "this operation needs more roles", details={"missing_roles": sorted(missing)}
            )
        return principal

    return has_roles


def require_permissions(
    auth: Authenticator, *permissions: str
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates with ``auth`` and demands every one of ``permissions``."""
    needed = frozenset(permissions)

    async def has_permissions(principal: Annotated[Principal, Depends(auth)]) -> Principal:
        missing = needed - principal.permissions
        if missing:
            raise Forbidden(
                "this operation needs more permissions",
                details={"missing_permissions": sorted(missing)},
            )
        return principal

    return has_permissions
