"""Test certificates from trustme: one trusted CA and the bad certificates TLS tests need.

Everything is generated in memory once per session and written as PEM files to a temporary
directory, so servers that only take file names (hypercorn, nginx) can load them. Nothing here
touches the system trust store.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class CertFiles:
    """A leaf certificate on disk: `chain_pem` (leaf then issuer) and its `key_pem`."""

    cert: trustme.LeafCert
    chain_pem: Path
    key_pem: Path

    def server_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """A server-side context presenting this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.chain_pem), str(self.key_pem))
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context


@dataclass(frozen=True, slots=True)
class TLSCertificates:
    """The session's TLS material.

    - `ca` / `ca_pem`: the CA clients should trust (pass `ca_pem` as `verify=`).
    - `server`: valid for localhost, 127.0.0.1 and ::1, issued by `ca`.
    - `client`: a client certificate issued by `ca` (for mutual TLS).
    - `untrusted_ca_pem` / `untrusted`: a second CA and a localhost certificate from it; a client
      that trusts only `ca_pem` must refuse it.
    - `expired`: issued by `ca` for localhost/127.0.0.1, expired yesterday.
    - `wrong_host`: issued by `ca` for example.org only (hostname mismatch on 127.0.0.1).
    """

    directory: Path
    ca: trustme.CA
    ca_pem: Path
    server: CertFiles
    client: CertFiles
    untrusted_ca: trustme.CA
    untrusted_ca_pem: Path
    untrusted: CertFiles
    expired: CertFiles
    wrong_host: CertFiles

    def client_context(self) -> ssl.SSLContext:
        """A stdlib client context trusting only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_pem))


def write_leaf(cert: trustme.LeafCert, directory: Path, name: str) -> CertFiles:
    """Write `name`-chain.pem and `name`-key.pem into `directory`."""
    chain = directory / f"{name}-chain.pem"
    key = directory / f"{name}-key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return CertFiles(cert=cert, chain_pem=chain, key_pem=key)


def make_certificates(directory: Path) -> TLSCertificates:
    """Generate the CA and every certificate into `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))

    untrusted_ca = trustme.CA()
    untrusted_ca_pem = directory / "untrusted-ca.pem"
    untrusted_ca.cert_pem.write_to_path(str(untrusted_ca_pem))

    now = datetime.datetime.now(datetime.UTC)
    expired = ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=2),
        not_after=now - datetime.timedelta(days=1),
    )
    return TLSCertificates(
        directory=directory,
        ca=ca,
        ca_pem=ca_pem,
        server=write_leaf(ca.issue_cert(*SERVER_IDENTITIES), directory, "server"),
        client=write_leaf(ca.issue_cert("client@flext-api.test"), directory, "client"),
        untrusted_ca=untrusted_ca,
        untrusted_ca_pem=untrusted_ca_pem,
        untrusted=write_leaf(untrusted_ca.issue_cert(*SERVER_IDENTITIES), directory, "untrusted"),
        expired=write_leaf(expired, directory, "expired"),
        wrong_host=write_leaf(ca.issue_cert("example.org"), directory, "wrong-host"),
    )
