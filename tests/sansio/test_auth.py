"""Auth decisions: header values, RFC 7616 Digest vectors, OAuth2 token state, redaction."""

from __future__ import annotations

import base64
import pickle

import pytest

from flext_api._exceptions import AuthError, TokenRefreshError
from flext_api._headers import Headers
from flext_api._sansio.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2Flow,
    Secret,
    TokenRequest,
    TokenSet,
    TokenState,
    parse_token_response,
    redact_text,
)
from flext_api._sansio.digest import (
    Challenge,
    DigestAuth,
    DigestChallenge,
    digest_authorization,
    parse_www_authenticate,
)
from flext_api._urls import URL

# -- redaction -----------------------------------------------------------------------------


def test_secret_never_prints() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert str(secret) == "[secure]"
    assert f"{secret}" == "[secure]"
    assert secret.reveal() == "hunter2"
    assert Secret(secret).reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")
    assert secret != "hunter2"
    assert hash(secret) == hash(Secret("hunter2"))
    assert bool(Secret("")) is False
    assert pickle.loads(pickle.dumps(secret)).reveal() == "hunter2"
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_redact_text() -> None:
    text = "token abc123 and abc123456 and key"
    assert redact_text(text, ["abc123", Secret("abc123456"), None, ""]) == (
        "token [secure] and [secure] and key"
    )


@pytest.mark.parametrize(
    "auth",
    [
        BasicAuth("user", "hunter2"),
        BearerAuth("hunter2"),
        BearerAuth(lambda: "hunter2"),
        ApiKeyAuth("X-Key", "hunter2"),
        DigestAuth("user", "hunter2"),
        OAuth2Flow("https://auth.example/token", "id", "hunter2"),
    ],
)
def test_no_repr_shows_a_credential(auth: object) -> None:
    assert "hunter2" not in repr(auth)
    assert "[secure]" in repr(auth)


# -- Basic, Bearer, API key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        ("Aladdin", "open sesame", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),  # RFC 7617 section 2
        ("test", "123\u00a3", "Basic dGVzdDoxMjPCow=="),  # RFC 7617 section 2.1, UTF-8
        ("", "", "Basic Og=="),
    ],
)
def test_basic(user: str, password: str, expected: str) -> None:
    assert BasicAuth(user, password).header_value() == expected


def test_basic_refuses_colon_and_controls() -> None:
    with pytest.raises(ValueError, match="':'"):
        BasicAuth("a:b", "x")
    with pytest.raises(ValueError, match="control"):
        BasicAuth("a\r\nb", "x")


def test_bearer_static_and_callback() -> None:
    assert BearerAuth("t0k").header_value() == "Bearer t0k"
    tokens = iter(["one", "two"])
    auth = BearerAuth(lambda: next(tokens))
    assert [auth.header_value(), auth.header_value()] == ["Bearer one", "Bearer two"]
    with pytest.raises(ValueError, match="control"):
        BearerAuth("bad\ntoken").header_value()


def test_api_key_locations() -> None:
    url = URL("https://api.example/items?x=1")
    headers = Headers()
    assert ApiKeyAuth("X-API-Key", "k1").apply(url, headers) is url
    assert headers["x-api-key"] == "k1"
    assert ApiKeyAuth("X-API-Key", "k1").sensitive_header == "x-api-key"

    headers = Headers({"cookie": "a=1"})
    ApiKeyAuth("key", "k2", "cookie").apply(url, headers)
    assert headers["cookie"] == "a=1; key=k2"
    headers = Headers()
    ApiKeyAuth("key", "k2", "cookie").apply(url, headers)
    assert headers["cookie"] == "key=k2"

    query = ApiKeyAuth("api_key", "k 3", "query")
    assert str(query.apply(url, Headers())) == "https://api.example/items?x=1&api_key=k%203"
    assert query.sensitive_header is None


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("k", "v", "body"), "location"),
        (("", "v"), "name"),
        (("k", "v\r\n"), "control"),
    ],
)
def test_api_key_validation(args: tuple[str, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ApiKeyAuth(*args)  # type: ignore[arg-type]


# -- WWW-Authenticate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (['Basic realm="x"'], [Challenge("basic", {"realm": "x"})]),
        (
            ['Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'],
            [
                Challenge("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
                Challenge("basic", {"realm": "simple"}),
            ],
        ),
        (["Bearer"], [Challenge("bearer", {})]),
        (
            ["Negotiate abc+/9==, Basic realm=r"],
            [
                Challenge("negotiate", {}, "abc+/9=="),
                Challenge("basic", {"realm": "r"}),
            ],
        ),
        (["Bearer, Basic"], [Challenge("bearer", {}), Challenge("basic", {})]),
        (['Digest REALM = "r" , Nonce=n'], [Challenge("digest", {"realm": "r", "nonce": "n"})]),
        (['Basic realm="x" @@@'], [Challenge("basic", {"realm": "x"})]),
        (["", ",,"], []),
    ],
)
def test_parse_www_authenticate(values: list[str], expected: list[Challenge]) -> None:
    assert parse_www_authenticate(values) == expected


# -- Digest (RFC 7616 section 3.9.1 and 3.9.2) ---------------------------------------------

RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_CHALLENGES = [
    f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"',
    f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
    f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"',
]


@pytest.mark.parametrize(
    ("index", "algorithm", "response"),
    [
        (0, "SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (1, "MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_example(index: int, algorithm: str, response: str) -> None:
    challenge = DigestChallenge.from_challenge(parse_www_authenticate(RFC_CHALLENGES)[index])
    assert challenge is not None
    header = digest_authorization(
        challenge,
        "Mufasa",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        nonce_count=1,
        cnonce=RFC_CNONCE,
    )
    assert header == (
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        f'algorithm={algorithm}, nonce="{RFC_NONCE}", nc=00000001, cnonce="{RFC_CNONCE}", '
        f'qop=auth, response="{response}", opaque="{RFC_OPAQUE}"'
    )


def test_rfc7616_userhash_example() -> None:
    challenge = DigestChallenge(
        realm="api@example.org",
        nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
        algorithm="SHA-512-256",
        qop=("auth",),
        opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS",
        userhash=True,
    )
    header = digest_authorization(
        challenge,
        "J\u00e4s\u00f8n Doe",
        "Secret, or not?",
        "GET",
        "/doe.json",
        nonce_count=1,
        cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    )
    assert 'username="793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"' in header
    assert 'response="3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"' in header
    assert header.endswith("userhash=true")


def test_digest_non_ascii_username_uses_username_star() -> None:
    challenge = DigestChallenge(realm="r", nonce="n", qop=("auth",))
    header = digest_authorization(
        challenge, "J\u00e4s\u00f8n", "p", "GET", "/", nonce_count=1, cnonce="c"
    )
    assert "username*=UTF-8''J%C3%A4s%C3%B8n" in header


def test_digest_without_qop_and_sess() -> None:
    # RFC 2069 compatibility: response = H(HA1:nonce:HA2), no nc/cnonce.
    legacy = DigestChallenge(realm="r", nonce="n")
    header = digest_authorization(legacy, "u", "p", "GET", "/", nonce_count=1, cnonce="c")
    assert "nc=" not in header and "qop" not in header
    sess = DigestChallenge(realm="r", nonce="n", algorithm="MD5-SESS", qop=("auth",))
    a = digest_authorization(sess, "u", "p", "GET", "/", nonce_count=1, cnonce="c1")
    b = digest_authorization(sess, "u", "p", "GET", "/", nonce_count=1, cnonce="c2")
    assert "algorithm=MD5-SESS" in a
    assert a.split("response=")[1] != b.split("response=")[1]


def test_digest_auth_flow_counts_nonces_and_retries_once() -> None:
    randoms = iter([bytes([i]) * 16 for i in range(10)])
    auth = DigestAuth("Mufasa", "Circle of Life", random_bytes=lambda n: next(randoms))
    url = URL("https://example.org/dir/index.html?x=1")
    assert auth.authorization("GET", url) is None
    assert auth.on_challenge(RFC_CHALLENGES) is True
    assert auth.challenge is not None and auth.challenge.algorithm == "SHA-256"  # strongest
    first = auth.authorization("get", url)
    second = auth.authorization("GET", url)
    assert first is not None and second is not None
    assert "nc=00000001" in first and "nc=00000002" in second
    assert 'uri="/dir/index.html?x=1"' in first
    assert 'cnonce="00000000000000000000000000000000"' in first
    # The same nonce refused again: the credentials are wrong, do not loop.
    assert auth.on_challenge(RFC_CHALLENGES) is False
    # stale=true: same credentials, new nonce; retry.
    stale = RFC_CHALLENGES[0].replace(RFC_NONCE, "fresh") + ", stale=true"
    assert auth.on_challenge([stale]) is True
    third = auth.authorization("GET", url)
    assert third is not None and "nc=00000001" in third and 'nonce="fresh"' in third
    assert auth.on_challenge(['Basic realm="x"']) is False


def test_digest_unsupported_challenges_are_a_clear_error() -> None:
    auth = DigestAuth("u", "hunter2")
    result = auth.on_challenge(
        [
            'Digest realm="r", nonce="n", qop="auth-int"',
            'Digest realm="r", nonce="n", algorithm=SHA3',
        ]
    )
    assert isinstance(result, AuthError)
    assert result.code == "AUTH_ERROR"
    assert "auth-int" in result.message
    assert "hunter2" not in result.message
    assert DigestChallenge.from_challenge(Challenge("digest", {"realm": "r"})) is None
    assert DigestChallenge.from_challenge(Challenge("basic", {"nonce": "n"})) is None


# -- OAuth2 --------------------------------------------------------------------------------

TOKEN_URL = "https://auth.example/token"


def token_body(**fields: object) -> bytes:
    import json

    return json.dumps(fields).encode()


def test_client_credentials_request_basic_and_post() -> None:
    flow = OAuth2Flow(TOKEN_URL, "my id", "s3cr:t", scope="read write", audience="api")
    request = flow.token_request(TokenState())
    assert isinstance(request, TokenRequest)
    assert request.fields == (
        ("grant_type", "client_credentials"),
        ("scope", "read write"),
        ("audience", "api"),
    )
    auth = dict(request.headers)["authorization"]
    assert base64.b64decode(auth.split()[1]) == b"my+id:s3cr%3At"  # RFC 6749 2.3.1
    assert dict(request.headers)["content-type"] == "application/x-www-form-urlencoded"
    assert request.content == b"grant_type=client_credentials&scope=read+write&audience=api"

    post = OAuth2Flow(TOKEN_URL, "id", "hunter2", client_auth="post").token_request(TokenState())
    assert isinstance(post, TokenRequest)
    assert ("client_secret", "hunter2") in post.fields
    assert "authorization" not in dict(post.headers)
    assert "hunter2" not in repr(post) and "[secure]" in repr(post)
    assert "s3cr" not in repr(request)


def test_refresh_token_request_and_missing_refresh_token() -> None:
    flow = OAuth2Flow(TOKEN_URL, "public-client", grant="refresh_token")
    state = TokenState(TokenSet(Secret("old"), refresh_token=Secret("r1")))
    request = flow.token_request(state)
    assert isinstance(request, TokenRequest)
    assert request.fields[:2] == (("grant_type", "refresh_token"), ("refresh_token", "r1"))
    assert ("client_id", "public-client") in request.fields
    assert "r1" not in repr(request)
    error = flow.token_request(TokenState())
    assert isinstance(error, TokenRefreshError)
    assert error.code == "TOKEN_REFRESH_FAILED"


def test_client_credentials_uses_refresh_token_when_it_has_one() -> None:
    flow = OAuth2Flow(TOKEN_URL, "id", "secret")
    state = TokenState(TokenSet(Secret("old"), refresh_token=Secret("r1")))
    request = flow.token_request(state)
    assert isinstance(request, TokenRequest)
    assert request.fields[0] == ("grant_type", "refresh_token")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grant": "password"}, "grant"),
        ({"client_auth": "jwt"}, "client_auth"),
    ],
)
def test_flow_config_errors(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OAuth2Flow(TOKEN_URL, "id", "secret", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client_secret"):
        OAuth2Flow(TOKEN_URL, "id")


@pytest.mark.parametrize(
    ("expires_in", "expires_at"),
    [
        (3600, 4600.0),
        ("120", 1120.0),
        (-5, 1000.0),
        (None, None),
        ("soon", None),
        (True, None),
        (1.5, 1001.5),
    ],
)
def test_parse_token_response_expiry(expires_in: object, expires_at: float | None) -> None:
    fields: dict[str, object] = {"access_token": "at", "token_type": "bearer"}
    if expires_in is not None:
        fields["expires_in"] = expires_in
    token = parse_token_response(200, token_body(**fields), 1000.0)
    assert isinstance(token, TokenSet)
    assert token.expires_at == expires_at
    assert token.access_token.reveal() == "at"


def test_parse_token_response_keeps_previous_refresh_token_and_scope() -> None:
    previous = TokenSet(Secret("a0"), refresh_token=Secret("r0"), scope="read")
    token = parse_token_response(200, token_body(access_token="a1"), 0.0, previous)
    assert isinstance(token, TokenSet)
    assert token.refresh_token == Secret("r0")
    assert token.scope == "read"
    token = parse_token_response(
        200, token_body(access_token="a2", refresh_token="r2", scope="all"), 0.0, previous
    )
    assert isinstance(token, TokenSet)
    assert token.refresh_token == Secret("r2")
    assert token.scope == "all"


@pytest.mark.parametrize(
    ("status", "body", "oauth_error", "words"),
    [
        (
            400,
            token_body(error="invalid_grant", error_description="refresh token r0 expired"),
            "invalid_grant",
            "invalid_grant",
        ),
        (401, token_body(error="invalid_client"), "invalid_client", "invalid_client"),
        (500, b"<html>oops</html>", None, "not a JSON object"),
        (200, b"[1, 2]", None, "not a JSON object"),
        (200, token_body(token_type="bearer"), None, "without an access_token"),
        (200, token_body(access_token="at", token_type="mac"), None, "only Bearer"),
        (503, token_body(), None, "no error code"),
    ],
)
def test_parse_token_response_errors(
    status: int, body: bytes, oauth_error: str | None, words: str
) -> None:
    previous = TokenSet(Secret("a0"), refresh_token=Secret("r0"))
    error = parse_token_response(status, body, 0.0, previous, url=TOKEN_URL)
    assert isinstance(error, TokenRefreshError)
    assert error.oauth_error == oauth_error
    assert error.status_code == status
    assert words in error.message
    assert "r0" not in error.message  # the echoed refresh token is redacted
    assert "oops" not in error.message  # the body itself is never quoted


def test_token_state_single_flight_generations() -> None:
    state = TokenState()
    assert state.needs_refresh(0.0)
    assert state.authorization() is None
    seen_by_a = seen_by_b = state.generation
    # A gets the lock first and refreshes.
    assert state.generation == seen_by_a
    assert state.begin_refresh() == 0
    assert "refreshing=True" in repr(state)
    state.complete_refresh(TokenSet(Secret("t1"), expires_at=100.0))
    assert not state.refreshing
    assert state.generation == 1
    # B waited on the lock; the generation moved, so it must not refresh again.
    assert state.generation != seen_by_b
    assert state.authorization() == "Bearer t1"
    assert not state.needs_refresh(50.0)
    assert state.needs_refresh(70.0)  # within the default 30 s skew
    assert not state.needs_refresh(70.0, skew=0.0)


def test_failed_refresh_keeps_state() -> None:
    state = TokenState(TokenSet(Secret("t0")))
    state.begin_refresh()
    state.complete_refresh(TokenRefreshError("nope"))
    assert not state.refreshing
    assert state.generation == 0
    assert state.authorization() == "Bearer t0"
    assert not state.needs_refresh(1e12)  # no expiry known: only a 401 refreshes


def test_401_invalidates_once() -> None:
    state = TokenState(TokenSet(Secret("t0"), expires_at=1000.0))
    used = state.generation
    # Two concurrent requests with the same token both get 401.
    assert state.invalidate(used) is True  # the first refreshes
    assert state.needs_refresh(0.0)
    state.complete_refresh(TokenSet(Secret("t1"), expires_at=1000.0))
    assert state.invalidate(used) is False  # the second just retries with t1
    assert TokenState().invalidate(0) is False
    assert "t0" not in repr(state) and "t1" not in repr(state)
    assert "generation=1" in repr(state)
