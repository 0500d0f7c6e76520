"""The words a lost connection is reported in: what happened, then what to do."""

from __future__ import annotations

import errno

from flext_api._backends import read_error, write_error


def test_a_broken_pipe_is_reported_as_a_reset_during_the_upload() -> None:
    exc = BrokenPipeError(errno.EPIPE, "Broken pipe")
    for error in (read_error("127.0.0.1:9", exc), write_error("127.0.0.1:9", exc)):
        text = str(error)
        assert "127.0.0.1:9" in text
        assert "reset the connection while the request was being sent" in text
        assert "retry on a new connection" in text


def test_a_reset_keeps_the_operating_system_words() -> None:
    error = read_error(
        "127.0.0.1:9", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    )
    assert error.code == "READ_ERROR"
    assert "Connection reset by peer" in str(error)
