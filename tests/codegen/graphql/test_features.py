"""The GraphQL generator's features on a small hand-written schema (data/shop.graphql): tagged
unions with the Other fallback, tolerant enums, recursive inputs, the scalar map, variables with
defaults, deprecations, identical sync/async signatures, the typed stub adapter, and an invalid
operation reported by file, line and field and skipped. The client module needs the GraphQL
client runtime (another branch), so its shape is read with ``ast`` here."""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import graphql
import msgspec
import pytest

from codegen.graphql.generate import GraphQLGenerationResult, generate_graphql

DATA = Path(__file__).with_name("data")
SCHEMA = DATA / "shop.graphql"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[GraphQLGenerationResult, ModuleType]:
    root = tmp_path_factory.mktemp("shop")
    result = generate_graphql(
        SCHEMA,
        [DATA / "shop_operations.graphql"],
        root,
        "gql_shop",
        scalars={"Money": ("decimal", "Decimal")},
    )
    sys.path.insert(0, str(root))
    try:
        return result, importlib.import_module("gql_shop.types")
    finally:
        sys.path.remove(str(root))


def _client_methods(result: GraphQLGenerationResult) -> dict[str, dict[str, ast.AST]]:
    tree = ast.parse((result.package_dir / "client.py").read_text())
    out: dict[str, dict[str, ast.AST]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                m.name: m
                for m in node.body
                if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return out


def test_union_variants_and_an_unknown_type_falls_back_to_other(shop: Any) -> None:
    _, types = shop
    data = {
        "search": [
            {"__typename": "Item", "id": "1", "name": "a", "color": "RED", "price": "1.50",
             "createdAt": "2024-01-02T03:04:05Z", "day": "2024-01-02", "extra": {"k": 1}},
            {"__typename": "Shop", "shopTitle": "s"},
            {"__typename": "Warehouse"},  # added to the server's schema after generation
        ]
    }  # fmt: skip
    decoded = types.decode(data, types.SearchResult, types.SPEC_SEARCH)
    item, shop_hit, other = decoded.search
    assert isinstance(item, types.SearchResultSearchItem)
    assert item.price == decimal.Decimal("1.50")  # --scalar Money=decimal:Decimal
    assert item.created_at == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert item.day == dt.date(2024, 1, 2)
    assert item.extra == {"k": 1}  # JSON -> Any
    assert item.color is types.Color.RED
    assert isinstance(shop_hit, types.SearchResultSearchShop) and shop_hit.shop_title == "s"
    assert isinstance(other, types.SearchResultSearchOther)
    assert other.typename == "Warehouse"
    # Encoded again, the unknown member shows the name the server sent, not the internal tag.
    assert types.encode(decoded)["search"][2] == {"__typename": "Warehouse"}
    assert types.encode(decoded)["search"][1] == {"__typename": "Shop", "shopTitle": "s"}


def test_interface_selection_and_skipped_field_and_fragment_reuse(shop: Any) -> None:
    _, types = shop
    data = {
        "node": {
            "__typename": "Item", "id": "1", "legacyCode": None,
            "parts": [{"id": "2", "name": "b", "color": "SOMETHING_NEW"}],
        }
    }  # fmt: skip
    node = types.decode(data, types.NodeByIdResult, types.SPEC_NODE_BY_ID).node
    assert isinstance(node, types.NodeByIdResultNodeItem)
    assert node.name is msgspec.UNSET  # @include(if: false): the server left it out
    part = node.parts[0]
    assert type(part) is types.ItemBits  # the fragment's own type, reused
    assert part.color.name == "UNKNOWN" and part.color.value == "SOMETHING_NEW"
    person = types.decode(
        {"node": {"__typename": "Person", "id": "9"}}, types.NodeByIdResult, types.SPEC_NODE_BY_ID
    ).node
    assert isinstance(person, types.NodeByIdResultNodeOther)
    assert (person.typename, person.id) == ("Person", "9")
    # The query sent selects __typename where the union needs it.
    assert "__typename" in types.DOCUMENT_NODE_BY_ID.split("node(id: $id)")[1]


def test_recursive_input_encodes_only_what_was_set(shop: Any) -> None:
    _, types = shop
    nested = types.ItemFilter(
        and_=[types.ItemFilter(name="x")], not_=types.ItemFilter(color=types.Color.GREEN)
    )
    assert msgspec.json.decode(msgspec.json.encode(nested)) == {
        "and": [{"name": "x"}],
        "not": {"color": "GREEN"},
    }
    assert "OLD_BLUE" in (types.Color.__doc__ or "") and "use GREEN" in (types.Color.__doc__ or "")


def test_client_methods_same_signature_defaults_optional_deprecation_upload(shop: Any) -> None:
    result, _ = shop
    classes = _client_methods(result)
    sync, asynchronous = classes["GqlShopClient"], classes["AsyncGqlShopClient"]
    for name in ("search", "node_by_id", "upload", "item_added"):
        # A subscription method returns the runtime's (async) context manager: not a coroutine.
        kind = ast.FunctionDef if name == "item_added" else ast.AsyncFunctionDef
        assert isinstance(asynchronous[name], kind)
        assert ast.dump(sync[name].args) == ast.dump(asynchronous[name].args)  # type: ignore[attr-defined]
    args = sync["search"].args  # type: ignore[attr-defined]
    keywords = {a.arg: ast.unparse(a.annotation) for a in args.kwonlyargs}
    assert keywords["text"] == "str"
    assert keywords["first"] == "int | None | UnsetType"  # has a default: optional
    required = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    assert required == ["text"]
    source = (result.package_dir / "client.py").read_text()
    node_by_id = ast.get_source_segment(source, sync["node_by_id"]) or ""
    assert "DeprecationWarning" in node_by_id and "Item.legacyCode: use id" in node_by_id
    upload = ast.get_source_segment(source, sync["upload"]) or ""
    assert "file: FormFile" in upload and '"file": file' in upload
    returns = ast.unparse(asynchronous["item_added"].returns)  # type: ignore[attr-defined]
    events = "FlextResult[AsyncSubscription[ItemAddedResult]]"
    assert returns == f"AbstractAsyncContextManager[{events}]"


def test_stub_adapter_passes_typed_arguments(shop: Any) -> None:
    result, types = shop
    sys.path.insert(0, str(result.package_dir.parent))
    try:
        stubs = importlib.import_module("gql_shop.stubs")
    finally:
        sys.path.remove(str(result.package_dir.parent))
    seen: dict[str, Any] = {}

    class Query:
        def search(self, info: Any, **kwargs: Any) -> list[Any]:
            seen.update(kwargs)
            return []

    method, arguments = stubs._TABLE["Query"]["search"]
    resolve = stubs._adapt(Query(), method, arguments, False)
    assert resolve(None, None, text="t", filter={"and": [{"color": "RED"}], "limit": 3}) == []
    assert seen["text"] == "t"
    assert seen["filter"] == types.ItemFilter(
        and_=[types.ItemFilter(color=types.Color.RED)], limit=3
    )
    assert "first" not in seen  # left out by the request: the method's UNSET default applies


def test_invalid_operation_is_a_diagnostic_and_skipped(tmp_path: Path) -> None:
    result = generate_graphql(SCHEMA, [DATA / "broken_operations.graphql"], tmp_path, "gql_broken")
    assert result.operations == ("Fine",)
    (diagnostic,) = result.diagnostics.sorted()
    assert diagnostic.pointer == "broken_operations.graphql:4"
    assert "noSuchField" in diagnostic.reason and "Broken" in diagnostic.reason


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen", "generate", "graphql", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_exit_statuses(tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["--schema", str(SCHEMA), "--out", str(out), "--package", "gql_cli", "--quiet"]
    broken = ["--operations", str(DATA / "broken_operations.graphql")]
    done = _cli(*base, *broken, "--strict")
    assert done.returncode == 1 and not out.exists()  # --strict: nothing written
    assert "broken_operations.graphql:4" in done.stderr
    done = _cli(*base, *broken)
    assert done.returncode == 0 and (out / "gql_cli" / "types.py").is_file()
    assert "noSuchField" in done.stderr
    assert _cli(*base, *broken, "--scalar", "Money").returncode == 2
    config = tmp_path / "scalars.toml"
    config.write_text('[scalars]\nMoney = "decimal:Decimal"\n')
    assert _cli(*base, "--operations", str(DATA), "--config", str(config)).returncode == 0
    assert "_s_decimal.Decimal" in (out / "gql_cli" / "types.py").read_text()
    not_schema = tmp_path / "x.graphql"
    not_schema.write_text("type {")
    done = _cli("--schema", str(not_schema), *base[2:], *broken)
    assert done.returncode == 1 and "not a usable GraphQL schema" in done.stderr


def test_introspection_json_gives_the_same_package_as_sdl(tmp_path: Path) -> None:
    schema = graphql.build_schema(SCHEMA.read_text())
    introspection = tmp_path / "schema.json"
    introspection.write_text(json.dumps({"data": graphql.introspection_from_schema(schema)}))
    operations = [DATA / "shop_operations.graphql"]
    from_sdl = generate_graphql(SCHEMA, operations, tmp_path / "a", "gql_same")
    from_json = generate_graphql(introspection, operations, tmp_path / "b", "gql_same")
    for name in ("types.py", "client.py", "stubs.py"):
        sdl_text = (from_sdl.package_dir / name).read_text()
        assert (from_json.package_dir / name).read_text() == sdl_text, name
