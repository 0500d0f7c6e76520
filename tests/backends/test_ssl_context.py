"""create_ssl_context: where trust comes from, what is cached, and what is refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from flext_api import _ssl
from flext_api._ssl import InsecureTLSWarning, create_ssl_context


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_ssl, "_contexts", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield


def _subjects(context: ssl.SSLContext) -> list[str]:
    return [str(cert["subject"]) for cert in context.get_ca_certs()]


def test_default_verifies_and_is_cached() -> None:
    context = create_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert create_ssl_context() is context
    assert create_ssl_context(alpn=("h2", "http/1.1")) is not context
    assert create_ssl_context(alpn=()) is not context  # offers no ALPN at all


def test_verify_false_warns_and_does_not_verify() -> None:
    with pytest.warns(InsecureTLSWarning, match="verify=False"):
        context = create_ssl_context(verify=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    with pytest.warns(InsecureTLSWarning):  # every time, cached or not
        assert create_ssl_context(verify=False) is context


def test_ca_bundle_file_and_directory(ca: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    from_file = create_ssl_context(verify=bundle)  # a PathLike works as well as a str
    assert len(from_file.get_ca_certs()) == 1
    directory = tmp_path / "certs"
    directory.mkdir()
    from_dir = create_ssl_context(verify=str(directory))
    assert from_dir.verify_mode == ssl.CERT_REQUIRED
    assert from_dir.get_ca_certs() == []  # a capath is read lazily, during handshakes


def test_missing_and_broken_ca_bundles(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such CA bundle"):
        create_ssl_context(verify=str(tmp_path / "missing.pem"))
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="could not load CA certificates"):
        create_ssl_context(verify=str(broken))


def test_caller_context_is_used_as_given() -> None:
    mine = ssl.create_default_context()
    assert create_ssl_context(verify=mine, alpn=("h2",)) is mine
    with pytest.raises(ValueError, match="load_cert_chain"):
        create_ssl_context(verify=mine, cert="client.pem")


def test_wrong_option_types() -> None:
    with pytest.raises(TypeError, match="verify="):
        create_ssl_context(verify=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="verify="):
        create_ssl_context(verify=b"/etc/ssl/cert.pem")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cert="):
        create_ssl_context(cert=("a", "b", "c", "d"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="alpn="):
        create_ssl_context(alpn="h2")


def test_environment_trust(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "env-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    from_env = create_ssl_context()
    assert len(from_env.get_ca_certs()) == 1
    ignoring_env = create_ssl_context(trust_env=False)
    assert ignoring_env is not from_env
    assert _subjects(ignoring_env) != _subjects(from_env)
    # A variable naming nothing is ignored, as OpenSSL does.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "gone.pem"))
    assert _subjects(create_ssl_context()) == _subjects(ignoring_env)


def test_distribution_bundle_when_openssl_paths_are_missing(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "distro.pem"
    ca.cert_pem.write_to_path(str(bundle))
    missing = str(tmp_path / "missing")
    paths = ssl.DefaultVerifyPaths(
        missing, missing, "SSL_CERT_FILE", missing, "SSL_CERT_DIR", missing
    )
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)
    monkeypatch.setattr(_ssl, "_CA_BUNDLES", (missing, str(bundle)))
    assert len(create_ssl_context().get_ca_certs()) == 1
    monkeypatch.setattr(_ssl, "_CA_BUNDLES", ())
    monkeypatch.setattr(_ssl, "_contexts", {})
    assert create_ssl_context().get_ca_certs() == []  # nothing trusted: every handshake fails


def test_client_certificates(ca: trustme.CA, tmp_path: Path) -> None:
    leaf = ca.issue_cert("client@example.test")
    combined = tmp_path / "client.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(combined))
    cert_only, key_only = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert_only))
    leaf.private_key_pem.write_to_path(str(key_only))

    create_ssl_context(cert=str(combined))
    create_ssl_context(cert=(str(cert_only), str(key_only)))
    create_ssl_context(cert=(str(cert_only), str(key_only), "unused-password"))
    with pytest.raises(FileNotFoundError, match="cert=: no such"):
        create_ssl_context(cert=str(tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match="could not load the client certificate"):
        create_ssl_context(cert=str(cert_only))  # no key anywhere


def test_cache_is_bounded(tmp_path: Path, ca: trustme.CA) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    for index in range(_ssl._CACHE_LIMIT + 5):
        create_ssl_context(verify=str(bundle), alpn=(f"proto-{index}",))
    assert len(_ssl._contexts) <= _ssl._CACHE_LIMIT
