"""The independent judges of a recorded request: openapi-core for OpenAPI 3.x, bravado-core for
Swagger 2.0. Neither shares code with our generator; each deserializes the parameters per
style/explode and validates the body against its schema, and hands back plain values.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
from requests.structures import CaseInsensitiveDict
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.codegen.oracle.recording import Recorded

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_document(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    return loaded


@dataclass
class Verdict:
    """What the validator made of one request: errors, or the deserialized values."""

    errors: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # location -> name -> value
    body: Any = None
    has_body: bool = False


def _template_regex(template: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            out += f"(?P<{_group(part[1:-1])}>[^/]*)"
        else:
            out += re.escape(part)
    return re.compile(out + "$")


def _group(name: str) -> str:
    return "p_" + "".join(c if c.isalnum() else f"_{ord(c)}_" for c in name)


def _cookies(headers: list[tuple[str, str]]) -> ImmutableMultiDict[str, str]:
    pairs: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "cookie":
            for item in value.split(";"):
                key, _, val = item.strip().partition("=")
                if key:
                    pairs.append((key, val))
    return ImmutableMultiDict(pairs)


class _CoreRequest:
    """openapi-core's request protocol over a recorded request."""

    def __init__(self, host_url: str, path: str, rec: Recorded, path_params: dict[str, str]):
        self.host_url = host_url
        self.path = path
        self.method = rec.method.lower()
        self.body = rec.body or None
        self.content_type = next(
            (v for k, v in rec.headers if k.lower() == "content-type"), "application/octet-stream"
        )
        from openapi_core.datatypes import RequestParameters

        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(rec.query, keep_blank_values=True)),
            header=Headers(rec.headers),
            cookie=_cookies(rec.headers),
            path=path_params,
        )


class Validator:
    """Validates recorded requests and raw response payloads for one document."""

    def __init__(self, spec_path: Path) -> None:
        self.document = load_document(spec_path)
        self.swagger2 = str(self.document.get("swagger", "")).startswith("2")
        if self.swagger2:
            with _quiet_bravado():
                from bravado_core.spec import Spec

                self._bravado = Spec.from_dict(  # type: ignore[no-untyped-call]
                    self.document,
                    origin_url=spec_path.resolve().as_uri(),
                    config={
                        "validate_swagger_spec": False,
                        "validate_requests": True,
                        "use_models": False,
                        "validate_responses": True,
                        "include_missing_properties": False,
                    },
                )
        else:
            from openapi_core import OpenAPI
            from openapi_core.configurations import Config

            self._config = Config(
                spec_validator_cls=None, extra_format_validators=_unknown_formats(self.document)
            )
            self._core = OpenAPI.from_dict(
                _without_mutual_tls(self.document),
                config=self._config,
                base_uri=spec_path.resolve().as_uri(),
            )
            self.host_url = self._server_url()
            self._spec_uri = spec_path.resolve().as_uri()
            self._isolated: dict[str, Any] = {}

    def _server_url(self) -> str:
        servers = self.document.get("servers") or [{"url": "/"}]
        url: str = servers[0]["url"]
        for name, variable in (servers[0].get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        if "://" not in url:
            url = "http://localhost" + ("" if url.startswith("/") else "/") + url
        return url.rstrip("/")

    def _core_for(self, template: str, isolate: bool) -> Any:
        """The whole document, or (``isolate``) one holding only ``template``'s path item, for
        templates a path finder cannot tell apart ('#fragment' keys, duplicate shapes)."""
        if not isolate:
            return self._core
        if template not in self._isolated:
            from openapi_core import OpenAPI

            document = {
                **self.document,
                "paths": {template.split("#", maxsplit=1)[0]: self.document["paths"][template]},
            }
            self._isolated[template] = OpenAPI.from_dict(
                document, config=self._config, base_uri=self._spec_uri
            )
        return self._isolated[template]

    def check_request(
        self, template: str, rec: Recorded, prefix: str, *, isolate: bool = False
    ) -> Verdict:
        raw_path = rec.path[len(prefix) :] if rec.path.startswith(prefix) else rec.path
        match = _template_regex(template.split("#", maxsplit=1)[0]).match(raw_path)
        if match is None:
            return Verdict(errors=[f"path {raw_path!r} does not match {template!r}"])
        path_params = {
            name[1:-1]: unquote(match.group(_group(name[1:-1])))
            for name in re.findall(r"\{[^}]+\}", template.split("#", maxsplit=1)[0])
        }
        if self.swagger2:
            return self._check_swagger2(template, rec, path_params)
        # openapi-core 0.23 reads a matrix or label path parameter under the RFC 6570 operator
        # key (``;color``, ``.color*``), as if the template said ``{;color}``; OpenAPI keeps the
        # template ``{color}`` and puts the style in ``style`` (3.1.0, "Style Examples": the
        # value of ``{color}`` is ``;color=blue``). Offer the segment under those keys too.
        for name, value in list(path_params.items()):
            for alias in (f";{name}", f";{name}*", f".{name}", f".{name}*"):
                path_params.setdefault(alias, value)
        return self._check_openapi3(raw_path, rec, path_params, self._core_for(template, isolate))

    def _check_openapi3(
        self, path: str, rec: Recorded, path_params: dict[str, str], core: Any
    ) -> Verdict:
        base = urlsplit(self.host_url)
        host_url = f"{base.scheme}://{base.netloc}"
        request = _CoreRequest(host_url, base.path + path, rec, path_params)
        with warnings.catch_warnings():
            # openapi-core checks apiKey and http schemes; oauth2/openIdConnect it cannot verify
            # (a bearer token), and says so with a warning per request.
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            result = core.request_unmarshaller.unmarshal(request)
        verdict = Verdict()
        for error in result.errors:
            cause = error.__cause__
            detail = f" ({cause})" if cause is not None else ""
            nested = getattr(error, "schema_errors", None) or getattr(cause, "schema_errors", None)
            if nested:
                detail += " [" + "; ".join(str(e.message) for e in list(nested)[:3]) + "]"
            verdict.errors.append(f"{type(error).__name__}: {error}{detail}")
        params = result.parameters
        for location in ("path", "query", "header", "cookie"):
            verdict.params[location] = dict(getattr(params, location, {}) or {})
        verdict.body = result.body
        verdict.has_body = rec.body != b""
        return verdict

    def _check_swagger2(self, template: str, rec: Recorded, path_params: dict[str, str]) -> Verdict:
        with _quiet_bravado():
            from bravado_core.exception import SwaggerMappingError
            from bravado_core.request import IncomingRequest
            from bravado_core.request import unmarshal_request as unmarshal
            from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

        op = self._operation2(template, rec.method.lower())
        # The attributes a web framework adapter sets on bravado-core's request (untyped there).
        request: Any = IncomingRequest()
        request.path = path_params
        pairs = parse_qsl(rec.query, keep_blank_values=True)
        multi = {
            p.param_spec["name"]
            for p in op.params.values()
            if p.location == "query" and p.param_spec.get("collectionFormat") == "multi"
        }
        # bravado-core reads a 'multi' array as the list a web framework would hand it.
        request.query = {
            name: [v for k, v in pairs if k == name] if name in multi else value
            for name, value in reversed(pairs)
        }
        request.headers = CaseInsensitiveDict(dict(rec.headers))
        request.form = dict(parse_qsl(rec.body.decode("latin-1")) if _is_form(rec) else {})
        request.files = {}
        content_type = request.headers.get("content-type", "")
        if not rec.body:
            request.json = lambda: None
        elif "json" in content_type:
            request.json = lambda: json.loads(rec.body)
        else:  # a tar or text body is the string body parameter itself
            request.json = lambda: rec.body.decode("latin-1")
        verdict = Verdict()
        try:
            with _quiet_bravado():
                values: dict[str, Any] = unmarshal(request, op)  # type: ignore[no-untyped-call]
        except (SwaggerMappingError, ValidationError, ValueError) as error:
            verdict.errors.append(f"{type(error).__name__}: {error}"[:600])
            return verdict
        # unmarshal_request keys its result by the document's name (``X-Registry-Auth``), while
        # op.params is keyed by bravado's sanitized one (``X_Registry_Auth``).
        for param in op.params.values():
            location = {"formData": "form"}.get(param.location, param.location)
            if param.name in values:
                verdict.params.setdefault(location, {})[param.param_spec["name"]] = values[
                    param.name
                ]
        verdict.body = next(
            (
                values[p.name]
                for p in op.params.values()
                if p.location == "body" and p.name in values
            ),
            None,
        )
        verdict.has_body = rec.body != b""
        return verdict

    def _operation2(self, template: str, method: str) -> Any:
        for resource in self._bravado.resources.values():
            for op in resource.operations.values():
                if op.path_name == template and op.http_method == method:
                    return op
        raise AssertionError(f"bravado-core has no operation {method} {template}")


def _unknown_formats(document: dict[str, Any]) -> dict[str, Any]:
    """A pass-through check for each ``format`` the validator does not know (discord's
    ``snowflake``): JSON Schema ignores unknown formats, openapi-core refuses them."""
    import openapi_schema_validator

    known = set(openapi_schema_validator.OAS31Validator.FORMAT_CHECKER.checkers) | {
        "byte",
        "binary",
    }
    found: set[str] = set()
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                found.add(node["format"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {name: (lambda value: True) for name in found - known}


def _without_mutual_tls(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its mutualTLS schemes taken out of every requirement: openapi-core
    has no provider for them (KeyError), and a TLS client certificate never reaches a plain
    HTTP recording server anyway; the other schemes of each requirement stay judged."""
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    mutual = {name for name, s in schemes.items() if s.get("type") == "mutualTLS"}
    if not mutual:
        return document

    def strip(requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in mutual} for r in requirements]

    out = copy.deepcopy(document)
    if "security" in out:
        out["security"] = strip(out["security"])
    for item in (out.get("paths") or {}).values():
        for method in METHODS:
            if isinstance(item, dict) and "security" in (item.get(method) or {}):
                item[method]["security"] = strip(item[method]["security"])
    return out


@contextlib.contextmanager
def _quiet_bravado() -> Iterator[None]:
    """bravado-core still uses jsonschema's deprecated RefResolver API, and warns once per
    format it has no converter for (netlify's ``dateTime``); only inside its own calls."""
    import jsonschema.validators as registry  # type: ignore[import-untyped]

    # Once openapi-schema-validator is imported it registers the OAS 3.1/3.2 dialects as
    # jsonschema meta-schemas; bravado-core's RefResolver then seeds its store with them and
    # tries to fetch their remote '$ref's while resolving a 2.0 document (no network here).
    # They are hidden for the duration of bravado-core's own calls and put back after.
    metas = registry._META_SCHEMAS
    hidden = {k: metas.pop(k) for k in list(metas) if "spec.openapis.org" in str(k)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings(
                "ignore", "[A-Za-z0-9_-]+ format is not registered with bravado"
            )
            yield
    finally:
        metas.update(hidden)


def _is_form(rec: Recorded) -> bool:
    return any(
        k.lower() == "content-type" and v.startswith("application/x-www-form-urlencoded")
        for k, v in rec.headers
    )
