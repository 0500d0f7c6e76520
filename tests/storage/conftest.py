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

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flext_api.storage import AsyncStorageBackend, StorageBackend
from flext_api.storage.azure import AsyncAzureBlobStorage, AzureBlobStorage
from flext_api.storage.local import AsyncLocalStorage, LocalStorage
from tests.servers.azurite import Azurite, azurite_available, running_azurite

STORAGE_BACKENDS = [
    pytest.param("local", id="local"),
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
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite (npm, pinned in tests/servers/azurite) for the whole session, on 127.0.0.1."""
    missing = azurite_available()
    if missing is not None:
        pytest.fail(missing)
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


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
