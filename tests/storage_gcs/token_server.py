"""A tiny OAuth2 token endpoint for service accounts and a scripted GCS front, on loopback.

``POST /token`` takes the JWT bearer grant, verifies the assertion with PyJWT (RS256 against the
test key's public half, ``aud`` = this endpoint, ``iat``/``exp`` against the real clock) and
issues ``tok-N``. It waits ``delay`` seconds before answering, so callers that arrive together
overlap. ``calls`` counts token requests.

Every other request needs the current token (else 401 with a Google-style JSON error) and plays
the part of GCS where the emulator cannot (it ignores page sizes and preconditions, and stores
a resumable chunk whole or not at all):

* ``GET /storage/v1/b/b/o``: lists ``listing`` ``maxResults`` at a time with ``pageToken``s;
* ``POST /upload/storage/v1/b/b/o``: ``ifGenerationMatch=0`` is refused (412
  ``conditionNotMet``); a resumable start answers with the session ``/upload/session``;
* ``POST .../rewriteTo/...``: a copy in two steps (``rewriteToken``);
* ``GET .../o/whole?alt=media`` ignores ``Range``; ``.../o/stale`` answers 412;
  ``.../o/garbled`` is not JSON;
* ``PUT /upload/session``: keeps the bytes; ``faults`` times it keeps only half a chunk and
  answers 503, ``short_accepts`` times half a chunk and a 308 (as GCS may), ``status_faults``
  times a status query gets 503; with ``session_gone`` every chunk gets 503 and every status
  query 410;
* anything else: an object resource.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
        self.listing = [f"k{n}" for n in range(5)]
        self.page_tokens: list[str | None] = []
        self.session = bytearray()
        self.session_ranges: list[str] = []
        self.faults = 0
        self.short_accepts = 0
        self.status_faults = 0
        self.session_gone = False
        self.cancelled = 0
        self.rewrite_tokens: list[str | None] = []

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

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/token":
                status, answer = server.issue(dict(parse_qsl(body.decode())))
                self._answer(status, answer)
            elif self._authorized():
                if "/rewriteTo/" in self.path:
                    self._rewrite()
                else:
                    self._upload_start()

        def do_GET(self) -> None:
            if self._authorized():
                path, query = urlsplit(self.path).path, dict(parse_qsl(urlsplit(self.path).query))
                media = query.get("alt") == "media"
                if path == "/storage/v1/b/b/o":
                    self._list()
                elif path.endswith("/o/whole") and media:  # a server that ignores Range
                    self._raw(200, b"0123456789", "application/octet-stream")
                elif path.endswith("/o/stale") and media:
                    self._answer(412, {"error": {"code": 412, "message": "generation moved"}})
                elif path.endswith("/o/garbled"):
                    self._raw(200, b"<html>not json</html>", "text/html")
                else:
                    name = path.rpartition("/")[2]
                    self._answer(200, {"name": name, "size": "10", "generation": "1"})

        def do_PUT(self) -> None:
            body = self._body()
            if self._authorized():
                self._chunk(body)

        def do_DELETE(self) -> None:
            if self._authorized():
                server.cancelled += 1
                self._answer(499, {"error": {"code": 499, "message": "Client Closed Request"}})

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            server.resource_requests.append(auth)
            with server.lock:
                ok = server.current is not None and auth == f"Bearer {server.current}"
            if not ok:
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
            return ok

        def _raw(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _rewrite(self) -> None:
            token = dict(parse_qsl(urlsplit(self.path).query)).get("rewriteToken")
            server.rewrite_tokens.append(token)
            if token is None:  # a large copy: the first call only starts it
                self._answer(200, {"done": False, "rewriteToken": "t1", "totalBytesRewritten": "5"})
                return
            resource = {"name": "copy", "size": "10", "generation": "9"}
            self._answer(200, {"done": True, "resource": resource})

        def _list(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            token = query.get("pageToken")
            server.page_tokens.append(token)
            first = int(token.removeprefix("p")) if token else 0
            size = int(query["maxResults"])
            names = server.listing[first : first + size]
            answer: dict[str, Any] = {
                "items": [{"name": n, "size": "1", "generation": "1"} for n in names]
            }
            if first + size < len(server.listing):
                answer["nextPageToken"] = f"p{first + size}"
            self._answer(200, answer)

        def _upload_start(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            if query.get("ifGenerationMatch") == "0":
                self._answer(
                    412,
                    {
                        "error": {
                            "code": 412,
                            "message": "At least one of the pre-conditions did not hold.",
                            "errors": [{"reason": "conditionNotMet", "location": "If-Match"}],
                        }
                    },
                )
                return
            server.session.clear()
            self.send_response(200)
            self.send_header("Location", "/upload/session")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _incomplete(self) -> None:
            self.send_response(308)
            if server.session:
                self.send_header("Range", f"bytes=0-{len(server.session) - 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _chunk(self, body: bytes) -> None:
            content_range = self.headers.get("Content-Range", "")
            server.session_ranges.append(content_range)
            first_last, _, total_text = content_range.removeprefix("bytes ").partition("/")
            total = None if total_text == "*" else int(total_text)
            if first_last == "*":  # a status query
                if server.status_faults:
                    server.status_faults -= 1
                    self._answer(503, {"error": {"code": 503, "message": "Backend Error"}})
                elif server.session_gone:
                    self._answer(410, {"error": {"code": 410, "message": "session expired"}})
                elif total is not None and len(server.session) == total:
                    self._done(total)
                else:
                    self._incomplete()
                return
            if server.session_gone:
                self._answer(503, {"error": {"code": 503, "message": "Backend Error"}})
                return
            first = int(first_last.partition("-")[0])
            if first != len(server.session):
                self._answer(400, {"error": {"code": 400, "message": "wrong offset"}})
                return
            if server.faults and first > 0:
                server.faults -= 1
                server.session += body[: len(body) // 2]
                self._answer(503, {"error": {"code": 503, "message": "Backend Error"}})
                return
            if server.short_accepts and first > 0:  # a 308 that kept only part of the chunk
                server.short_accepts -= 1
                server.session += body[: len(body) // 2]
                self._incomplete()
                return
            server.session += body
            if total is not None and len(server.session) == total:
                self._done(total)
            else:
                self._incomplete()

        def _done(self, total: int) -> None:
            self._answer(200, {"name": "up", "size": str(total), "generation": "7"})

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
