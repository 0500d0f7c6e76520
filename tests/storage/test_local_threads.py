"""Atomic visibility under concurrency: writers replacing one key from several threads while a
reader downloads it; every read is one writer's whole object, never a mixture or a part."""

from __future__ import annotations

import threading
from pathlib import Path

from flext_api.storage import LocalStorage


def test_concurrent_writers_and_a_reader_see_whole_objects(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root", chunk_size=64 * 1024)
    size = 512 * 1024
    storage.upload_file("shared", bytes([255]) * size).unwrap()
    stop = threading.Event()
    errors: list[str] = []

    def writer(value: int) -> None:
        for _ in range(15):
            result = storage.upload_file("shared", bytes([value]) * size)
            if result.is_failure:
                errors.append(f"writer {value}: {result.error}")

    def reader() -> None:
        while not stop.is_set():
            data = storage.download_file("shared").unwrap()
            if len(data) != size or data.count(data[:1]) != size:
                errors.append(f"a read saw {len(data)} bytes, mixed: {set(data)}")

    readers = [threading.Thread(target=reader)]
    writers = [threading.Thread(target=writer, args=(v,)) for v in range(4)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    names = sorted(p.name for p in (tmp_path / "root").iterdir())
    assert names == [".flext-meta.shared.json", "shared"]  # no temporary file left over
