"""TLS client contexts: verification on by default, TLS 1.2 or newer, ALPN, client certificates.

Job: turn the ``verify=`` / ``cert=`` options of a client into one ``ssl.SSLContext``, once.
Building a verifying context loads a trust store (tens of milliseconds), so contexts built from
hashable options are cached and shared: treat a returned context as read-only.

Where trust comes from with ``verify=True``:

* ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when ``trust_env`` is on and they name an existing
  file / directory (the convention OpenSSL, curl and Python tools share);
* otherwise, on macOS and Windows, the operating system's verifier through ``truststore``;
* otherwise (Linux, BSD), OpenSSL's compiled-in CA paths (or the distribution's usual
  bundle), loaded once into the cached context. ``truststore`` reads the same files there,
  but reloads the bundle on every connection (measured: 22 ms per ``wrap_bio`` against
  6 us), a cost no keep-alive pool amortises.

Also here: recognising the alerts a server sends when it refuses the client certificate
(``client_certificate_refused``), so every backend reports that instead of a bare EOF or reset.

Never: turn verification off without a warning, allow a protocol older than TLS 1.2 on a
context built here, or modify an ``ssl.SSLContext`` the caller passed in.
"""

from __future__ import annotations

import os
import ssl
import sys
import warnings
from collections.abc import Hashable, Sequence
from typing import Final

from flext_api._exceptions import TLSHandshakeError

__all__ = [
    "CertTypes",
    "InsecureTLSWarning",
    "VerifyTypes",
    "client_certificate_refused",
    "create_ssl_context",
]

VerifyTypes = bool | str | os.PathLike[str] | ssl.SSLContext
CertTypes = str | tuple[str, str] | tuple[str, str, str]


class InsecureTLSWarning(UserWarning):
    """TLS verification is off: the traffic is encrypted, but anyone can pose as the server."""


# Alerts a server sends about the client's certificate: TLS 1.3 sends certificate_required
# (after the client's side of the handshake is done, so it surfaces on the first read or write);
# TLS 1.2 servers send bad_certificate, unknown_ca... for a certificate they reject.
_CLIENT_CERT_ALERTS: Final = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
# OpenSSL servers answer a TLS 1.2 client that sent no certificate with a plain
# handshake_failure, which can also mean no common protocol or cipher: said as a possibility.
_AMBIGUOUS_ALERT: Final = "SSLV3_ALERT_HANDSHAKE_FAILURE"


def client_certificate_refused(exc: BaseException, origin: str) -> TLSHandshakeError | None:
    """A ``TLS_HANDSHAKE_FAILED`` error when ``exc`` (or what it wraps, as trio does) is the
    server's alert about the client certificate; ``None`` for anything else."""
    for error in (exc, exc.__cause__, exc.__context__):
        if not isinstance(error, ssl.SSLError):
            continue
        reason = error.reason or ""
        if reason in _CLIENT_CERT_ALERTS:
            return TLSHandshakeError(
                f"{origin}: the server refused the client certificate (or asked for one and "
                f"none was given) ({reason}); pass cert= a certificate the server trusts"
            )
        if reason == _AMBIGUOUS_ALERT:
            return TLSHandshakeError(
                f"TLS handshake with {origin} failed ({reason}): the server refused the client "
                "certificate (or asked for one and none was given), or it does not speak TLS "
                "1.2 or newer with a cipher we offer; pass cert= if it requires one"
            )
    return None


# Keyed by every input that changes the result, environment included. Bounded so that a
# program creating clients with ever-new options cannot grow it without limit.
_contexts: dict[Hashable, ssl.SSLContext] = {}
_CACHE_LIMIT = 32

# Platforms where truststore reaches a real OS verifier (not just OpenSSL's files).
_OS_VERIFIER_PLATFORMS = ("darwin", "win32")

# Where Linux distributions keep their CA bundle: Debian/Ubuntu, Fedora/RHEL (two layouts),
# Alpine/Arch, SUSE.
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
)


def create_ssl_context(
    verify: VerifyTypes = True,
    cert: CertTypes | None = None,
    trust_env: bool = True,
    alpn: Sequence[str] = ("http/1.1",),
) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` for HTTPS clients.

    ``verify``: ``True`` (the system's trust store, see the module docstring), a path to a CA
    bundle file or a directory of hashed CA certificates, ``False`` (no verification: warns
    with :class:`InsecureTLSWarning`), or an ``ssl.SSLContext``, which is returned exactly as
    given: its verification and ALPN are the caller's to configure (for HTTP/2 call
    ``set_alpn_protocols(["h2", "http/1.1"])`` on it), and ``cert`` cannot be combined with it.

    ``cert``: a client certificate: one PEM file holding certificate and key, or
    ``(certfile, keyfile)``, or ``(certfile, keyfile, password)``.

    ``alpn``: the protocols to offer, most preferred first (``("h2", "http/1.1")`` for HTTP/2).

    The result may be shared with other callers: do not modify it. Raises ``TypeError`` /
    ``ValueError`` for options that cannot work and ``FileNotFoundError`` for a missing file.
    """
    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            msg = (
                "cert= cannot be combined with an ssl.SSLContext in verify=: call "
                "load_cert_chain() on your context instead"
            )
            raise ValueError(msg)
        return verify
    if isinstance(verify, bool):
        if not verify:
            warnings.warn(
                "TLS certificate verification is off (verify=False): anyone on the network "
                "path can impersonate the server; pass verify= a CA bundle instead",
                InsecureTLSWarning,
                stacklevel=2,
            )
        trust: bool | str = verify
    else:
        trust = _path_option(verify)
    _check_cert(cert)
    if isinstance(alpn, str):
        msg = f"alpn= must be a sequence of protocol names, such as ({alpn!r},), not a str"
        raise TypeError(msg)
    protocols = tuple(alpn)
    env = _env_trust() if trust is True and trust_env else None

    key = (trust, cert, env, protocols)
    context = _contexts.get(key)
    if context is None:
        context = _build(trust, cert, env, protocols)
        if len(_contexts) >= _CACHE_LIMIT:
            _contexts.clear()
        _contexts[key] = context
    return context


def _path_option(verify: object) -> str:
    path = os.fspath(verify) if isinstance(verify, str | os.PathLike) else None
    if not isinstance(path, str):
        msg = f"verify= must be a bool, a str path or an ssl.SSLContext, not {verify!r}"
        raise TypeError(msg)
    return path


def _check_cert(cert: object) -> None:
    if cert is None or isinstance(cert, str):
        return
    if (
        isinstance(cert, tuple)
        and len(cert) in {2, 3}
        and all(isinstance(part, str) for part in cert)
    ):
        return
    msg = "cert= must be a path, (certfile, keyfile) or (certfile, keyfile, password)"
    raise TypeError(msg)


def _env_trust() -> tuple[str | None, str | None] | None:
    """The CA file and directory named by SSL_CERT_FILE / SSL_CERT_DIR, if they exist."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    cafile = cafile if cafile and os.path.isfile(cafile) else None
    capath = capath if capath and os.path.isdir(capath) else None
    if cafile is None and capath is None:
        return None
    return (cafile, capath)


def _system_context() -> ssl.SSLContext:
    if sys.platform in _OS_VERIFIER_PLATFORMS:  # pragma: no cover - not on the CI platform
        try:
            import truststore
        except ImportError:
            pass
        else:
            return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # OpenSSL's compiled-in CA locations, read explicitly: its own default loader would also
    # follow SSL_CERT_FILE / SSL_CERT_DIR, which trust_env=False must ignore. Pythons built
    # on another distribution point at paths that do not exist here: then the usual bundle.
    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    if cafile is None and capath is None:
        cafile = next((path for path in _CA_BUNDLES if os.path.isfile(path)), None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname on, CERT_REQUIRED
    if cafile is not None or capath is not None:
        context.load_verify_locations(cafile=cafile, capath=capath)
    return context


def _build(
    trust: bool | str,
    cert: CertTypes | None,
    env: tuple[str | None, str | None] | None,
    alpn: tuple[str, ...],
) -> ssl.SSLContext:
    if trust is True:
        if env is not None:
            context = ssl.create_default_context(cafile=env[0], capath=env[1])
        else:
            context = _system_context()
    elif trust is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False  # must come before verify_mode = CERT_NONE
        context.verify_mode = ssl.CERT_NONE
    else:
        context = _context_from_ca_path(trust)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        _load_cert(context, cert)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def _context_from_ca_path(path: str) -> ssl.SSLContext:
    if os.path.isdir(path):
        cafile, capath = None, path
    elif os.path.isfile(path):
        cafile, capath = path, None
    else:
        msg = f"verify={path!r}: no such CA bundle file or certificate directory"
        raise FileNotFoundError(msg)
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except ssl.SSLError as exc:
        msg = f"verify={path!r}: could not load CA certificates from it ({exc.reason or exc})"
        raise ValueError(msg) from exc


def _load_cert(context: ssl.SSLContext, cert: CertTypes) -> None:
    if isinstance(cert, str):
        certfile, keyfile, password = cert, None, None
    elif len(cert) == 2:
        certfile, keyfile, password = cert[0], cert[1], None
    else:
        certfile, keyfile, password = cert[0], cert[1], cert[2]
    try:
        context.load_cert_chain(certfile, keyfile, password)
    except FileNotFoundError as exc:
        msg = f"cert=: no such certificate or key file ({exc.filename or certfile!r})"
        raise FileNotFoundError(msg) from exc
    except ssl.SSLError as exc:
        msg = (
            f"cert=: could not load the client certificate from {certfile!r} "
            f"({exc.reason or exc}): check that certificate and key match and the password"
        )
        raise ValueError(msg) from exc
