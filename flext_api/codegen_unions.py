"""Untagged unions of objects, decoded by their shape (generated packages import this).

msgspec decodes a union of several Structs only when they share a tag field. An OpenAPI
``oneOf``/``anyOf`` of object schemas without a ``discriminator`` has no tag, but its variants
can usually be told apart by the properties each one requires. A generated model module types
such a union as ``A | B`` for type checkers and, at run time, as a class made by
:func:`structural_union`; msgspec hands values of that class to :func:`decode_hook`, which picks
the variant:

1. a JSON object goes to the object variants whose required properties it all carries;
2. several left: those whose closed-valued properties (a ``Literal``, an enum's members, a
   tag) hold the object's values are kept (if any): ``type`` tells ``twitch`` from
   ``guild_subscription`` even where both variants require the same properties;
3. several left: those that declare every property the object has are kept (if any);
4. several left: those the object converts into are kept;
5. several left: the variant that requires the most properties wins, as the most specific
   match (``{id, kind}`` over ``{id}``); a tie is ambiguous;
6. none: a map variant (``dict[str, X]``, at most one) takes it if it converts. Beside a
   map, rule 1 also asks a Struct to declare every key of the object (the map keeps them).

Any other JSON value (a string, a number, an array) goes to the first non-object variant that
converts it. No match, or an ambiguous one, is a ``msgspec.ValidationError`` that names the
union and the variants' required properties, so a decoding client returns it as a
``DecodingError`` Failure. Encoding needs nothing: a variant is an ordinary Struct.

>>> import msgspec
>>> class Cat(msgspec.Struct, kw_only=True):
...     name: str
...     meows: bool
>>> class Dog(msgspec.Struct, kw_only=True):
...     name: str
...     barks: bool
>>> Pet = structural_union("Pet", Cat, Dog)
>>> msgspec.json.decode(b'{"name": "Rex", "barks": true}', type=Pet, dec_hook=decode_hook)
Dog(name='Rex', barks=True)
"""

from __future__ import annotations

import contextlib
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["decode_hook", "structural_union", "variants_of"]


class _StructuralUnionMeta(type):
    """Values of any variant are instances of the union (msgspec checks the hook's result)."""

    _variants: tuple[Any, ...] | Callable[[], tuple[Any, ...]]
    _runtime: tuple[type, ...] | None

    @property
    def __structural_variants__(cls) -> tuple[Any, ...]:
        if callable(cls._variants):
            # a union that names itself (`dict[str, ErrorDetails]` inside ErrorDetails) gives
            # its variants as a function, resolved on first use, when the name exists
            cls._variants = tuple(cls._variants())
        return cls._variants

    def __instancecheck__(cls, instance: object) -> bool:
        if cls._runtime is None:
            cls._runtime = tuple(c for v in cls.__structural_variants__ for c in _runtime_class(v))
        return isinstance(instance, cls._runtime)


def _runtime_class(variant: Any) -> tuple[type, ...]:
    if isinstance(variant, type):
        return (variant,)
    origin = typing.get_origin(variant)
    if origin is typing.Literal:
        return tuple({type(v) for v in typing.get_args(variant)})
    if origin is typing.Union or isinstance(variant, type(int | str)):
        return tuple(c for arg in typing.get_args(variant) for c in _runtime_class(arg))
    if isinstance(origin, type):
        return (origin,)
    return (object,)


def structural_union(name: str, *variants: Any) -> type:
    """A run-time type standing for the untagged union of ``variants`` (Struct classes and
    any other msgspec types), decoded by :func:`decode_hook`. Generated code annotates with
    ``A | B`` for type checkers and uses this at run time. A union whose variants name the
    union itself passes one function returning them instead (called on first use)."""
    lazy = len(variants) == 1 and isinstance(variants[0], types.FunctionType)
    namespace = {
        "__doc__": f"The untagged union {name}.",
        "_variants": variants[0] if lazy else variants,
        "_runtime": None,
    }
    return _StructuralUnionMeta(name, (), namespace)


def variants_of(type_: Any) -> tuple[Any, ...] | None:
    """The variants of a type made by :func:`structural_union`, else None."""
    if not isinstance(type_, _StructuralUnionMeta):
        return None
    return type_.__structural_variants__


def _required(struct: type[msgspec.Struct]) -> frozenset[str]:
    names = {f.encode_name for f in msgspec.structs.fields(struct) if f.required}
    tag_field = struct.__struct_config__.tag_field
    return frozenset(names | {tag_field} if tag_field is not None else names)


def _declared(struct: type[msgspec.Struct]) -> frozenset[str]:
    return _required(struct) | {f.encode_name for f in msgspec.structs.fields(struct)}


_KNOWN: dict[type, dict[str, frozenset[object]]] = {}


def _closed_values(annotation: Any) -> frozenset[object] | None:
    """The values a field type allows when they form a closed set: a ``Literal``, an enum's
    members (open enums accept others when decoding; their known members still tell variants
    apart), optionally with None; else None."""
    if typing.get_origin(annotation) is typing.Literal:
        return frozenset(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return frozenset(m.value for m in annotation)
    if annotation is type(None):
        return frozenset({None})
    args = typing.get_args(annotation)
    if args and (
        typing.get_origin(annotation) is typing.Union or isinstance(annotation, types.UnionType)
    ):
        parts = [_closed_values(a) for a in args if a is not msgspec.UnsetType]
        if all(p is not None for p in parts):
            return frozenset().union(*typing.cast(list[frozenset[object]], parts))
    return None


def _known_values(struct: type[msgspec.Struct]) -> dict[str, frozenset[object]]:
    known = _KNOWN.get(struct)
    if known is None:
        try:
            hints = typing.get_type_hints(struct)
        except (NameError, TypeError):  # pragma: no cover - a name the module cannot resolve
            hints = {}
        known = {}
        for f in msgspec.structs.fields(struct):
            values = _closed_values(hints.get(f.name))
            if values is not None:
                known[f.encode_name] = values
        config = struct.__struct_config__
        if config.tag_field is not None:
            known[config.tag_field] = frozenset({config.tag})
        _KNOWN[struct] = known
    return known


def _values_fit(value: dict[str, Any], struct: type[msgspec.Struct]) -> bool:
    """No property of ``value`` holds a value outside the closed set the variant allows."""
    return all(
        value[name] in allowed
        for name, allowed in _known_values(struct).items()
        if name in value and isinstance(value[name], str | int | bool | None)
    )


def _converts(value: object, target: Any) -> Any:
    try:
        return msgspec.convert(value, target, dec_hook=decode_hook)
    except msgspec.ValidationError:
        return _NO


_NO = object()


def _describe(structs: list[type[msgspec.Struct]]) -> str:
    return "; ".join(f"{s.__name__} requires {sorted(_required(s)) or 'nothing'}" for s in structs)


def _pick_object(name: str, value: dict[str, Any], structs: list[type[msgspec.Struct]]) -> Any:
    keys = set(value)
    candidates = [s for s in structs if _required(s) <= keys]
    if not candidates:
        raise msgspec.ValidationError(
            f"the object fits no variant of {name} (keys {sorted(keys)}): {_describe(structs)}"
        )
    steps: list[Callable[[list[type[msgspec.Struct]]], list[type[msgspec.Struct]]]] = [
        lambda cs: [s for s in cs if _values_fit(value, s)],
        lambda cs: [s for s in cs if keys <= _declared(s)],
        lambda cs: [s for s in cs if _converts(value, s) is not _NO],
        lambda cs: [s for s in cs if len(_required(s)) == max(len(_required(o)) for o in cs)],
    ]
    for step in steps:
        if len(candidates) == 1:
            break
        candidates = step(candidates) or candidates
    if len(candidates) > 1:
        raise msgspec.ValidationError(
            f"the object fits several variants of {name} (keys {sorted(keys)}): "
            f"{_describe(candidates)}"
        )
    return msgspec.convert(value, candidates[0], dec_hook=decode_hook)


def decode_hook(type_: Any, value: Any) -> Any:
    """msgspec ``dec_hook`` for the unions :func:`structural_union` makes (pass it to
    ``msgspec.json.decode``/``Decoder``/``convert``); any other type is left to msgspec."""
    variants = variants_of(type_)
    if variants is None:
        raise NotImplementedError(f"no decoder for {type_!r}")
    name = type_.__name__
    structs = [v for v in variants if isinstance(v, type) and issubclass(v, msgspec.Struct)]
    others = [v for v in variants if v not in structs]
    if isinstance(value, dict) and structs:
        maps = [v for v in others if typing.get_origin(v) is dict]
        if not maps:
            return _pick_object(name, value, structs)
        # Beside a map, a Struct takes only the objects whose every key it declares; the map
        # (`dict[str, X]`, at most one) takes the rest, when their values convert.
        keys = set(value)
        if fitting := [s for s in structs if keys <= _declared(s)]:
            with contextlib.suppress(msgspec.ValidationError):
                return _pick_object(name, value, fitting)
        try:
            return msgspec.convert(value, maps[0], dec_hook=decode_hook)
        except msgspec.ValidationError as error:
            raise msgspec.ValidationError(
                f"the object fits no variant of {name} (keys {sorted(keys)}): "
                f"{_describe(structs)}; as {_name(maps[0])}: {error}"
            ) from None
    for variant in others:
        converted = _converts(value, variant)
        if converted is not _NO:
            return converted
    raise msgspec.ValidationError(
        f"a {type(value).__name__} fits no variant of {name} ({', '.join(map(_name, variants))})"
    )


def _name(variant: Any) -> str:
    args = typing.get_args(variant)
    if args and isinstance(typing.get_origin(variant), type):
        return f"{typing.get_origin(variant).__name__}[{', '.join(map(_name, args))}]"
    return getattr(variant, "__name__", None) or repr(variant)
