"""Stub oracle: schemathesis drives every generated stub from outside, in-process over ASGI,
with requests it generates from the corpus document itself (not from our models): the stub
must never answer 5xx, every answer must conform to the documented response schemas, and no
status may fall outside the documented ones plus 400, 413, 415 and 422 (the refusals every
stub makes before its handler runs).

The handlers answer each operation's first documented status with a payload schemathesis'
engine drew from that response's schema (payloads.py), so conformance judges what the stub
does to a valid body on the way out, not what a handler invented.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.hypothesis.reporting import UnsatisfiableSchema
from schemathesis.specs.openapi.checks import response_schema_conformance

from codegen.openapi.plan import OperationPlan
from tests.codegen.openapi.test_round_trip import _status_for
from tests.codegen.oracle.conftest import DEEP, HYPOTHESIS, TALLY, SpecEnv
from tests.codegen.oracle.limits import Finding, dump, settle, verdict
from tests.codegen.oracle.payloads import examples
from tests.codegen.oracle.test_responses import EXCLUSIONS

ALWAYS_ALLOWED = {400, 413, 415, 422}

# schemathesis ships serializers for JSON, form, multipart, XML, YAML, text and a binary one for
# application/octet-stream and file types; it has none for docker's application/x-tar bodies
# (``SerializationNotPossible``), which are opaque bytes to HTTP exactly as octet-stream ones
# are. Its documented alias reuses that binary serializer, so docker's tar operations (build,
# image load, container archive upload) are driven with schemathesis' own drawn bytes.
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")
CREDENTIAL = "oracle-credential"


def _reply_for(env: SpecEnv, plan: OperationPlan) -> tuple[int, object]:
    documented = {r.status for r in plan.responses}
    responses = sorted(plan.responses, key=lambda r: (not r.status.startswith("2"), r.status))
    if not responses:
        return 200, None
    response = responses[0]
    # `default` alone covers any status; the handler answers 200 rather than an error.
    status = 200 if response.status == "default" else _status_for(response.status, documented)
    if response.kind == "text":
        return status, "text"
    if response.kind == "binary":
        return status, b"bytes"
    pointer = env.schemas.response_pointer(plan.op.pointer, response.status, response.media_type)
    if response.kind != "json" or pointer is None:
        return status, None
    try:
        drawn = examples(env.schemas.json_schema(pointer), 1)
    except Exception:  # listed in exclusions.json (test_responses.py holds the list to it)
        return status, UNDRAWABLE
    return status, drawn[0] if drawn else UNDRAWABLE


UNDRAWABLE: Any = None  # no payload could be drawn: the reply carries no body to judge


class Handlers:
    """Answers each operation with its first documented status and a schema-drawn payload."""

    def __init__(self, env: SpecEnv) -> None:
        self.replies = {plan.name: _reply_for(env, plan) for plan in env.plans}
        self.undrawable = {
            (plan.op.method.upper(), plan.op.path)
            for plan in env.plans
            if self.replies[plan.name][1] is UNDRAWABLE
            and any(r.kind == "json" for r in plan.responses)
        }

    def __getattr__(self, name: str) -> Any:
        reply = self.replies[name]

        async def handle(**_: Any) -> object:
            return reply

        return handle


def _credentials(
    document: dict[str, Any], operation: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Headers, query and cookies carrying a credential for each scheme of the operation's
    first security requirement (the schemes one alternative needs together)."""
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    cookies: dict[str, str] = {}
    schemes = (
        (document.get("components") or {}).get("securitySchemes")
        or document.get("securityDefinitions")
        or {}
    )
    requirements = operation.get("security", document.get("security")) or [{}]
    for name in requirements[0]:
        scheme = schemes.get(name, {})
        kind = scheme.get("type")
        if kind == "apiKey":
            target = {"header": headers, "query": query, "cookie": cookies}[scheme["in"]]
            target[scheme["name"]] = CREDENTIAL
        elif kind == "basic" or (kind == "http" and scheme.get("scheme", "").lower() == "basic"):
            headers["Authorization"] = "Basic " + base64.b64encode(b"user:pass").decode()
        elif kind in ("http", "oauth2", "openIdConnect"):
            headers["Authorization"] = f"Bearer {CREDENTIAL}"
    return headers, query, cookies


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def _allowed(status: int, documented: list[str]) -> bool:
    # An operation that documents no response (readme_parameters-style) allows any non-5xx.
    if status in ALWAYS_ALLOWED or "default" in documented or not documented:
        return True
    return str(status) in documented or f"{str(status)[0]}XX" in {d.upper() for d in documented}


def _drive(env: SpecEnv, handlers: Handlers, operation: Any) -> list[str]:
    """Run schemathesis' cases for one operation; what went wrong, one line per finding."""
    tally = TALLY[env.name]
    documented = [str(k) for k in operation.definition.raw.get("responses", {})]
    headers, query, cookies = _credentials(env.validator.document, operation.definition.raw)
    seen: list[str] = []

    @HYPOTHESIS
    @given(operation.as_strategy())
    def drive(case: Any) -> None:
        for name, value in headers.items():
            case.headers = {**(case.headers or {}), name: value}
        if query:
            case.query = {**(case.query or {}), **query}
        if cookies:
            case.cookies = {**(case.cookies or {}), **cookies}
        tally.schemathesis_cases += 1
        try:
            response = case.call()
        except (Exception, FailureGroup) as error:  # the app itself raised
            seen.append(" | ".join(str(error).split("\n")[:6])[:500])
            return
        if not _allowed(response.status_code, documented):
            seen.append(
                f"{response.status_code} is not documented ({documented}): "
                f"{response.request.method} {response.request.url} -> "
                f"{response.text[:200]!r}"
            )
        checks = [not_a_server_error, response_schema_conformance]
        if (case.method.upper(), case.path) in handlers.undrawable:
            checks = checks[:1]  # the handler had no valid body to give (exclusions.json)
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as error:  # schemathesis raises its check failures as a group
            seen.append(" | ".join(str(error).split("\n")[:6])[:500])

    drive()
    return seen


def test_stub_survives_schemathesis(spec_env: SpecEnv) -> None:
    env = spec_env
    if not env.plans:
        pytest.fail(f"{env.name}: no operations to drive") if env.validator.document.get(
            "paths"
        ) else None
        return
    handlers = Handlers(env)
    app = env.stubs.make_app(handlers)
    schema = schemathesis.openapi.from_dict(env.schemas.document)
    schema.app = app
    tally = TALLY[env.name]
    findings: list[Finding] = []
    exercised: list[str] = []
    for result in schema.get_all_operations():
        operation: Any = result.ok()  # type: ignore[union-attr]  # an Err raises: a finding
        label = operation.label
        exercised.append(label)
        body_pointer = f"#/paths/{_escape(operation.path)}/{operation.method.lower()}/requestBody"
        try:
            seen = _drive(env, handlers, operation)
        except UnsatisfiableSchema as error:  # schemathesis cannot draw this request
            if (env.name, body_pointer) not in EXCLUSIONS:
                findings.append(
                    Finding("stub", label, f"not driven, unlisted ({body_pointer}): {error}")
                )
            continue
        if (env.name, body_pointer) in EXCLUSIONS:
            findings.append(Finding("stub", label, "listed in exclusions.json but driven now"))
        findings += [Finding("stub", label, problem) for problem in dict.fromkeys(seen)]
    dump(env.name, findings)
    settled = settle(env.name, "stub", exercised, findings, stale_check=not DEEP)
    tally.record(settled, _cause)
    problems = verdict(env.name, "", settled)
    assert not problems, f"{len(problems)} stub findings:\n" + "\n".join(problems[:60])


def _cause(finding: Finding) -> str:
    code = re.search(r"- (ST\d+ [^|]*)", finding.text)
    return "schemathesis: " + (
        code.group(1).strip() if code else finding.text.split(":", 1)[0][:60]
    )
