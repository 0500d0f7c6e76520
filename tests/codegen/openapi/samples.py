"""Seeded sample values for generated msgspec types, built from `msgspec.inspect` (test helper).

Values are Python objects (Struct instances, enums, ...), so a test can check
``decode(encode(x)) == x`` and that the wire keys are the schema's property names.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import random
import uuid
from typing import Any

import msgspec
import msgspec.inspect as mi

from flext_api.codegen_unions import variants_of


def sample(t: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value of type ``t``; beyond depth 3 it picks the smallest choices to terminate."""
    return _value(mi.type_info(t), rng, depth)


def _value(info: mi.Type, rng: random.Random, depth: int) -> Any:
    shallow = depth > 3
    if isinstance(info, mi.StructType):
        kwargs: dict[str, Any] = {}
        for f in info.fields:
            if f.required or (not shallow and rng.random() < 0.7):
                kwargs[f.name] = _value(f.type, rng, depth + 1)
        return info.cls(**kwargs)
    if isinstance(info, mi.UnionType):
        choices = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if shallow or not choices:
            simple = [t for t in info.types if not isinstance(t, mi.StructType | mi.ListType)]
            if simple:
                return _value(simple[0], rng, depth + 1)
        return _value(rng.choice(choices or list(info.types)), rng, depth + 1)
    if isinstance(info, mi.ListType):
        count = 0 if shallow else rng.randint(0, 2)
        return [_value(info.item_type, rng, depth + 1) for _ in range(count)]
    if isinstance(info, mi.DictType):
        return {} if shallow else {"key": _value(info.value_type, rng, depth + 1)}
    if isinstance(info, mi.LiteralType):
        return rng.choice(info.values)
    if isinstance(info, mi.EnumType):
        members: list[enum.Enum] = list(info.cls)
        return rng.choice(members)
    if isinstance(info, mi.CustomType) and (variants := variants_of(info.cls)) is not None:
        # an untagged union decoded by shape: a value of one of its variants, an object one
        # with its required fields only (optional ones may be another variant's required ones,
        # which makes the value fit both: flext_api.codegen_unions refuses it as ambiguous)
        variant = mi.type_info(variants[0] if shallow else rng.choice(variants))
        if isinstance(variant, mi.StructType):
            required = {
                f.name: _value(f.type, rng, depth + 1) for f in variant.fields if f.required
            }
            return variant.cls(**required)
        return _value(variant, rng, depth)
    return _scalar(info, rng)


def _scalar(info: mi.Type, rng: random.Random) -> Any:
    if isinstance(info, mi.BoolType):
        return rng.random() < 0.5
    if isinstance(info, mi.IntType):
        return rng.randint(-5, 10**12)
    if isinstance(info, mi.FloatType):
        return rng.choice([0.5, -2.25, 1e3])
    if isinstance(info, mi.StrType):
        return rng.choice(["", "text", "ünïcode", "1234567890"])
    if isinstance(info, mi.BytesType):
        return b"\x00\x01bytes"
    if isinstance(info, mi.DateTimeType):
        return datetime.datetime(2024, 2, 29, 12, 30, 5, tzinfo=datetime.UTC)
    if isinstance(info, mi.DateType):
        return datetime.date(2024, 2, 29)
    if isinstance(info, mi.UUIDType):
        return uuid.UUID(int=rng.getrandbits(128))
    if isinstance(info, mi.NoneType):
        return None
    if isinstance(info, mi.AnyType):
        return {"any": [1, "two", None]}
    raise AssertionError(f"no sample for {info!r}")


def struct_edges(cls: type[msgspec.Struct]) -> list[tuple[str, bool, type[msgspec.Struct]]]:
    """(field python name, is_list, target Struct) for every Struct reachable in one field."""
    out: list[tuple[str, bool, type[msgspec.Struct]]] = []
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    for f in info.fields:
        for target, is_list in _structs_in(f.type, is_list=False):
            out.append((f.name, is_list, target))
    return out


def _structs_in(info: mi.Type, is_list: bool) -> list[tuple[type[msgspec.Struct], bool]]:
    if isinstance(info, mi.StructType):
        return [(info.cls, is_list)]
    if isinstance(info, mi.UnionType):
        return [x for t in info.types for x in _structs_in(t, is_list)]
    if isinstance(info, mi.ListType):
        return _structs_in(info.item_type, True)
    return []


def find_cycle(
    cls: type[msgspec.Struct],
) -> list[tuple[str, bool, type[msgspec.Struct]]] | None:
    """The shortest chain of fields from ``cls`` back to ``cls`` (breadth first)."""
    queue: list[tuple[type[msgspec.Struct], list[tuple[str, bool, type[msgspec.Struct]]]]] = [
        (cls, [])
    ]
    seen: set[type[msgspec.Struct]] = set()
    while queue:
        current, path = queue.pop(0)
        for name, is_list, target in struct_edges(current):
            step = [*path, (name, is_list, target)]
            if target is cls:
                return step
            if target not in seen and len(step) < 4:
                seen.add(target)
                queue.append((target, step))
    return None


def nested(cls: type[msgspec.Struct], levels: int, rng: random.Random) -> msgspec.Struct:
    """A value of ``cls`` nested ``levels`` times along its shortest recursive field chain."""
    cycle = find_cycle(cls)
    assert cycle is not None, f"{cls.__name__} is not recursive"
    value: msgspec.Struct = sample(cls, rng, depth=99)
    for _ in range(levels):
        chain: list[Any] = []
        current_cls: type[msgspec.Struct] = cls
        for name, is_list, target in cycle:
            chain.append((current_cls, name, is_list))
            current_cls = target
        inner: Any = value
        for owner, name, is_list in reversed(chain):
            shell = sample(owner, rng, depth=99)
            inner = msgspec.structs.replace(shell, **{name: [inner] if is_list else inner})
        value = inner
    return value


# --- fitting a sample to what a stub refuses (constraints from the generated check table) --------


def fit(value: Any, node: Any, table: dict[str, Any]) -> Any:
    """``value`` changed as little as needed to pass ``node`` (a stub check node): numbers
    clamped into bounds, strings rebuilt from their pattern or cut/padded to their lengths,
    arrays cut to ``max_items``, Struct fields fitted one by one."""
    while isinstance(node, dict) and "ref" in node:
        node = table.get(node["ref"])
    if not node or value is None:
        return value
    if "any_of" in node:
        return fit(value, node["any_of"][0], table)
    if isinstance(value, msgspec.Struct):
        props = node.get("props", {})
        changes = {
            f.name: fit(getattr(value, f.name), props[f.encode_name], table)
            for f in msgspec.structs.fields(value)
            if f.encode_name in props and getattr(value, f.name) is not msgspec.UNSET
        }
        return msgspec.structs.replace(value, **changes)
    if isinstance(value, dict):
        props = node.get("props") or {}
        return {k: fit(v, props.get(k) or node.get("values"), table) for k, v in value.items()}
    if isinstance(value, list):
        high = node.get("max_items")
        kept = value[:high] if high is not None else value
        return [fit(v, node.get("items"), table) for v in kept]
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        return _fit_text(value, node)
    if isinstance(value, int | float) and not isinstance(value, bool | enum.Enum):
        return _fit_number(value, node)
    return value


def _fit_text(value: str, node: dict[str, Any]) -> str:
    if node.get("pattern") is not None:
        value = _example(node["pattern"])
    low, high = node.get("min_length"), node.get("max_length")
    if high is not None:
        value = value[:high]
    if low is not None and len(value) < low:
        value += "a" * (low - len(value))
    return value


def _fit_number(value: float, node: dict[str, Any]) -> float:
    step = 1 if isinstance(value, int) else 0.5
    low, high = node.get("minimum"), node.get("maximum")
    if node.get("exclusive_minimum") is not None:
        low = node["exclusive_minimum"] + step
    if node.get("exclusive_maximum") is not None:
        high = node["exclusive_maximum"] - step
    if low is not None and value < low:
        value = type(value)(low)
    if high is not None and value > high:
        value = type(value)(high)
    return value


def _example(pattern: str) -> str:
    """The shortest string ``re.search(pattern)`` accepts, for the constructs specs use."""
    # re's private parser, looked up at run time: its typing differs across typeshed contexts.
    parser: Any = importlib.import_module("re._parser")
    return _render(parser.parse(pattern))


def _render(items: Any) -> str:
    c: Any = importlib.import_module("re._constants")

    out = ""
    for op, arg in items:
        if op is c.LITERAL:
            out += chr(arg)
        elif op is c.ANY or op is c.NOT_LITERAL:
            out += "a" if arg != ord("a") else "b"
        elif op is c.IN:
            out += _class_member(arg, c)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, _, sub = arg
            out += _render(sub) * low
        elif op is c.SUBPATTERN:
            out += _render(arg[-1])
        elif op is c.BRANCH:
            out += _render(arg[1][0])
    return out


def _class_member(arg: Any, c: Any) -> str:
    for op, value in arg:
        if op is c.LITERAL:
            return chr(value)
        if op is c.RANGE:
            return chr(value[0])
        if op is c.CATEGORY:
            return {c.CATEGORY_DIGIT: "0", c.CATEGORY_SPACE: " "}.get(value, "a")
    return "a"
