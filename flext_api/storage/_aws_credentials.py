"""Where AWS credentials come from: the arguments, then the environment, then the shared
credentials file. Reads one small file at most; never talks to the network (no instance
metadata lookups: a backend that needs them takes credentials from the caller).
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from flext_api._sansio.auth import Secret
from flext_api.storage._sigv4 import AwsCredentials

__all__ = ["CredentialsNotFound", "resolve_credentials"]


class CredentialsNotFound(LookupError):
    """No access key was given, none is in the environment and none in the shared file."""


def _from_file(path: Path, profile: str) -> AwsCredentials | None:
    parser = configparser.RawConfigParser()
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error) as error:
        raise CredentialsNotFound(
            f"the shared credentials file {path} cannot be read ({error}); fix or remove it"
        ) from error
    if not parser.has_section(profile):
        return None
    section = parser[profile]
    key_id = section.get("aws_access_key_id", "").strip()
    secret = section.get("aws_secret_access_key", "").strip()
    if not key_id or not secret:
        raise CredentialsNotFound(
            f"profile [{profile}] of {path} lacks aws_access_key_id or aws_secret_access_key"
        )
    token = section.get("aws_session_token", "").strip()
    return AwsCredentials(key_id, Secret(secret), Secret(token) if token else None)


def resolve_credentials(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | Secret | None = None,
    session_token: str | Secret | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AwsCredentials:
    """The first complete source wins: the arguments (both keys), ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` (with ``AWS_SESSION_TOKEN``), then the profile (``profile``,
    ``AWS_PROFILE`` or ``default``) of ``AWS_SHARED_CREDENTIALS_FILE`` or
    ``~/.aws/credentials``. An explicit ``profile`` skips the environment's keys.

    Raises :class:`CredentialsNotFound` with what to set when no source is complete.
    """
    env = os.environ if environ is None else environ
    if access_key_id is not None or secret_access_key is not None:
        if not access_key_id or not secret_access_key:
            raise CredentialsNotFound(
                "pass both access_key_id and secret_access_key (or neither, to read the"
                " environment or the shared credentials file)"
            )
        return AwsCredentials(
            access_key_id,
            Secret(secret_access_key),
            Secret(session_token) if session_token else None,
        )
    if profile is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        token = env.get("AWS_SESSION_TOKEN")
        return AwsCredentials(
            env["AWS_ACCESS_KEY_ID"],
            Secret(env["AWS_SECRET_ACCESS_KEY"]),
            Secret(token) if token else None,
        )
    chosen = profile or env.get("AWS_PROFILE") or "default"
    path = Path(
        env.get("AWS_SHARED_CREDENTIALS_FILE") or Path("~/.aws/credentials").expanduser()
    ).expanduser()
    found = _from_file(path, chosen)
    if found is None:
        raise CredentialsNotFound(
            "no AWS credentials: pass access_key_id and secret_access_key, set"
            f" AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a [{chosen}] profile to {path}"
        )
    return found
