"""The GraphQL client's decisions without sockets: what a body means, which code a failure
gets, how uploads and persisted queries are written, and how subscription messages are read."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import msgspec
import pytest

from flext_api import Failure, FlextApiError, FormFile, Headers, Success
from flext_api.protocols._graphql_common import (
    decode_batch,
    decode_event,
    decode_message,
    decode_response,
    get_params,
    is_persisted_not_found,
    message_errors,
    multipart_fields,
    persisted_extension,
)
from flext_api.protocols.graphql import (
    GraphQLError,
    GraphQLHTTPError,
    GraphQLResponse,
    GraphQLSubscriptionError,
)

URL = "http://127.0.0.1:1/graphql"


def failure(result: Success[Any] | Failure[FlextApiError]) -> FlextApiError:
    assert isinstance(result, Failure), result
    return result.error


class Pet(msgspec.Struct):
    name: str


class PetData(msgspec.Struct):
    pet: Pet | None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"<html>502</html>", 502, "GRAPHQL_HTTP_ERROR"),
        (b'{"message": "gateway"}', 503, "GRAPHQL_HTTP_ERROR"),
        (b"plain words", 200, "GRAPHQL_NOT_JSON"),
        (b"", 200, "GRAPHQL_NOT_JSON"),
        (b"[1, 2]", 200, "GRAPHQL_MALFORMED"),
        (b"{}", 200, "GRAPHQL_MALFORMED"),
        (b'{"errors": "not a list"}', 200, "GRAPHQL_MALFORMED"),
        (b'{"errors": [{"nomessage": 1}]}', 200, "GRAPHQL_MALFORMED"),
        (b'{"data": {"pet": {"name": 3}}}', 200, "GRAPHQL_DECODE_ERROR"),
    ],
)
def test_unusable_bodies_get_their_code_and_keep_status_and_body(
    body: bytes, status: int, code: str
) -> None:
    result = decode_response(body, status, Headers(), URL, PetData)
    assert result.is_failure
    assert result.error.code == code
    assert result.error.url == URL
    assert getattr(result.error, "status_code", None) == status
    assert getattr(result.error, "body", None) == body


def test_a_body_is_kept_up_to_64_kib_only() -> None:
    error = failure(decode_response(b"x" * 100_000, 500, Headers(), URL, dict))
    assert isinstance(error, GraphQLHTTPError)
    assert len(error.body) == 64 * 1024


def test_the_failure_pickles_with_its_fields() -> None:
    error = failure(decode_response(b"<html>", 502, Headers(), URL, dict))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.status_code, copy.body, copy.url) == (
        "GRAPHQL_HTTP_ERROR",
        502,
        b"<html>",
        URL,
    )


def test_null_data_with_errors_and_an_error_status_is_a_success() -> None:
    body = b'{"data": null, "errors": [{"message": "denied", "extensions": {"code": "E"}}]}'
    response = decode_response(body, 403, Headers({"x-id": "7"}), URL, PetData).unwrap()
    assert response.data is None
    assert response.errors == (GraphQLError(message="denied", extensions={"code": "E"}),)
    assert (response.status_code, response.headers["x-id"]) == (403, "7")


def test_a_response_is_immutable() -> None:
    response = decode_response(b'{"data": {"pet": null}}', 200, Headers(), URL, PetData).unwrap()
    assert response.data == PetData(pet=None)
    with pytest.raises(AttributeError):
        response.data = None  # type: ignore[misc]
    assert isinstance(response, GraphQLResponse)


def test_a_batch_answer_must_match_the_batch() -> None:
    two = b'[{"data": {"pet": {"name": "a"}}}, {"errors": [{"message": "e"}]}]'
    first, second = decode_batch(two, 200, Headers(), URL, PetData, expected=2).unwrap()
    assert first.data == PetData(Pet("a"))
    assert second.errors[0].message == "e"
    short = failure(decode_batch(two, 200, Headers(), URL, PetData, expected=3))
    assert short.code == "GRAPHQL_MALFORMED"
    assert "3 operations with 2 responses" in str(short)


def test_uploads_null_their_variables_and_map_every_file() -> None:
    payload = {"query": "q", "variables": {"input": {"name": "x"}, "list": [1]}}
    form = FormFile(b"c", filename="c.txt")
    fields, parts = multipart_fields(payload, {"input.photo": b"a", "list.2": b"b", "top": form})
    assert msgspec.json.decode(fields["operations"]) == {
        "query": "q",
        "variables": {"input": {"name": "x", "photo": None}, "list": [1, None, None], "top": None},
    }
    assert msgspec.json.decode(fields["map"]) == {
        "0": ["variables.input.photo"],
        "1": ["variables.list.2"],
        "2": ["variables.top"],
    }
    assert [name for name, _ in parts] == ["0", "1", "2"]
    first = parts[0][1]
    assert isinstance(first, FormFile)
    assert (first.filename, first.source) == ("photo", b"a")
    assert parts[2][1] is form  # a FormFile is sent as the caller made it
    assert payload["variables"] == {"input": {"name": "x"}, "list": [1]}  # caller's untouched


def test_persisted_queries_hash_the_query_and_recognise_not_found() -> None:
    digest = hashlib.sha256(b"{ hello }").hexdigest()
    assert persisted_extension("{ hello }") == {
        "persistedQuery": {"version": 1, "sha256Hash": digest}
    }
    params = get_params({"extensions": persisted_extension("{ hello }"), "operationName": "H"})
    assert params["operationName"] == "H"
    assert msgspec.json.decode(params["extensions"])["persistedQuery"]["sha256Hash"] == digest
    assert is_persisted_not_found([GraphQLError(message="PersistedQueryNotFound")])
    assert is_persisted_not_found(
        [GraphQLError(message="x", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"})]
    )
    assert not is_persisted_not_found([GraphQLError(message="other")])


def test_subscription_messages_are_read_or_refused() -> None:
    message = decode_message('{"type": "next", "id": "1", "payload": {"data": {"n": 1}}}', URL)
    assert not isinstance(message, GraphQLSubscriptionError)
    assert (message.type, message.id) == ("next", "1")
    event = decode_event(bytes(message.payload), 101, Headers(), URL, dict).unwrap()
    assert event.data == {"n": 1}
    garbage = decode_message(b"\x00garbage", URL)
    assert isinstance(garbage, GraphQLSubscriptionError)
    assert garbage.body == b"\x00garbage"
    no_type = decode_message('{"id": "1"}', URL)
    assert isinstance(no_type, GraphQLSubscriptionError)
    bad_event = failure(decode_event(b'{"unrelated": 1}', 101, Headers(), URL, dict))
    assert bad_event.code == "GRAPHQL_MALFORMED"


@pytest.mark.parametrize(
    ("payload", "messages"),
    [
        (b'[{"message": "a"}, {"message": "b"}]', ["a", "b"]),
        (b'{"message": "one"}', ["one"]),
        (b'"just text"', []),
        (b"", []),
    ],
)
def test_error_messages_carry_the_servers_errors(payload: bytes, messages: list[str]) -> None:
    assert [e.message for e in message_errors(msgspec.Raw(payload))] == messages
