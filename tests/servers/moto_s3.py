"""moto in server mode as the tests' S3, with its authentication switched on.

moto (started through tests/servers/moto_entry.py, which also authenticates presigned
URLs) checks SigV4 signatures only for access keys its IAM knows, and only once its count of
free (unauthenticated) actions is spent: the runner spends exactly those on creating a user,
its access key and a policy allowing ``s3:*``, so every later request must be signed with
that key (a wrong signature answers ``SignatureDoesNotMatch``). Buckets are created through
boto3 (the test peer) with the same key.

``S3_UPLOAD_PART_MIN_SIZE`` is lowered so multipart uploads can be tested with small parts.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
MIN_PART_SIZE = 1024
_BUCKETS = itertools.count(1)


@dataclass
class MotoS3:
    url: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]
    region: str = "us-east-1"

    def boto3_client(self, *, secret: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
        )

    def new_bucket(self) -> str:
        name = f"bucket-{os.getpid()}-{next(_BUCKETS)}"
        self.boto3_client().create_bucket(Bucket=name)
        return name

    def kill(self) -> None:
        """SIGKILL the server (the fault tests)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(*, authenticate: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": "3" if authenticate else "inf",
        "S3_UPLOAD_PART_MIN_SIZE": str(MIN_PART_SIZE),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("moto_entry.py")),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.05)
    return process, url


@contextmanager
def run_moto_s3(*, authenticate: bool = True) -> Iterator[MotoS3]:
    """moto on a free port of 127.0.0.1; ``authenticate=False`` checks no signature."""
    process, url = _start(authenticate=authenticate)
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="flext")
        key = iam.create_access_key(UserName="flext")["AccessKey"]
        iam.put_user_policy(UserName="flext", PolicyName="s3", PolicyDocument=_POLICY)
        yield MotoS3(url, key["AccessKeyId"], key["SecretAccessKey"], process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
