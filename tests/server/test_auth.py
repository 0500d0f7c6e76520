"""API keys, Bearer JWTs (PyJWT) and role/permission checks, through the full stack."""

# No `from __future__ import annotations`: the routes below annotate with local dependencies.

import base64
import json
import time
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI

from flext_api.server import APIKeyAuth, JWTAuth, Principal, require_permissions, require_roles
from tests.server.apps import build_app
from tests.server.helpers import asgi_call

SECRET = "s3cret-for-tests-only-" + "0123456789abcdef" * 4
AUDIENCE = "pets-api"


def token(
    claims: dict[str, Any] | None = None, *, key: str = SECRET, algorithm: str = "HS256"
) -> str:
    payload: dict[str, Any] = {
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
        "roles": ["reader"],
        "scope": "pets:read",
    }
    payload.update(claims or {})
    return jwt.encode(payload, key, algorithm=algorithm)


def flip_last_signature_char(value: str) -> str:
    head, last = value[:-2], value[-2]
    return head + ("B" if last == "A" else "A") + value[-1]


def unsigned_token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header = part({"alg": "none", "typ": "JWT"})
    return f"{header}.{part({'sub': 'mallory', 'aud': AUDIENCE, 'exp': int(time.time()) + 300})}."


@pytest.fixture(scope="module")
def app() -> FastAPI:
    app = build_app(access_log=False)
    bearer = JWTAuth(SECRET, algorithms=["HS256"], audience=AUDIENCE)
    api_key = APIKeyAuth({"key-1": Principal("svc", roles=frozenset({"admin"}))})
    plain_keys = APIKeyAuth(["key-2"], header_name="X-Token")

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(bearer)]) -> dict[str, Any]:
        return {"sub": principal.subject, "roles": sorted(principal.roles)}

    @app.get("/admin", dependencies=[Depends(require_roles(api_key, "admin"))])
    async def admin() -> dict[str, bool]:
        return {"admin": True}

    @app.get("/bearer-admin", dependencies=[Depends(require_roles(bearer, "admin"))])
    async def bearer_admin() -> dict[str, bool]:
        return {"admin": True}

    @app.get("/pets-read", dependencies=[Depends(require_permissions(bearer, "pets:read"))])
    async def pets_read() -> dict[str, bool]:
        return {"read": True}

    @app.get("/pets-write", dependencies=[Depends(require_permissions(bearer, "pets:write"))])
    async def pets_write() -> dict[str, bool]:
        return {"write": True}

    @app.get("/plain", dependencies=[Depends(plain_keys)])
    async def plain() -> dict[str, bool]:
        return {"plain": True}

    return app


def bearer(value: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {value}")]


@pytest.mark.anyio
async def test_valid_jwt_is_accepted(app: FastAPI) -> None:
    reply = await asgi_call(app, "GET", "/me", headers=bearer(token()))
    assert reply.status == 200
    assert reply.json() == {"sub": "alice", "roles": ["reader"]}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: token(algorithm="HS512"), "algorithm not allowed"),
        (unsigned_token, "algorithm not allowed"),
        (lambda: token({"exp": int(time.time()) - 10}), "token expired"),
        (lambda: token({"aud": "another-api"}), "wrong audience"),
        (lambda: token(key="a-different-secret-" + "fedcba9876543210" * 4), "bad signature"),
        (lambda: flip_last_signature_char(token()), "bad signature"),
        (lambda: token({"sub": "bob"}).replace(".", ".x", 1), "bad signature"),
        (lambda: "not-a-jwt", "malformed or invalid token"),
    ],
    ids=[
        "wrong-alg",
        "alg-none",
        "expired",
        "audience",
        "wrong-key",
        "tampered-sig",
        "tampered-payload",
        "garbage",
    ],
)
async def test_bad_jwts_are_refused(app: FastAPI, make_token: Any, reason: str) -> None:
    reply = await asgi_call(app, "GET", "/me", headers=bearer(make_token()))
    assert reply.status == 401
    body = reply.json()
    assert body["error_code"] == "UNAUTHORIZED"
    assert body["details"] == {"reason": reason}
    assert reply.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.anyio
async def test_tampered_claims_with_original_signature_are_refused(app: FastAPI) -> None:
    header, _, signature = token().split(".")
    forged_claims = {
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
        "roles": ["admin"],
    }
    payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    reply = await asgi_call(
        app, "GET", "/bearer-admin", headers=bearer(f"{header}.{payload}.{signature}")
    )
    assert reply.status == 401
    assert reply.json()["details"] == {"reason": "bad signature"}


@pytest.mark.anyio
async def test_missing_claims_and_missing_header(app: FastAPI) -> None:
    no_exp = jwt.encode({"sub": "alice", "aud": AUDIENCE}, SECRET, algorithm="HS256")
    reply = await asgi_call(app, "GET", "/me", headers=bearer(no_exp))
    assert reply.status == 401
    assert reply.json()["details"] == {"reason": "missing claim 'exp'"}
    missing = await asgi_call(app, "GET", "/me")
    assert missing.status == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
    basic = await asgi_call(app, "GET", "/me", headers=[("authorization", "Basic YTpi")])
    assert basic.status == 401


@pytest.mark.anyio
async def test_roles_and_permissions(app: FastAPI) -> None:
    assert (await asgi_call(app, "GET", "/pets-read", headers=bearer(token()))).status == 200
    denied = await asgi_call(app, "GET", "/pets-write", headers=bearer(token()))
    assert denied.status == 403
    assert denied.json()["details"] == {"missing_permissions": ["pets:write"]}
    not_admin = await asgi_call(app, "GET", "/bearer-admin", headers=bearer(token()))
    assert not_admin.status == 403
    assert not_admin.json()["details"] == {"missing_roles": ["admin"]}
    admin = await asgi_call(
        app, "GET", "/bearer-admin", headers=bearer(token({"roles": "admin ops"}))
    )
    assert admin.status == 200


@pytest.mark.anyio
async def test_api_keys(app: FastAPI) -> None:
    assert (await asgi_call(app, "GET", "/admin", headers=[("x-api-key", "key-1")])).status == 200
    wrong = await asgi_call(app, "GET", "/admin", headers=[("x-api-key", "key-2")])
    assert wrong.status == 401
    assert wrong.json()["message"] == "invalid API key"
    missing = await asgi_call(app, "GET", "/admin")
    assert missing.json()["message"] == "missing API key in the X-API-Key header"
    assert (await asgi_call(app, "GET", "/plain", headers=[("x-token", "key-2")])).status == 200


@pytest.mark.anyio
async def test_rs256_with_public_key_and_issuer() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    auth = JWTAuth(public_pem, algorithms=["RS256"], issuer="https://issuer.example")
    good = jwt.encode(
        {
            "sub": "carol",
            "iss": "https://issuer.example",
            "exp": int(time.time()) + 60,
            "permissions": ["a", "b"],
        },
        private,
        algorithm="RS256",
    )
    principal = auth.verify(good)
    assert principal.subject == "carol"
    assert principal.permissions == frozenset({"a", "b"})
    wrong_issuer = jwt.encode(
        {"sub": "carol", "iss": "https://evil.example", "exp": int(time.time()) + 60},
        private,
        algorithm="RS256",
    )
    with pytest.raises(Exception, match="wrong issuer"):
        auth.verify(wrong_issuer)
    # Key confusion: an HS256 token signed with the public key as the HMAC secret.
    confused = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(Exception, match="algorithm not allowed"):
        auth.verify(confused + "." + good.split(".")[1] + "." + good.split(".")[2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithms": []}, "at least one algorithm"),
        ({"algorithms": ["none"]}, "never allowed"),
        ({"algorithms": ["HS256", "NONE"]}, "never allowed"),
        ({"algorithms": ["HS999"]}, "unknown JWT algorithms"),
        ({"algorithms": ["HS256", "RS256"]}, "do not mix"),
    ],
)
def test_unsafe_jwt_configurations_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JWTAuth(SECRET, **kwargs)


def test_unusable_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty key"):
        JWTAuth("")
    with pytest.raises(TypeError, match="not one string"):
        APIKeyAuth("just-one-string")
    with pytest.raises(ValueError, match="at least one non-empty key"):
        APIKeyAuth([""])
