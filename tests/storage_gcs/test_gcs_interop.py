"""Interop with Google's own client: google-cloud-storage (a test-only peer) reads what the GCS
backend wrote, and the backend reads what it wrote, on the same gcp-storage-emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as google_storage  # type: ignore[import-untyped]

from flext_api.storage.gcs import GCSStorage
from tests.storage_gcs.emulator import BUCKET, Emulator, run_emulator

PART = 256 * 1024


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with run_emulator(tmp_path_factory.mktemp("gcs-interop")) as running:
        yield running


@pytest.fixture
def google_bucket(emulator: Emulator) -> google_storage.Bucket:
    client = google_storage.Client(
        project="flext-tests",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": emulator.url},
    )
    return client.bucket(BUCKET)


def _data(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@pytest.mark.parametrize("size", [1000, 3 * PART + 7], ids=["multipart", "resumable"])
def test_google_reads_what_we_wrote(
    emulator: Emulator, google_bucket: google_storage.Bucket, size: int
) -> None:
    data = _data(size)
    key = f"ours/{size}/a b+c.bin"
    with GCSStorage(
        BUCKET, endpoint=emulator.url, multipart_threshold=PART, part_size=PART
    ) as ours:
        stored = ours.upload_file(
            key, data, content_type="application/x-flext", metadata={"origin": "flext"}
        ).unwrap()
    blob = google_bucket.get_blob(key)
    assert blob is not None
    assert str(blob.generation) == stored.etag  # our etag is GCS's generation
    assert blob.download_as_bytes() == data
    assert (blob.size, blob.content_type, blob.metadata) == (
        size,
        "application/x-flext",
        {"origin": "flext"},
    )


def test_we_read_what_google_wrote(
    emulator: Emulator, google_bucket: google_storage.Bucket, tmp_path: Path
) -> None:
    data = _data(2 * PART + 3)
    blob = google_bucket.blob("theirs/report.csv")
    blob.metadata = {"owner": "google"}
    blob.upload_from_string(data, content_type="text/csv")
    with GCSStorage(BUCKET, endpoint=emulator.url) as ours:
        info = ours.stat("theirs/report.csv").unwrap()
        assert (info.size, info.content_type, dict(info.metadata)) == (
            len(data),
            "text/csv",
            {"owner": "google"},
        )
        assert ours.download_file("theirs/report.csv", tmp_path / "r.csv").is_success
        listed = [item.key for item in ours.iter_files("theirs/")]
    assert (tmp_path / "r.csv").read_bytes() == data
    assert listed == ["theirs/report.csv"]
