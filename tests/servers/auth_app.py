"""An ASGI app that checks credentials the way real servers do, for the auth tests.

Routes:
  GET /basic          200 for Basic alice:s3cret, else 401 + WWW-Authenticate: Basic
  GET /bearer         200 for the currently issued OAuth2 token (or "static-token"), else 401
  GET /apikey         200 when X-API-Key, ?api_key= or the api_key cookie is "k3y"
  GET /digest         RFC 7616 Digest (MD5, qop=auth) for alice:s3cret, checked independently
  POST /token         OAuth2 token endpoint: client_credentials (Basic client auth) or
                      refresh_token; counts calls in ``state.token_calls``

The Digest check is written here with hashlib alone, so a bug in the client's Digest code
cannot hide behind the same bug in the server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

USER, PASSWORD = "alice", "s3cret"
REALM = "tests@flext"
NONCE = "dcd98b7102dd2f0e8b11d0f600bfb0c093"


class AuthState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token_calls = 0
        self.current_token: str | None = None
        self.expires_in = 3600
        self.refresh_calls = 0

    def issue(self, grant: str) -> dict[str, Any]:
        with self.lock:
            self.token_calls += 1
            if grant == "refresh_token":
                self.refresh_calls += 1
            self.current_token = f"token-{self.token_calls}"
            return {
                "access_token": self.current_token,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": f"refresh-{self.token_calls}",
            }


state = AuthState()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _digest_ok(header: str, method: str, uri: str) -> bool:
    if not header.startswith("Digest "):
        return False
    params: dict[str, str] = {}
    for part in header[7:].split(","):
        key, _, value = part.strip().partition("=")
        params[key] = value.strip('"')
    if params.get("username") != USER or params.get("nonce") != NONCE:
        return False
    ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
    ha2 = _md5(f"{method}:{params.get('uri', '')}")
    expected = _md5(
        f"{ha1}:{NONCE}:{params.get('nc')}:{params.get('cnonce')}:{params.get('qop')}:{ha2}"
    )
    return params.get("uri") == uri and params.get("response") == expected


async def _respond(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
    path, method = scope["path"], scope["method"]
    query = dict(parse_qsl(scope["query_string"].decode()))
    authorization = headers.get("authorization", "")
    if path == "/basic":
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if authorization == expected:
            await _respond(send, 200, {"user": USER}, [])
        else:
            await _respond(
                send, 401, {"error": "auth"}, [(b"www-authenticate", b'Basic realm="t"')]
            )
    elif path == "/bearer":
        token = authorization.removeprefix("Bearer ")
        if authorization.startswith("Bearer ") and token in (state.current_token, "static-token"):
            await _respond(send, 200, {"token": token}, [])
        else:
            await _respond(send, 401, {"error": "token"}, [(b"www-authenticate", b"Bearer")])
    elif path == "/apikey":
        cookies = dict(
            part.strip().split("=", 1)
            for part in headers.get("cookie", "").split(";")
            if "=" in part
        )
        keys = {headers.get("x-api-key"), query.get("api_key"), cookies.get("api_key")}
        await _respond(
            send, 200 if "k3y" in keys else 401, {"keys": sorted(k or "" for k in keys)}, []
        )
    elif path == "/digest":
        uri = path + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        if _digest_ok(authorization, method, uri):
            await _respond(send, 200, {"user": USER}, [])
        else:
            challenge = f'Digest realm="{REALM}", qop="auth", nonce="{NONCE}", algorithm=MD5'
            await _respond(
                send, 401, {"error": "digest"}, [(b"www-authenticate", challenge.encode())]
            )
    elif path == "/token" and method == "POST":
        form = dict(parse_qsl((await _body(receive)).decode()))
        client = "Basic " + base64.b64encode(b"client-id:client-secret").decode()
        grant = form.get("grant_type", "")
        if grant == "client_credentials" and authorization != client:
            await _respond(send, 401, {"error": "invalid_client"}, [])
        elif grant not in ("client_credentials", "refresh_token"):
            await _respond(send, 400, {"error": "unsupported_grant_type"}, [])
        else:
            await _respond(send, 200, state.issue(grant), [])
    else:
        await _respond(send, 404, {"error": "not found"}, [])
