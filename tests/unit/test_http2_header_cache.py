"""The HTTP/2 connection's header-block cache gives exactly what hpack alone would.

Blocks that only use literals never added to the table (nginx's style) are cached; blocks that
add to the dynamic table are always decoded, because their meaning depends on that table.
"""

from __future__ import annotations

import hpack

from flext_api._async.http2 import _HeaderBlockDecoder

FIELDS = [(b":status", b"200"), (b"server", b"nginx"), (b"content-length", b"13")]


def never_indexed_block() -> bytes:
    encoder = hpack.Encoder()
    return encoder.encode([hpack.NeverIndexedHeaderTuple(name, value) for name, value in FIELDS])


def test_block_independent_of_the_table_is_cached_and_decodes_the_same() -> None:
    block = never_indexed_block()
    decoder = _HeaderBlockDecoder()
    first = decoder.decode(block, raw=True)
    second = decoder.decode(block, raw=True)
    assert [tuple(field) for field in first] == FIELDS
    assert [tuple(field) for field in second] == FIELDS
    assert len(decoder._blocks) == 1
    second.append((b"x", b"y"))  # callers get their own list
    assert [tuple(field) for field in decoder.decode(block, raw=True)] == FIELDS


def test_blocks_using_the_dynamic_table_are_never_cached() -> None:
    encoder = hpack.Encoder()
    decoder = _HeaderBlockDecoder()
    reference = hpack.Decoder()
    for value in (b"a", b"b", b"a"):
        block = encoder.encode([(b"x-custom", value), (b":status", b"200")])
        assert decoder.decode(block, raw=True) == reference.decode(block, raw=True)
    assert decoder._blocks == {}
    # With entries in its table, even a table-independent block is decoded afresh.
    assert [tuple(field) for field in decoder.decode(never_indexed_block(), raw=True)] == FIELDS
    assert decoder._blocks == {}
