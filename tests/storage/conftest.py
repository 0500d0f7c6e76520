"""Fixtures of the storage contract suite: one `storage_factory` per backend kind.

The contract tests (tests/storage/_async, generated into tests/storage/_sync) take
`storage_factory` and run once per entry of STORAGE_BACKENDS, on sync, asyncio and trio.
A backend joins the suite with two additions here:

1. a fixture named `storage_factory_<kind>` returning a `StorageFactory` whose `create`
   builds a backend (blocking or async, as asked) on a namespace fresh for the test (a new
   root, bucket or container; start emulators in a session-scoped fixture);
2. one `pytest.param("<kind>", id="<kind>")` line in STORAGE_BACKENDS (with marks, if the
   emulator needs a skip condition).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flext_api.storage import AsyncStorageBackend, StorageBackend
from flext_api.storage.azure import AsyncAzureBlobStorage, AzureBlobStorage
from flext_api.storage.gcs import AsyncGCSStorage, GCSStorage, ServiceAccountCredentials
from flext_api.storage.local import AsyncLocalStorage, LocalStorage
from flext_api.storage.s3 import AsyncS3Storage, S3Storage
from tests.servers.azurite import Azurite, azurite_available, running_azurite
from tests.servers.moto_s3 import MIN_PART_SIZE as S3_MIN_PART_SIZE
from tests.servers.moto_s3 import MotoS3, run_moto_s3
from tests.storage_gcs import keys
from tests.storage_gcs.conformance_proxy import run_conformance_proxy
from tests.storage_gcs.emulator import create_bucket, run_emulator

STORAGE_BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("s3", id="s3"),
    pytest.param("gcs", id="gcs"),
    pytest.param("azure", id="azure"),
]


@dataclass
class StorageFactory:
    """Builds backends of one kind on one fresh namespace.

    `create(StorageBackend, **options)` or `create(AsyncStorageBackend, **options)`: options
    are the base settings (`multipart_threshold`, `part_size`, `chunk_size`, `name`).
    `presign`: whether the kind presigns URLs (the contract then fetches them).
    `min_part_size`: the smallest part the backend's multipart upload accepts."""

    kind: str
    build_sync: Callable[..., StorageBackend]
    build_async: Callable[..., AsyncStorageBackend]
    presign: bool = False
    min_part_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def create(self, flavor: object, **options: Any) -> Any:
        """A backend of `flavor` (the abstract class, StorageBackend or AsyncStorageBackend:
        the async suite names the latter, its generated twin the former)."""
        if flavor is AsyncStorageBackend:
            backend: StorageBackend | AsyncStorageBackend = self.build_async(**options)
        else:
            assert flavor is StorageBackend
            backend = self.build_sync(**options)
        return backend


@pytest.fixture
def storage_factory_local(tmp_path: Path) -> StorageFactory:
    root = tmp_path / "objects"
    return StorageFactory(
        kind="local",
        build_sync=lambda **options: LocalStorage(root, **options),
        build_async=lambda **options: AsyncLocalStorage(root, **options),
    )


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[MotoS3]:
    """moto in server mode with its authentication on (tests/servers/moto_s3.py)."""
    with run_moto_s3() as server:
        yield server


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite (npm, pinned in tests/servers/azurite) for the whole session, on 127.0.0.1."""
    missing = azurite_available()
    if missing is not None:
        pytest.fail(missing)
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def storage_factory_s3(moto_s3_server: MotoS3) -> StorageFactory:
    bucket = moto_s3_server.new_bucket()
    settings: dict[str, Any] = {
        "endpoint": moto_s3_server.url,
        "region": moto_s3_server.region,
        "access_key_id": moto_s3_server.access_key_id,
        "secret_access_key": moto_s3_server.secret_access_key,
    }
    return StorageFactory(
        kind="s3",
        build_sync=lambda **options: S3Storage(bucket, **settings, **options),
        build_async=lambda **options: AsyncS3Storage(bucket, **settings, **options),
        presign=True,
        min_part_size=S3_MIN_PART_SIZE,
    )


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcp-storage-emulator on 127.0.0.1 (tests/storage_gcs/emulator.py) behind the proxy that
    adds the list pages and create-only preconditions it lacks
    (tests/storage_gcs/conformance_proxy.py), for the whole run."""
    with (
        run_emulator(tmp_path_factory.mktemp("gcs-contract")) as emulator,
        run_conformance_proxy(emulator.url) as url,
    ):
        yield url


@pytest.fixture
def storage_factory_gcs(gcs_endpoint: str) -> StorageFactory:
    """A fresh bucket per test. Requests are anonymous (the emulator checks no token); the
    test key only signs URLs, whose signatures tests/storage_gcs checks against
    google-cloud-storage's signer."""
    bucket = f"contract-{next(_BUCKETS)}"
    create_bucket(gcs_endpoint, bucket)
    credentials = ServiceAccountCredentials.from_info(keys.key_info()).unwrap()
    settings: dict[str, Any] = {
        "endpoint": gcs_endpoint,
        "credentials": credentials,
        "anonymous": True,
        "retry_backoff": 0.01,
    }
    return StorageFactory(
        kind="gcs",
        build_sync=lambda **options: GCSStorage(bucket, **settings, **options),
        build_async=lambda **options: AsyncGCSStorage(bucket, **settings, **options),
        presign=True,
        min_part_size=256 * 1024,
    )


_BUCKETS = itertools.count()


@pytest.fixture
def storage_factory_azure(azurite_server: Azurite) -> StorageFactory:
    container = f"contract{uuid.uuid4().hex[:16]}"
    connection = azurite_server.connection_string
    with AzureBlobStorage(container, connection_string=connection) as setup:
        setup.create_container().unwrap()
    return StorageFactory(
        kind="azure",
        build_sync=lambda **options: AzureBlobStorage(
            container, connection_string=connection, **options
        ),
        build_async=lambda **options: AsyncAzureBlobStorage(
            container, connection_string=connection, **options
        ),
        presign=True,
    )


@pytest.fixture(params=STORAGE_BACKENDS)
def storage_factory(request: pytest.FixtureRequest) -> StorageFactory:
    """The factory of each backend kind in turn (see the module docstring to add one)."""
    factory: StorageFactory = request.getfixturevalue(f"storage_factory_{request.param}")
    return factory
