# mypy: ignore-errors
# (Runs under the oracle's own interpreter, with graphql-core 3.2 and ariadne, which the
# project's venv lacks; the project's mypy cannot check it against them.)
"""Send every operation through an ariadne-codegen client; print what it decoded, as JSON.

Run by the oracle's own interpreter: ``python ariadne_client_runner.py PACKAGE_PARENT PACKAGE
URL PLAN_JSON``. PLAN_JSON maps operation name -> {"kind", "variables"}. Prints {operation:
{"data": decoded (wire names) | null, "raw": server data when refused, "errors": [messages]}};
a subscription's "data" is the list of its events' decoded data.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from typing import Any

from ariadne_codegen.utils import str_to_snake_case


def _kwargs(method: Any, variables: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(method).parameters
    kwargs: dict[str, Any] = {}
    for name, value in variables.items():
        snake = str_to_snake_case(name)
        for candidate in (snake, snake + "_", name):
            if candidate in parameters:
                kwargs[candidate] = value
                break
        else:
            raise KeyError(f"{method.__name__} has no parameter for ${name}")
    return kwargs


def _dump(result: Any) -> Any:
    return result.model_dump(mode="json", by_alias=True)


async def run(package: str, url: str, plan: dict[str, Any]) -> dict[str, Any]:
    client_module = importlib.import_module(f"{package}.client")
    exceptions = importlib.import_module(f"{package}.exceptions")
    out: dict[str, Any] = {}
    ws_url = "ws" + url.removeprefix("http")
    async with client_module.Client(url=url, ws_url=ws_url) as client:
        for operation, entry in plan.items():
            method = getattr(client, str_to_snake_case(operation))
            kwargs = _kwargs(method, entry["variables"])
            try:
                if entry["kind"] == "subscription":
                    decoded: Any = [_dump(event) async for event in method(**kwargs)]
                else:
                    decoded = _dump(await method(**kwargs))
            except exceptions.GraphQLClientGraphQLMultiError as error:
                messages = sorted(e.message for e in error.errors)
                out[operation] = {"data": None, "raw": error.data, "errors": messages}
                continue
            except exceptions.GraphQLClientError as error:
                detail = getattr(getattr(error, "response", None), "text", "")
                out[operation] = {"data": None, "raw": None, "errors": [f"{error}: {detail}"]}
                continue
            out[operation] = {"data": decoded, "raw": None, "errors": []}
    return out


def main() -> None:
    parent, package, url, plan_path = sys.argv[1:5]
    sys.path.insert(0, parent)
    with open(plan_path, encoding="utf-8") as handle:
        plan: dict[str, Any] = json.load(handle)
    json.dump(asyncio.run(run(package, url, plan)), sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
