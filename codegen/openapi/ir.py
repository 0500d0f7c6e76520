"""The typed intermediate representation between a loaded document and the emitters.

Everything here is a frozen value: the parser builds it once, the model emitter (and later the
client and stub emitters) only read it. It must never hold raw document nodes, except the vendor
extensions (``x-*``) kept verbatim for pagination hints and similar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# --- type expressions ---------------------------------------------------------------------------

PrimitiveKind = Literal[
    "str", "int", "float", "bool", "bytes", "binary", "datetime", "date", "time", "uuid", "decimal"
]


@dataclass(frozen=True, slots=True)
class Constraints:
    """What a schema refuses beyond its type: bounds, lengths, a pattern, item counts.

    Only the server stubs enforce these (clients stay tolerant of what servers send). Bounds are
    in the 3.1 form whatever the document's version (a 3.0 ``exclusiveMinimum: true`` becomes
    ``exclusive_minimum`` holding the number); ``pattern`` is already a Python ``re`` pattern
    (translated from ECMA-262; None when it could not be, with a diagnostic).
    """

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_source: str | None = None  # the document's own (ECMA-262) text, for messages
    min_items: int | None = None
    max_items: int | None = None


@dataclass(frozen=True, slots=True)
class Primitive:
    """A scalar; ``format`` is kept even when it does not change the Python type (``int32``)."""

    kind: PrimitiveKind
    format: str | None = None
    constraints: Constraints | None = None


@dataclass(frozen=True, slots=True)
class AnyType:
    """No usable schema (``{}``, ``true``, or a degraded construct)."""


@dataclass(frozen=True, slots=True)
class NoneType:
    """Only ``null`` (``type: "null"``)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A named definition, by its id (the JSON pointer of the schema that defines it)."""

    id: str


@dataclass(frozen=True, slots=True)
class ArrayOf:
    item: TypeExpr
    unique: bool = False
    constraints: Constraints | None = None


@dataclass(frozen=True, slots=True)
class MapOf:
    """An object used as a mapping (``additionalProperties``), keys are strings."""

    value: TypeExpr


@dataclass(frozen=True, slots=True)
class LiteralOf:
    """``const`` or a one-value inline enum."""

    values: tuple[str | int | bool, ...]


@dataclass(frozen=True, slots=True)
class UnionOf:
    """An inline union without discriminator (``type: [string, integer]``)."""

    variants: tuple[TypeExpr, ...]


@dataclass(frozen=True, slots=True)
class Nullable:
    """The one notion of nullability: 3.0 ``nullable``, 3.1 ``"null"`` in ``type``, 2.0
    ``x-nullable``, a ``null`` enum value and a ``{type: null}`` oneOf variant all become this."""

    inner: TypeExpr


TypeExpr = Primitive | AnyType | NoneType | Ref | ArrayOf | MapOf | LiteralOf | UnionOf | Nullable

# --- named definitions --------------------------------------------------------------------------


class _Missing:
    """The absence of a default (distinct from a ``null`` default)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True, slots=True)
class Field:
    """One property of an object schema."""

    wire_name: str
    python_name: str
    type: TypeExpr
    required: bool
    default: object = MISSING
    read_only: bool = False
    write_only: bool = False
    deprecated: bool = False
    description: str | None = None

    @property
    def nullable(self) -> bool:
        return isinstance(self.type, Nullable)


@dataclass(frozen=True, slots=True)
class Discriminator:
    """``propertyName`` and the mapping from wire value to variant definition id."""

    property: str
    mapping: tuple[tuple[str, str], ...]
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class SchemaModel:
    """An object schema with properties: a msgspec Struct."""

    id: str
    name: str
    fields: tuple[Field, ...]
    base: str | None = None
    description: str | None = None
    deprecated: bool = False
    discriminator: Discriminator | None = None
    source_name: str | None = None
    closed: bool = False  # ``additionalProperties: false``: the stub refuses unknown properties


@dataclass(frozen=True, slots=True)
class EnumModel:
    """An enum; decoding keeps unknown wire values (tolerant fallback) unless strict."""

    id: str
    name: str
    values: tuple[str, ...] | tuple[int, ...]
    description: str | None = None
    deprecated: bool = False
    source_name: str | None = None


@dataclass(frozen=True, slots=True)
class UnionModel:
    """``oneOf``/``anyOf`` (ordered variants), with an optional discriminator."""

    id: str
    name: str
    variants: tuple[TypeExpr, ...]
    discriminator: Discriminator | None = None
    description: str | None = None
    deprecated: bool = False
    source_name: str | None = None


@dataclass(frozen=True, slots=True)
class AliasModel:
    """A named schema that is not a Struct, Enum or union: array, map, primitive, literal."""

    id: str
    name: str
    target: TypeExpr
    description: str | None = None
    deprecated: bool = False
    source_name: str | None = None


Definition = SchemaModel | EnumModel | UnionModel | AliasModel

# --- operations ---------------------------------------------------------------------------------

ParameterLocation = Literal["path", "query", "header", "cookie"]


@dataclass(frozen=True, slots=True)
class Encoding:
    """Per-property encoding of a multipart or form body."""

    content_type: str | None = None
    style: str | None = None
    explode: bool | None = None
    allow_reserved: bool = False
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaContent:
    media_type: str
    type: TypeExpr | None
    encoding: tuple[tuple[str, Encoding], ...] = ()


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    type: TypeExpr
    required: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    python_name: str
    location: ParameterLocation
    required: bool
    style: str
    explode: bool
    type: TypeExpr
    allow_reserved: bool = False
    allow_empty_value: bool = False
    content: tuple[MediaContent, ...] = ()
    deprecated: bool = False
    description: str | None = None
    pointer: str = ""


@dataclass(frozen=True, slots=True)
class Body:
    required: bool
    contents: tuple[MediaContent, ...]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """``status`` is ``"200"``, a range ``"4XX"`` or ``"default"``."""

    status: str
    description: str
    contents: tuple[MediaContent, ...] = ()
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True, slots=True)
class OAuthFlow:
    kind: str
    authorization_url: str | None = None
    token_url: str | None = None
    refresh_url: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    name: str
    type: str
    location: str | None = None
    parameter_name: str | None = None
    scheme: str | None = None
    bearer_format: str | None = None
    flows: tuple[OAuthFlow, ...] = ()
    open_id_connect_url: str | None = None
    description: str | None = None


# One requirement: all schemes in it apply together (AND); a list of them is an OR.
SecurityRequirement = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class ServerVariable:
    name: str
    default: str
    enum: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    description: str | None = None
    variables: tuple[ServerVariable, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation (or webhook / callback request). ``security`` None means "inherit"."""

    operation_id: str
    python_name: str
    method: str
    path: str
    pointer: str
    summary: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    deprecated: bool = False
    parameters: tuple[Parameter, ...] = ()
    body: Body | None = None
    responses: tuple[Response, ...] = ()
    security: tuple[SecurityRequirement, ...] | None = None
    servers: tuple[Server, ...] = ()
    callbacks: tuple[tuple[str, Operation], ...] = ()
    extensions: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Api:
    """The whole document."""

    title: str
    version: str
    spec_version: str
    servers: tuple[Server, ...]
    security_schemes: tuple[SecurityScheme, ...]
    security: tuple[SecurityRequirement, ...]
    operations: tuple[Operation, ...]
    webhooks: tuple[Operation, ...]
    definitions: Mapping[str, Definition]
    description: str | None = None
