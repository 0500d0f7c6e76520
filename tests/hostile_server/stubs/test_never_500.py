"""Input never makes a generated stub answer 500: too-deep JSON (unknown fields included),
broken multipart parts, unknown paths and methods all get a 4xx in the JSON error shape."""

from __future__ import annotations

import pytest

from tests.hostile_server.stubs.conftest import Stub, call
from tests.hostile_server.stubs.test_refusals import (
    VALID,
    details,
    documented_errors,
    post_thing,
    still_serving,
)

BOUNDARY = "hostile-boundary"


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("where", ["extra", "unknown"])
def test_json_nested_beyond_the_limit_is_refused(hostile: Stub, where: str) -> None:
    limit = hostile.stubs.JSON_DEPTH_LIMIT
    # Inside an open object (``extra``) and inside a property the schema does not know: the
    # decoder would skip or keep either without looking, so the depth is checked first.
    body = b'{"name":"ok","%s":{"a":%s}}' % (where.encode(), deep(200_000))
    errors = documented_errors(post_thing(hostile, body))
    assert errors == [f"body.body: JSON nested deeper than {limit} levels"]
    still_serving(hostile)


def test_json_at_the_limit_is_accepted(hostile: Stub) -> None:
    limit = hostile.stubs.JSON_DEPTH_LIMIT
    hostile.handlers.reply = (201, VALID)
    body = b'{"name":"ok","extra":{"a":%s}}' % deep(limit - 2)  # two levels are the objects
    assert post_thing(hostile, body).status == 201


def test_brackets_inside_strings_do_not_count(hostile: Stub) -> None:
    hostile.handlers.reply = (201, VALID)
    body = b'{"name":"ok","extra":{"a":"%s \\" ["}}' % (b"[" * 1000)
    assert post_thing(hostile, body).status == 201


def test_invalid_json_is_a_422_not_a_500(hostile: Stub) -> None:
    errors = documented_errors(post_thing(hostile, b'{"name": "ok",'))
    assert len(errors) == 1 and errors[0].startswith("body.body: ")
    errors = documented_errors(post_thing(hostile, b'{"name": "\xff\xfe"}'))
    assert len(errors) == 1 and errors[0].startswith("body.body: ")


def multipart(*parts: tuple[str, str, bytes]) -> bytes:
    out = b""
    for name, content_type, content in parts:
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def upload(stub: Stub, body: bytes) -> object:
    headers = [("content-type", f"multipart/form-data; boundary={BOUNDARY}")]
    return call(stub.app, "POST", "/v1/uploads", headers=headers, body=body)


def test_multipart_json_part_that_is_not_json(hostile: Stub) -> None:
    body = multipart(("note", "text/plain", b"hi"), ("meta", "application/json", b"{not json"))
    problems = details(upload(hostile, body))  # type: ignore[arg-type]
    assert problems[0]["loc"] == ["body", "meta"]
    assert "not valid JSON" in problems[0]["msg"]
    still_serving(hostile)


def test_multipart_text_part_with_invalid_utf8(hostile: Stub) -> None:
    body = multipart(("note", "text/plain", b"caf\xe9"))
    problems = details(upload(hostile, body))  # type: ignore[arg-type]
    assert problems == [{"loc": ["body", "note"], "msg": "the text part is not valid UTF-8"}]


def test_multipart_parts_are_checked_against_the_schema(hostile: Stub) -> None:
    body = multipart(
        ("note", "text/plain", b"x" * 21),
        ("meta", "application/json", b'{"kind":"omega","size":1}'),
    )
    problems = details(upload(hostile, body))  # type: ignore[arg-type]
    assert {tuple(p["loc"]) for p in problems} == {("body", "note"), ("body", "meta", "kind")}
    hostile.handlers.reply = (204, None)
    good = multipart(("note", "text/plain", "café".encode()), ("meta", "application/json", b"{}"))
    assert upload(hostile, good).status == 204  # type: ignore[attr-defined]
    assert hostile.handlers.calls[-1][1]["body"].note == "café"


def test_unknown_path_and_method_answer_json(hostile: Stub) -> None:
    missing = call(hostile.app, "GET", "/v1/nowhere")
    assert missing.status == 404 and missing.headers["content-type"] == "application/json"
    assert missing.json()["error_code"] == "NOT_FOUND"
    # A method no operation uses (FastAPI answers) and one another path uses (the stub does).
    for method in ("DELETE", "POST"):
        wrong = call(hostile.app, method, "/v1/things/5")
        assert wrong.status == 405 and wrong.headers["content-type"] == "application/json"
        assert set(wrong.json()) == {"error_code", "message", "details", "request_id"}
    outside = call(hostile.app, "GET", "/elsewhere")
    assert outside.status == 404 and outside.headers["content-type"] == "application/json"


def test_an_undeclared_content_type_is_refused_before_the_handler(hostile: Stub) -> None:
    calls = len(hostile.handlers.calls)
    answer = call(
        hostile.app, "POST", "/v1/things", headers=[("content-type", "text/xml")], body=b"<a/>"
    )
    assert answer.status == 415 and answer.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert len(hostile.handlers.calls) == calls


def test_a_text_body_with_invalid_utf8(hostile: Stub) -> None:
    headers = [("content-type", "text/plain")]
    answer = call(hostile.app, "POST", "/v1/notes", headers=headers, body=b"caf\xe9")
    assert details(answer) == [{"loc": ["body", "body"], "msg": "the text body is not valid UTF-8"}]
    hostile.handlers.reply = (204, None)
    assert call(hostile.app, "POST", "/v1/notes", headers=headers, body=b"ok").status == 204


def test_a_deep_object_parameter_nested_without_end(hostile: Stub) -> None:
    """deepObject keys nest one level per ``[...]``: a long query line is a deep value."""
    query = "filter[a]" + "[b]" * 5000 + "=1"
    problems = details(call(hostile.app, "GET", "/v1/things/5", query=query))
    limit = hostile.stubs.JSON_DEPTH_LIMIT
    assert problems == [{"loc": ["query", "filter"], "msg": f"nested deeper than {limit} levels"}]
    hostile.handlers.reply = (200, VALID)
    assert call(hostile.app, "GET", "/v1/things/5", query="filter[a][b]=1").status == 200
    assert hostile.handlers.calls[-1][1]["filter"] == {"a": {"b": "1"}}
