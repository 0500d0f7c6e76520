"""The public surface of ``flext_api``: what ``__all__`` promises users.

Every public name is exported once, documented, and its classes and functions say they live in
``flext_api`` (the stable import path users write, and the one reprs, tracebacks and pickles
show).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import pickle
import pickletools
from collections import Counter
from pathlib import Path

import flext_api

PACKAGE = Path(flext_api.__file__).parent


def attribute_docstrings() -> set[str]:
    """Names assigned at module level in flext_api and followed by a string literal."""
    documented: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        body = ast.parse(path.read_text()).body
        for node, following in itertools.pairwise(body):
            targets = (
                [node.target]
                if isinstance(node, ast.AnnAssign)
                else node.targets
                if isinstance(node, ast.Assign)
                else []
            )
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                documented.update(t.id for t in targets if isinstance(t, ast.Name))
    return documented


def public() -> list[tuple[str, object]]:
    return [(name, getattr(flext_api, name)) for name in flext_api.__all__]


def test_each_public_name_is_exported_exactly_once() -> None:
    repeated = [name for name, count in Counter(flext_api.__all__).items() if count > 1]
    assert repeated == []
    objects = Counter(
        id(obj) for _, obj in public() if inspect.isclass(obj) or inspect.isfunction(obj)
    )
    aliases = [name for name, obj in public() if objects[id(obj)] > 1]
    assert aliases == []  # one name per class or function: no compatibility aliases


def test_every_public_name_has_a_docstring() -> None:
    documented = attribute_docstrings()
    missing = []
    for name, obj in public():
        if inspect.isclass(obj):
            has_doc = bool(obj.__dict__.get("__doc__"))  # its own, not a base class's
        elif inspect.isfunction(obj):
            has_doc = bool(obj.__doc__)
        else:  # a constant or a type alias: an attribute docstring where it is defined
            has_doc = name in documented
        if not has_doc:
            missing.append(name)
    assert missing == []


def test_public_classes_and_functions_report_flext_api_as_their_module() -> None:
    assert flext_api.FlextApiClient.__module__ == "flext_api"
    assert repr(flext_api.AsyncFlextApiClient) == "<class 'flext_api.AsyncFlextApiClient'>"
    elsewhere = [
        f"{name} ({obj.__module__})"
        for name, obj in public()
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ != "flext_api"
    ]
    assert elsewhere == []


def test_errors_pickle_by_the_public_path() -> None:
    error = flext_api.ConnectError("refused", url="http://127.0.0.1:1/")
    data = pickle.dumps(error)
    strings = [arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    # The class is found by its public path (the private module behind it may move).
    assert ("flext_api", "ConnectError") in itertools.pairwise(strings)
    again = pickle.loads(data)
    assert type(again) is flext_api.ConnectError and again.url == error.url


def test_type_hints_of_public_classes_resolve() -> None:
    """Tools that introspect (documentation builders, FastAPI, dataclass helpers) call
    ``typing.get_type_hints``; reporting ``flext_api`` as the module must not break it."""
    import typing

    import flext_api

    unresolved = []
    for name in flext_api.__all__:
        obj = getattr(flext_api, name)
        if isinstance(obj, type):
            try:
                typing.get_type_hints(obj)
            except NameError as exc:
                unresolved.append(f"{name}: {exc}")
    assert unresolved == []
