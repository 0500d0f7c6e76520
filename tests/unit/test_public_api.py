"""The public surface: every name in ``flext_api.__all__`` exists, is listed once, and each
async class has its blocking twin (the transform's promise, seen from the outside)."""

from __future__ import annotations

import flext_api


def test_all_is_unique_and_resolves() -> None:
    names = flext_api.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(flext_api, name) is not None, name


def test_every_async_public_class_has_a_sync_twin() -> None:
    for name in flext_api.__all__:
        if name.startswith("Async"):
            assert name.removeprefix("Async") in flext_api.__all__, name


def test_twins_have_the_same_public_methods() -> None:
    pairs = [
        (flext_api.AsyncFlextApiClient, flext_api.FlextApiClient),
        (flext_api.AsyncStreamingResponse, flext_api.StreamingResponse),
    ]
    renamed = {"aclose": "close", "aread": "read", "aiter_bytes": "iter_bytes"}
    for async_cls, sync_cls in pairs:
        async_names = {n for n in dir(async_cls) if not n.startswith("_")}
        sync_names = {n for n in dir(sync_cls) if not n.startswith("_")}
        expected = {
            renamed.get(n, n.removeprefix("a") if n.startswith("aiter_") else n)
            for n in async_names
        }
        assert expected == sync_names, async_cls.__name__
