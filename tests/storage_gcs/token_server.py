"""A tiny OAuth2 token endpoint for service accounts, and a bearer-checked resource, on loopback.

``POST /token`` takes the JWT bearer grant, verifies the assertion with PyJWT (RS256 against the
test key's public half, ``aud`` = this endpoint, ``iat``/``exp`` against the real clock) and
issues ``tok-N``. It waits ``delay`` seconds before answering, so callers that arrive together
overlap. Every other path is a resource that answers 200 with a JSON body for the current
token and 401 (a Google-style JSON error) otherwise. ``calls`` counts token requests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import jwt

from tests.storage_gcs import keys

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.current: str | None = None
        self.expires_in = 3600
        self.delay = 0.05
        self.rejections: list[str] = []
        self.resource_requests: list[str] = []
        self.url = ""

    def revoke(self) -> None:
        with self.lock:
            self.current = "revoked"

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != GRANT:
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                keys.public_pem(),
                algorithms=["RS256"],
                audience=self.url + "/token",
                issuer=keys.EMAIL,
                options={"require": ["iat", "exp", "scope"]},
            )
        except jwt.PyJWTError as error:
            self.rejections.append(type(error).__name__)
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        time.sleep(self.delay)
        with self.lock:
            self.calls += 1
            self.current = f"tok-{self.calls}"
            return 200, {
                "access_token": self.current,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "scope": claims["scope"],
            }


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            if self.path != "/token":
                self._resource()
                return
            status, answer = server.issue(dict(parse_qsl(body)))
            self._answer(status, answer)

        def do_GET(self) -> None:
            self._resource()

        def _resource(self) -> None:
            auth = self.headers.get("Authorization", "")
            server.resource_requests.append(auth)
            with server.lock:
                ok = server.current is not None and auth == f"Bearer {server.current}"
            if ok:
                self._answer(
                    200, {"kind": "storage#object", "name": "k", "bucket": "b", "size": "0"}
                )
            else:
                self._answer(
                    401,
                    {
                        "error": {
                            "code": 401,
                            "message": "Invalid Credentials",
                            "errors": [{"reason": "authError", "message": "Invalid Credentials"}],
                        }
                    },
                )

    return Handler


@contextmanager
def run_token_server() -> Iterator[TokenServer]:
    state = TokenServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
