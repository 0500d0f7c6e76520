"""Tolerant enums must not let a peer grow memory: every unknown value decoded by a client (or
sent to a stub) leaves the enum's value map as the document wrote it and memory bounded."""

from __future__ import annotations

import gc
import tracemalloc

import msgspec

from tests.hostile_server.stubs.conftest import Stub, call
from tests.hostile_server.stubs.test_refusals import VALID, documented_errors

DISTINCT = 10_000


def test_client_decoding_10000_unknown_values_keeps_memory_bounded(hostile: Stub) -> None:
    kind = hostile.models.Kind
    documented = dict(kind._value2member_map_)
    decoder = msgspec.json.Decoder(hostile.models.Thing)
    decoder.decode(b'{"name":"ok","kind":"warm-up"}')
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(DISTINCT):
            thing = decoder.decode(b'{"name":"ok","kind":"unknown-%d"}' % i)
            assert thing.kind.value == f"unknown-{i}" and thing.kind.name == "UNKNOWN"
        del thing
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kind._value2member_map_ == documented
    # 10,000 cached members would hold well over 1 MiB; nothing may stay behind.
    assert after - before < 64 * 1024, f"{after - before} bytes retained"
    assert kind("alpha") is kind.ALPHA  # documented members are still the singletons


def test_a_stub_refusing_unknown_values_keeps_the_value_map(hostile: Stub) -> None:
    kind = hostile.models.Kind
    documented = dict(kind._value2member_map_)
    for i in range(300):  # through the whole middleware stack: fewer, same property
        body = msgspec.json.encode({**VALID, "kind": f"sent-{i}"})
        answer = call(
            hostile.app,
            "POST",
            "/v1/things",
            headers=[("content-type", "application/json")],
            body=body,
        )
        assert documented_errors(answer)[0].startswith("body.kind: ")
    assert kind._value2member_map_ == documented
    assert hostile.handlers.calls == []
