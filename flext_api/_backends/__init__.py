"""Network backends, and the one place where OS, DNS and TLS failures become flext-api errors.

The backends live in their own modules so that importing one never imports another's event
loop: ``sync`` (blocking sockets), ``asyncio`` (an ``asyncio.Protocol``), ``trio`` (trio
streams) and ``auto`` (picks asyncio or trio per connection). Each module name matches the
library it runs on; imports in this package are absolute, so ``import asyncio`` inside
``flext_api/_backends/asyncio.py`` still means the standard library.

This module holds what the backends share: the mapping from low-level exceptions to the
:mod:`flext_api._exceptions` tree, the messages (which name ``host:port`` and say what to do),
and a zero-timeout readability probe. It must never import asyncio or trio, and never perform
I/O beyond that probe.
"""

from __future__ import annotations

import select
import socket
import ssl

from flext_api._exceptions import (
    ConnectError,
    ConnectTimeout,
    DNSError,
    ReadError,
    ReadTimeout,
    TLSError,
    TLSHandshakeError,
    TLSHostnameMismatch,
    TLSVerifyError,
    TransportError,
    WriteError,
    WriteTimeout,
)
from flext_api._ssl import client_certificate_refused

__all__ = [
    "connect_error",
    "connect_timeout",
    "fd_is_readable",
    "origin_of",
    "read_error",
    "read_timeout",
    "require_server_hostname",
    "tls_error",
    "write_error",
    "write_timeout",
]

# OpenSSL's X509_V_ERR_* codes for "the certificate is fine but names someone else".
_NAME_MISMATCH_CODES = frozenset({62, 63, 64})  # HOSTNAME, EMAIL, IP_ADDRESS mismatch
_X509_V_ERR_CERT_HAS_EXPIRED = 10


def origin_of(host: str, port: int) -> str:
    """``host:port`` as a user would type it (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def require_server_hostname(
    ssl_context: ssl.SSLContext | None, server_hostname: str | None, what: str
) -> None:
    """Fail at the call, not in the handshake, when TLS has no name to check."""
    if ssl_context is not None and ssl_context.check_hostname and not server_hostname:
        msg = (
            f"TLS to {what} needs server_hostname= (the name the server's certificate must "
            "match), or an ssl_context with check_hostname turned off"
        )
        raise ValueError(msg)


def _root_os_error(exc: OSError) -> OSError:
    # trio reports "every address failed" as a bare OSError whose cause is an
    # ExceptionGroup of the per-address errors; the first one says what happened.
    cause = exc.__cause__
    if type(exc) is OSError and isinstance(cause, ExceptionGroup):
        first = cause.exceptions[0]
        if isinstance(first, OSError):
            return first
    return exc


def _describe(exc: BaseException) -> str:
    # trio wraps OS errors in its own (BrokenResourceError): describe the OS error.
    if not isinstance(exc, OSError) and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__
    if isinstance(exc, BrokenPipeError):
        # EPIPE: the peer closed, then reset, while this side was still sending. Reads that
        # follow report the same stored error, so say what happened, not only "Broken pipe".
        return "the server reset the connection while the request was being sent: broken pipe"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def tls_error(exc: ssl.SSLError, origin: str, server_hostname: str | None) -> TLSError:
    """Classify a handshake failure: wrong name, untrusted chain, or anything else."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code in _NAME_MISMATCH_CODES:
            return TLSHostnameMismatch(
                f"the TLS certificate of {origin} is not valid for {server_hostname!r} "
                f"({reason}): connect using a name the certificate lists"
            )
        if exc.verify_code == _X509_V_ERR_CERT_HAS_EXPIRED:
            return TLSVerifyError(
                f"the TLS certificate of {origin} has expired ({reason}): the server must "
                "renew it (or check this machine's clock)"
            )
        return TLSVerifyError(
            f"the TLS certificate of {origin} is not trusted ({reason}): pass verify= a CA "
            "bundle that contains its issuer, or fix the server's certificate chain"
        )
    refused = client_certificate_refused(exc, origin)
    if refused is not None:
        return refused
    return TLSHandshakeError(
        f"TLS handshake with {origin} failed ({exc.reason or exc}): check that the server "
        "speaks TLS 1.2 or newer on this port"
    )


def connect_error(
    exc: OSError, origin: str, *, host: str, server_hostname: str | None, timeout: float | None
) -> TransportError:
    """The error for a failed connect (DNS, TCP or TLS); raise it ``from exc``."""
    root = _root_os_error(exc)
    if isinstance(root, ssl.SSLError):
        return tls_error(root, origin, server_hostname)
    if isinstance(root, TimeoutError):
        return connect_timeout(origin, timeout)
    if isinstance(root, socket.gaierror):
        return DNSError(
            f"could not resolve host {host!r} ({_describe(root)}): check the hostname or your "
            "DNS settings"
        )
    if isinstance(root, ConnectionRefusedError):
        return ConnectError(
            f"connection to {origin} refused: check that the server is running and listening "
            "on that port"
        )
    if isinstance(root, FileNotFoundError):
        return ConnectError(f"no socket at {origin}: check the path and that the server is running")
    return ConnectError(
        f"could not connect to {origin} ({_describe(root)}): check the address and that the "
        "server is reachable"
    )


def connect_timeout(origin: str, timeout: float | None) -> ConnectTimeout:
    return ConnectTimeout(
        f"timed out after {timeout or 0:g} s connecting to {origin}: check that the server is "
        "reachable, or raise the connect timeout"
    )


def read_timeout(origin: str, timeout: float) -> ReadTimeout:
    return ReadTimeout(
        f"timed out after {timeout:g} s waiting for data from {origin}: the server is slow or "
        "stuck; raise the read timeout if it needs longer"
    )


def read_error(origin: str, exc: BaseException | None) -> ReadError | TLSHandshakeError:
    if exc is None:
        return ReadError(f"the connection to {origin} was closed on this side while reading")
    refused = client_certificate_refused(exc, origin)
    if refused is not None:
        return refused
    return ReadError(
        f"error reading from {origin} ({_describe(exc)}): the connection is lost; retry on a "
        "new connection"
    )


def write_timeout(origin: str, timeout: float) -> WriteTimeout:
    return WriteTimeout(
        f"timed out after {timeout:g} s sending to {origin}: the server is not reading; raise "
        "the write timeout or check the server"
    )


def write_error(origin: str, exc: BaseException | None) -> WriteError | TLSHandshakeError:
    if exc is None:
        return WriteError(f"the connection to {origin} is closed: retry on a new connection")
    refused = client_certificate_refused(exc, origin)
    if refused is not None:
        return refused
    return WriteError(
        f"error sending to {origin} ({_describe(exc)}): the connection is lost; retry on a new "
        "connection"
    )


if hasattr(select, "poll"):

    def fd_is_readable(fd: int) -> bool:
        """True when a read on ``fd`` would not block (data, EOF or error). Never waits."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))

else:  # pragma: no cover - Windows has no poll(); select() is limited to its sockets

    def fd_is_readable(fd: int) -> bool:
        """True when a read on ``fd`` would not block (data, EOF or error). Never waits."""
        readable, _, errored = select.select([fd], [], [fd], 0)
        return bool(readable or errored)
