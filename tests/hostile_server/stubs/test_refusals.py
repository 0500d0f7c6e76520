"""What the schema refuses, the generated stub refuses: a 422 naming the field, in the
document's error schema when it declares one for 422 (hostile.yaml's ``Invalid``), else in the
server's JSON error shape; never a 500, and the app keeps serving (in-process, no socket)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tests.hostile_server.stubs.conftest import Answer, Stub, call

JSON = [("content-type", "application/json")]
VALID = {"name": "ok", "code": "123", "kind": "alpha", "count": 3, "ratio": 0.5, "tags": ["a"]}


def post_thing(stub: Stub, body: object | bytes) -> Answer:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return call(stub.app, "POST", "/v1/things", headers=JSON, body=raw)


def get_thing(stub: Stub, path: str = "/v1/things/5", query: str = "", **headers: str) -> Answer:
    pairs = [(k.replace("_", "-"), v) for k, v in headers.items()]
    return call(stub.app, "GET", path, query=query, headers=pairs)


def details(answer: Answer) -> list[dict[str, Any]]:
    """The problems of a 422 in the server's error shape."""
    assert answer.status == 422, answer
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    problems: list[dict[str, Any]] = body["details"]
    return problems


def documented_errors(answer: Answer) -> list[str]:
    """The problems of a 422 in hostile.yaml's own ``Invalid`` schema."""
    assert answer.status == 422, answer
    body = answer.json()
    assert set(body) == {"message", "errors"}
    errors: list[str] = body["errors"]
    return errors


def still_serving(stub: Stub) -> None:
    stub.handlers.reply = (201, VALID)
    answer = post_thing(stub, VALID)
    assert answer.status == 201 and answer.json() == VALID


def test_a_valid_body_reaches_the_handler(hostile: Stub) -> None:
    still_serving(hostile)
    name, kwargs = hostile.handlers.calls[-1]
    assert name == "create_thing" and kwargs["body"].kind == hostile.models.Kind.ALPHA


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"kind": "gamma"}, "body.kind", "'gamma' is not one of the allowed values"),
        ({"surprise": 1}, "body.surprise", "unknown property"),
        ({"child": {"kind": "beta", "other": 1}}, "body.child.other", "unknown property"),
        ({"child": {"kind": "delta"}}, "body.child.kind", "not one of the allowed values"),
        ({"count": 0}, "body.count", "less than the minimum 1"),
        ({"count": 11}, "body.count", "greater than the maximum 10"),
        ({"ratio": 0}, "body.ratio", "not greater than the exclusive minimum 0"),
        ({"ratio": 1.0}, "body.ratio", "not less than the exclusive maximum 1"),
        ({"name": "x"}, "body.name", "shorter than 2"),
        ({"name": "x" * 9}, "body.name", "longer than 8"),
        ({"code": "12"}, "body.code", "does not match the pattern '^\\\\d{3}$'"),
        # ECMA-262 \d is ASCII only; Python's \d would take these Arabic-Indic digits.
        ({"code": "\u0661\u0662\u0663"}, "body.code", "does not match the pattern"),
        # ECMA-262 \w is ASCII only too, and its $ does not match before a final newline.
        ({"word": "caf\u00e9"}, "body.word", "does not match the pattern"),
        ({"word": "abc\n"}, "body.word", "does not match the pattern"),
        ({"tags": []}, "body.tags", "fewer than the minimum of 1"),
        ({"tags": ["a", "b", "c", "d"]}, "body.tags", "more than the maximum of 3"),
        ({"tags": ["a", "toolong"]}, "body.tags.1", "longer than 5"),
    ],
)
def test_body_refused_in_the_documented_error_schema(
    hostile: Stub, change: dict[str, Any], field: str, words: str
) -> None:
    calls = len(hostile.handlers.calls)
    errors = documented_errors(post_thing(hostile, {**VALID, **change}))
    assert len(errors) == 1 and errors[0].startswith(f"{field}: ") and words in errors[0], errors
    assert len(hostile.handlers.calls) == calls  # the handler never saw it
    still_serving(hostile)


def test_every_problem_is_named_at_once(hostile: Stub) -> None:
    body = {"name": "x", "kind": "z", "count": 99, "child": {"size": 6}, "more": True}
    errors = documented_errors(post_thing(hostile, body))
    named = sorted(e.split(":")[0] for e in errors)
    assert named == ["body.child.size", "body.count", "body.kind", "body.more", "body.name"]


def test_tolerated_values_still_pass(hostile: Stub) -> None:
    """Matching ECMA semantics does not over-refuse: ASCII digits, open objects, no bound hit."""
    body = {**VALID, "code": "007", "word": "A_z9", "extra": {"anything": [1, {"x": None}]}}
    hostile.handlers.reply = (201, VALID)
    assert post_thing(hostile, body).status == 201
    assert hostile.handlers.calls[-1][1]["body"].extra == body["extra"]


def test_parameters_refused_with_the_parameter_named(hostile: Stub) -> None:
    problems = details(get_thing(hostile, "/v1/things/0", "limit=101&color=blue", x_trace="t" * 11))
    named = {tuple(p["loc"]): p["msg"] for p in problems}
    assert set(named) == {
        ("path", "thingId"),
        ("query", "limit"),
        ("query", "color"),
        ("header", "X-Trace"),
    }
    assert "less than the minimum 1" in named["path", "thingId"]
    assert "'blue' is not one of the allowed values" in named["query", "color"]
    hostile.handlers.reply = (200, VALID)
    assert get_thing(hostile, query="limit=100&color=red", x_trace="t" * 10).status == 200
    assert hostile.handlers.calls[-1] == (
        "get_thing",
        {
            "thing_id": 5,
            "limit": 100,
            "color": "red",
            "label": None,
            "x_trace": "t" * 10,
            "filter": None,
        },
    )


def test_repeated_scalar_parameters_are_refused(hostile: Stub) -> None:
    problems = details(get_thing(hostile, query="limit=1&limit=2&label=a&label=b"))
    assert {tuple(p["loc"]) for p in problems} == {("query", "limit"), ("query", "label")}
    assert all("given 2 times" in p["msg"] for p in problems)
    pairs = [("x-trace", "a"), ("x-trace", "b")]
    problems = details(call(hostile.app, "GET", "/v1/things/5", headers=pairs))
    assert problems == [
        {"loc": ["header", "X-Trace"], "msg": "given 2 times; this parameter takes one value"}
    ]


@pytest.mark.parametrize(
    ("path", "query", "where", "words"),
    [
        ("/v1/things/5", "label=%zz", ("query", "label"), "invalid percent-encoding"),
        ("/v1/things/5", "label=50%", ("query", "label"), "invalid percent-encoding"),
        ("/v1/things/5", "label=%ff%fe", ("query", "label"), "not valid UTF-8"),
        ("/v1/things/5%zz", "", ("path", "thingId"), "invalid percent-encoding"),
        ("/v1/things/%c3", "", ("path", "thingId"), "not valid UTF-8"),
    ],
)
def test_invalid_percent_encoding_is_refused(
    hostile: Stub, path: str, query: str, where: tuple[str, str], words: str
) -> None:
    problems = details(get_thing(hostile, path, query))
    assert tuple(problems[0]["loc"]) == where and words in problems[0]["msg"], problems
    still_serving(hostile)


def test_percent_encoded_utf8_is_accepted(hostile: Stub) -> None:
    hostile.handlers.reply = (200, VALID)
    assert get_thing(hostile, query="label=caf%C3%A9%20ok").status == 200
    assert hostile.handlers.calls[-1][1]["label"] == "café ok"


def test_3_0_boolean_exclusive_bounds(bounds30: Stub) -> None:
    bounds30.handlers.reply = (200, 1.5)
    for x in ("0", "10", "-1", "10.5"):
        problems = details(call(bounds30.app, "GET", "/range", query=f"x={x}"))
        assert problems[0]["loc"] == ["query", "x"] and "exclusive" in problems[0]["msg"], x
    answer = call(bounds30.app, "GET", "/range", query="x=0.001&n=3")
    assert answer.status == 200 and bounds30.handlers.calls[-1][1] == {"x": 0.001, "n": 3}
    problems = details(call(bounds30.app, "GET", "/range", query="x=5&n=4"))
    assert problems == [{"loc": ["query", "n"], "msg": "4 is greater than the maximum 3"}]


def test_the_router_mounts_into_an_app_from_the_factory(hostile: Stub) -> None:
    from flext_api.server import FlextApiConfig, create_fastapi_app

    app = create_fastapi_app(FlextApiConfig(title="mine", expose_docs=False, max_body_bytes=200))
    app.include_router(hostile.stubs.make_router(hostile.handlers))
    hostile.handlers.reply = (201, VALID)
    ok = call(app, "POST", "/v1/things", headers=JSON, body=msgspec.json.encode(VALID))
    assert ok.status == 201 and "x-request-id" in ok.headers  # the factory's stack ran
    too_big = call(app, "POST", "/v1/things", headers=JSON, body=b" " * 201)
    assert too_big.status == 413 and too_big.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    bad = call(app, "POST", "/v1/things", headers=JSON, body=b'{"name":"ok","kind":"z"}')
    assert [e.split(":")[0] for e in documented_errors(bad)] == ["body.kind"]
    assert call(app, "GET", "/health").status == 200


def test_make_app_takes_the_factory_config(hostile: Stub) -> None:
    from flext_api.server import FlextApiConfig

    config = FlextApiConfig(title="small", max_body_bytes=64)
    app = hostile.stubs.make_app(hostile.handlers, config=config)
    answer = call(app, "POST", "/v1/things", headers=JSON, body=msgspec.json.encode(VALID))
    assert answer.status == 413
    assert answer.json()["details"] == {"max_body_bytes": 64}
    assert call(app, "GET", "/openapi.json").json()["info"]["title"] == "Hostile"
