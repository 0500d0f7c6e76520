"""Azure Blob upload and download through Azurite: flext-api's backend against the vendor SDK.

Each client runs in a child process of its own (so peak RSS is its own), against one Azurite on
127.0.0.1, streaming the same generated object (blocks of 8 MiB, one at a time) up and back:

    .venv/bin/python -m benchmarks.azure_blob --mib 256

The figures are Azurite-bound for uploads (it writes every block to disk); they say whether the
backend keeps up with the SDK and how much memory it holds, not how fast Azure is.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
BLOCK = 8 * MiB
_CHUNK = bytes(range(256)) * 4096  # 1 MiB


def _source(total: int) -> Iterator[bytes]:
    for _ in range(total // MiB):
        yield _CHUNK


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_flext(connection: str, total: int) -> dict[str, float]:
    from flext_api.storage.azure import AzureBlobStorage

    with AzureBlobStorage(
        "bench", connection_string=connection, multipart_threshold=2 * BLOCK, part_size=BLOCK
    ) as storage:
        storage.create_container().unwrap()
        started = time.perf_counter()
        storage.upload_file("flext.bin", _source(total)).unwrap()
        up = time.perf_counter() - started
        started = time.perf_counter()
        received = 0
        with storage.open_download("flext.bin") as result:
            for chunk in result.unwrap():
                received += len(chunk)
        down = time.perf_counter() - started
    assert received == total
    return {"up": up, "down": down, "rss": _peak_mib()}


def run_sdk(connection: str, total: int) -> dict[str, float]:
    from azure.storage.blob import BlobServiceClient

    service: Any = BlobServiceClient.from_connection_string(
        connection, api_version="2025-11-05", max_block_size=BLOCK, max_single_put_size=2 * BLOCK
    )
    container: Any = service.get_container_client("bench")
    if not container.exists():
        container.create_container()
    blob: Any = container.get_blob_client("sdk.bin")
    started = time.perf_counter()
    blob.upload_blob(_source(total), overwrite=True, max_concurrency=1)
    up = time.perf_counter() - started
    started = time.perf_counter()
    received = sum(len(chunk) for chunk in blob.download_blob(max_concurrency=1).chunks())
    down = time.perf_counter() - started
    assert received == total
    return {"up": up, "down": down, "rss": _peak_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="object size in MiB")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--connection", help=argparse.SUPPRESS)
    args = parser.parse_args()
    total = args.mib * MiB
    if args.child:
        runner = run_flext if args.child == "flext-api" else run_sdk
        print(json.dumps(runner(args.connection, total)))
        return
    from tests.servers.azurite import azurite_available, running_azurite

    missing = azurite_available()
    if missing is not None:
        sys.exit(missing)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_azurite(Path(tmp)) as server:
        for name in ("flext-api", "azure-storage-blob"):
            out = subprocess.run(
                [
                    sys.executable,
                    *("-m", "benchmarks.azure_blob", "--mib", str(args.mib), "--child", name),
                    *("--connection", server.connection_string),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            rows.append((name, figures))
    print(f"{args.mib} MiB object, 8 MiB blocks, one at a time, Azurite on 127.0.0.1")
    print("| client | upload MiB/s | download MiB/s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, figures in rows:
        print(
            f"| {name} | {args.mib / figures['up']:.1f} | {args.mib / figures['down']:.1f} "
            f"| {figures['rss']:.0f} |"
        )


if __name__ == "__main__":
    main()
