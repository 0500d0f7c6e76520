"""A throwaway RSA service-account key for the GCS tests (made per run, never a real account)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

EMAIL = "uploader@flext-tests.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef"


@cache
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem() -> bytes:
    return (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def key_info(token_uri: str = "https://oauth2.googleapis.com/token") -> dict[str, Any]:
    pem = private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "type": "service_account",
        "project_id": "flext-tests",
        "private_key_id": KEY_ID,
        "private_key": pem.decode("ascii"),
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }


def write_key_file(directory: Path, token_uri: str = "https://oauth2.googleapis.com/token") -> Path:
    path = directory / "service-account.json"
    path.write_text(json.dumps(key_info(token_uri)))
    return path
