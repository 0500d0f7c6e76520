"""Secrets in what is shown: a URL's password never reaches an error, a repr or a message."""

from __future__ import annotations

import pickle

import pytest

from flext_api import URL, FlextApiError, InvalidURL, ReadError
from flext_api._exceptions import redact_url
from flext_api._models import Request


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:pass@host/", "http://user:[secure]@host/"),
        ("https://u:p%40ss@h:8443/a?b=c", "https://u:[secure]@h:8443/a?b=c"),
        # A raw "@" in a typed password: everything up to the last "@" is the password.
        ("http://u:p@ss@host/x", "http://u:[secure]@host/x"),
        (
            "see http://a:b@h1/ and https://c:d@h2/",
            "see http://a:[secure]@h1/ and https://c:[secure]@h2/",
        ),
        # Nothing to hide: a username alone, an "@" in the path or query, no URL at all.
        ("http://token@host/", "http://token@host/"),
        ("http://host/a@b?c=d@e", "http://host/a@b?c=d@e"),
        ("no url here", "no url here"),
    ],
)
def test_redact_url(text: str, shown: str) -> None:
    assert redact_url(text) == shown


def test_error_url_and_message_are_redacted_however_they_are_set() -> None:
    error = ReadError("reading http://user:pass@host/x failed", url="http://user:pass@host/x")
    assert error.url == "http://user:[secure]@host/x"
    assert str(error) == "reading http://user:[secure]@host/x failed"
    assert "pass@" not in repr(error)
    error.url = "http://other:secret@host/"  # the client fills url in after the fact
    assert error.url == "http://other:[secure]@host/"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ReadError
    assert copy.url == "http://other:[secure]@host/"
    assert copy.message == error.message
    assert FlextApiError("x").url is None


def test_url_and_request_reprs_hide_the_password_but_str_keeps_it() -> None:
    url = URL("http://user:pa%3Ass@host/p")
    assert repr(url) == "URL('http://user:[secure]@host/p')"
    assert str(url) == "http://user:pa%3Ass@host/p"  # what is sent, and what compares equal
    assert url.password == "pa:ss"
    from flext_api._headers import Headers

    request = Request("GET", url, Headers())
    assert "pa%3Ass" not in repr(request) and "[secure]" in repr(request)


def test_invalid_url_messages_hide_the_password() -> None:
    with pytest.raises(InvalidURL) as info:
        URL("http://user:hunter2@host:99999/")
    assert "hunter2" not in str(info.value)
    assert "user:[secure]@host:99999" in str(info.value)
