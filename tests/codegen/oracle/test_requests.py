"""Request oracle: every operation of every corpus spec, sent by the generated sync and async
clients to a recording server, judged by an independent validator (openapi-core for 3.x,
bravado-core for Swagger 2.0): parameters deserialized per style/explode, the body validated
against its schema, and the deserialized values compared with the arguments the test passed.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import json
import random
import re
import traceback
import typing
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from codegen.openapi.plan import OperationPlan
from flext_api.codegen_unions import decode_hook
from tests.codegen.openapi.test_round_trip import _arguments, _credentials, _fitting, body_type
from tests.codegen.oracle.compare import plain
from tests.codegen.oracle.conftest import DEEP, TALLY, SpecEnv, rng_for
from tests.codegen.oracle.limits import Finding, dump, settle, verdict
from tests.codegen.oracle.payloads import _pointer_get, examples
from tests.codegen.oracle.recording import Recorded, Reply


class _Int32Random(random.Random):
    """samples.py draws integers up to 10**12; a msgspec ``int`` does not say int32, and the
    validator rightly refuses an int32 field above 2**31-1, so the oracle's arguments stay
    within int32 (an input fault, not the client's, would hide the client's real ones)."""

    def randint(self, a: int, b: int) -> int:
        return super().randint(a, min(b, 2**31 - 1))


def _no_commas(value: Any) -> Any:
    """The validators see query, path and header values already percent-decoded, so a comma
    inside an array item (which a correct client escapes) would look like a delimiter to them:
    the oracle's strings carry none (the stub round trip checks comma escaping)."""
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        return value.replace(",", " ")
    if isinstance(value, list):
        return [_no_commas(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_commas(v) for k, v in value.items()}
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.replace(
            value, **{f: _no_commas(getattr(value, f)) for f in value.__struct_fields__}
        )
    return value


def _no_commas_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: _no_commas(v) for k, v in args.items()}


def arguments_for(env: SpecEnv, plan: OperationPlan, method: Any) -> dict[str, Any]:
    """Seeded arguments, drawn from the document's own schemas by schemathesis' engine, as the
    JSON and form bodies are (see :func:`_drawn_body`): which optional parameters are passed,
    and the value of a parameter whose schema cannot be drawn (2.0 inline types, ``content``
    parameters), come from samples.py, fitted to the schema's constraints."""
    if plan.name not in env.args:
        rng = _Int32Random(rng_for(env.name, plan.name).random())
        fitting = _fitting(env, plan)  # type: ignore[arg-type]
        args = _arguments(method, rng, fitting, plan)
        args.update(_drawn_params(env, plan, method, args))
        args = _no_commas_args(args)
        # Nested values have no style encoding (see _flat), and an empty array or object only
        # the table's "empty" form (``name=``, which a query refuses without allowEmptyValue):
        # an optional one is not passed, as _drawn_params never draws one.
        for p in plan.params:
            optional = p.arg in args and not p.param.content and not p.param.required
            if optional and (plain(args[p.arg]) in ([], {}) or not _flat(plain(args[p.arg]))):
                del args[p.arg]
        body = _drawn_body(env, plan, method)
        if body is not _NO_BODY:
            args["body"] = body
        env.args[plan.name] = args
    return env.args[plan.name]


_NO_BODY: Any = object()


def _drawn_params(
    env: SpecEnv, plan: OperationPlan, method: Any, args: dict[str, Any]
) -> dict[str, Any]:
    """A drawn value (the second draw: the first is Hypothesis' simplest, an empty string or
    zero) for each parameter ``args`` holds whose schema the engine can draw, converted into
    the argument's type. Values no request can carry as the document means them are left to
    samples.py: an empty path segment, an empty array (nothing on the wire), and control
    characters in a header or cookie (RFC 9110 forbids them; that is not the client's fault),
    objects whose keys are not words (see ``_WORD``), nulls and nested values (:func:`_flat`).
    Header and cookie text beyond U+00FF has no octets either (RFC 9110 section 5.5): the client
    refuses it before sending (tests/codegen/openapi/test_header_octets.py), so it is not drawn."""
    source = env.request_schemas
    if source.swagger2:  # 2.0 parameters have inline types, and the IR's pointers are to the
        return {}  # document as upgraded to 3.x, not to the source the oracle reads
    hints = typing.get_type_hints(method)
    out: dict[str, Any] = {}
    for p in plan.params:
        if p.arg not in args or p.param.content or not p.param.pointer:
            continue
        pointer = f"{p.param.pointer}/schema"
        try:
            schema = source.json_schema(pointer)
            drawn = examples(schema, 2)
        except Exception:  # no schema there (2.0), or the engine cannot draw it
            continue
        if not drawn:
            continue
        value = drawn[-1]
        if (
            value in ("", [], {})
            or (p.param.location in ("header", "cookie") and _unsendable(value))
            or (isinstance(value, dict) and not all(_WORD.fullmatch(k) for k in value))
            or not _flat(value)
        ):
            continue
        try:
            out[p.arg] = msgspec.convert(value, hints[p.arg], strict=False, dec_hook=decode_hook)
        except msgspec.ValidationError as error:  # the argument's type refuses a valid value
            env.body_problems[plan.name] = (
                f"{p.param.location} parameter {p.param.name!r}: the client's type refuses "
                f"the valid value {value!r}: {error}"
            )[:500]
    return out


# openapi-core finds a deepObject parameter only by a ``name[\w+]`` key, and object keys
# become parameter names in the exploded styles: drawn object keys other than words are left to
# samples.py (a judge limit, not a client fault).
_WORD = re.compile(r"\w+", re.ASCII)


def _flat(value: Any) -> bool:
    """A scalar, or an array or object of scalars, none of them null: what the parameter styles
    can carry (null and nested values have no style encoding; the client sends nothing or
    text the validator cannot read back)."""
    items = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    )
    return all(v is not None and not isinstance(v, dict | list) for v in items)


def _unsendable(value: Any) -> bool:
    """Controls, or text beyond U+00FF: what no HTTP field value can carry."""
    if isinstance(value, str):
        return any(ord(c) < 0x20 or ord(c) == 0x7F or ord(c) > 0xFF for c in value)
    if isinstance(value, list):
        return any(_unsendable(v) for v in value)
    if isinstance(value, dict):
        return any(_unsendable(k) or _unsendable(v) for k, v in value.items())
    return False


# One derived schema per pointer, so examples() draws each once.
_FORM_SCHEMAS: dict[str, dict[str, Any]] = {}


def _nonempty_arrays(schema: dict[str, Any]) -> dict[str, Any]:
    """A form body's schema whose array properties hold at least one item: form encoding
    repeats the key per item, so an empty array has no encoding at all (it is absent on the
    wire, and a required one would then be missing); null has none either. Such a body is not
    input a client can send as drawn, so the oracle does not draw it."""
    out = copy.deepcopy(schema)
    properties = out.get("properties") or {}
    for name in list(properties):
        prop = properties[name]
        while isinstance(prop, dict) and isinstance(prop.get("$ref"), str):  # twilio's enums
            prop = copy.deepcopy(_pointer_get(out, prop["$ref"]))
        if not isinstance(prop, dict):
            continue
        # null has no form encoding either (the field is left out): not drawn
        if isinstance(prop.get("type"), list):
            prop["type"] = [t for t in prop["type"] if t != "null"] or prop["type"]
        if isinstance(prop.get("anyOf"), list):
            prop["anyOf"] = [b for b in prop["anyOf"] if b != {"type": "null"}] or prop["anyOf"]
            if len(prop["anyOf"]) == 1 and isinstance(prop["anyOf"][0], dict):
                prop.update(prop.pop("anyOf")[0])
        kind = prop.get("type")
        if kind == "array" or (isinstance(kind, list) and "array" in kind):
            prop["minItems"] = max(1, prop.get("minItems", 0))
        properties[name] = prop
    return out


def _drawn_body(env: SpecEnv, plan: OperationPlan, method: Any) -> Any:
    """A JSON or form body valid for the document's schema (drawn, not built from our models),
    as the client's own body type. A valid body the client's type cannot hold is a finding: it
    is recorded in ``env.body_problems`` and the samples.py body is used instead."""
    if plan.body is None or plan.body.kind not in ("json", "form"):
        return _NO_BODY
    source = env.request_schemas
    pointer = source.request_body_pointer(plan.op.pointer, plan.body.media_type)
    if pointer is None:
        return _NO_BODY
    try:
        schema = source.json_schema(pointer)
        if plan.body.kind == "form":
            schema = _FORM_SCHEMAS.setdefault(pointer, _nonempty_arrays(schema))
        drawn = examples(schema, 1)
    except Exception:  # the engine cannot draw it: samples.py's body stays
        return _NO_BODY
    if not drawn:
        return _NO_BODY
    hint = body_type(method, plan)
    try:
        return msgspec.json.decode(json.dumps(drawn[0]).encode(), type=hint, dec_hook=decode_hook)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        env.body_problems[plan.name] = (
            f"the client's body type refuses a valid body {drawn[0]!r}: {error}"[:500]
        )
        return _NO_BODY


def _judge(env: SpecEnv, plan: OperationPlan, args: dict[str, Any], rec: Recorded) -> list[str]:
    try:
        verdict = env.validator.check_request(
            plan.op.path, rec, env.prefix, isolate=plan.op.path in env.ambiguous()
        )
    except Exception as error:  # the judge itself broke on this request: said, never hidden
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.name}"
        return [
            f"validator could not judge ({type(error).__name__} in {where}): {error}; "
            f"query {rec.query!r}"[:4000]
        ]
    if verdict.errors:
        shown = f" [query {rec.query!r}]" if rec.query else ""
        return [f"validator refused the request: {e}{shown}" for e in verdict.errors]
    problems: list[str] = []
    for p in plan.params:
        if p.arg not in args:
            continue
        location = p.param.location
        got = verdict.params.get(location, {})
        name = p.param.name.lower() if location == "header" else p.param.name
        if location == "header":
            got = {k.lower(): v for k, v in got.items()}
        if name not in got:
            problems.append(
                f"{location} parameter {p.param.name!r} missing (passed {args[p.arg]!r})"
            )
        elif plain(got[name]) != plain(args[p.arg]):
            problems.append(
                f"{location} parameter {p.param.name!r}: validator read {plain(got[name])!r}, "
                f"test passed {plain(args[p.arg])!r}"
            )
    body_kind = plan.body.kind if plan.body is not None else None
    if body_kind in ("json", "form") and "body" in args:
        # openapi-core fills schema defaults into what it unmarshals: the wire holds only what
        # the client sent, so a JSON body is read from the wire (the validator already said it
        # is valid) and a form body keeps only the fields on the wire.
        if body_kind == "json":
            sent = json.loads(rec.body) if rec.body else None
        else:
            names = {k for k, _ in parse_qsl(rec.body.decode("latin-1"), keep_blank_values=True)}
            read = verdict.body if isinstance(verdict.body, dict) else {}
            sent = {k: v for k, v in read.items() if k in names}
        if plain(sent) != plain(args["body"]):
            problems.append(
                f"body: the wire carried {plain(sent)!r}, test passed {plain(args['body'])!r}"
            )
    return problems


def _send_all(
    env: SpecEnv, asynchronous: bool
) -> list[tuple[OperationPlan, dict[str, Any], Recorded | str]]:
    """Call every operation once; what the server recorded for each (or why nothing arrived)."""
    env.app.reply = Reply(599, None, b"")
    out: list[tuple[OperationPlan, dict[str, Any], Recorded | str]] = []
    cls = env.client_class(asynchronous)
    sync_cls = env.client_class(False)

    def after(plan: OperationPlan, args: dict[str, Any], result: Any) -> None:
        if len(env.app.seen) != 1:
            out.append(
                (plan, args, f"{len(env.app.seen)} requests arrived; result {result!r}"[:400])
            )
        else:
            out.append((plan, args, env.app.seen[0]))
        env.app.seen.clear()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated operations warn per call
        if not asynchronous:
            with cls(base_url=env.base_url, **_credentials(cls, env.result)) as client:
                for plan in env.plans:
                    method = getattr(client, plan.name)
                    args = arguments_for(env, plan, method)
                    after(plan, args, method(**args))
            return out

        async def run() -> None:
            async with cls(base_url=env.base_url, **_credentials(cls, env.result)) as client:
                with sync_cls(base_url=env.base_url) as signatures:
                    for plan in env.plans:
                        args = arguments_for(env, plan, getattr(signatures, plan.name))
                        after(plan, args, await getattr(client, plan.name)(**args))

        asyncio.run(run())
    return out


def _cause(problem: str) -> str:
    """A short class for the per-spec table: the validator's error type, or which kind of
    parameter came out different."""
    if problem.startswith("validator refused the request: "):
        return problem.split(": ")[1][:40]
    if problem.startswith("validator could not judge"):
        return problem.split(":", maxsplit=1)[0]
    words = problem.split(" ")
    if words[0] in ("query", "path", "header", "cookie"):
        return f"{words[0]} parameter " + ("missing" if " missing " in problem else "differs")
    if words[0] == "body:":
        return "body differs"
    return problem.split(";", 1)[0][:40]


def _check(env: SpecEnv, asynchronous: bool) -> None:
    side = "async" if asynchronous else "sync"
    findings: list[Finding] = []
    exercised: list[str] = []
    tally = TALLY[env.name]
    tally.operations = len(env.plans)
    for plan, args, rec in _send_all(env, asynchronous):
        found = [rec] if isinstance(rec, str) else _judge(env, plan, args, rec)
        if plan.name in env.body_problems:
            found.append(env.body_problems[plan.name])
        tally.requests += 1
        exercised.append(plan.name)
        findings += [Finding("request", plan.name, problem) for problem in found]
    dump(env.name, findings)
    settled = settle(env.name, "request", exercised, findings, stale_check=not DEEP)
    tally.record(settled, lambda f: f"request: {_cause(f.text)}")
    problems = verdict(env.name, f"{side} ", settled)
    assert not problems, f"{len(problems)} request findings:\n" + "\n".join(problems[:60])


def test_sync_client_requests_satisfy_an_independent_validator(spec_env: SpecEnv) -> None:
    _check(spec_env, asynchronous=False)


def test_async_client_requests_satisfy_an_independent_validator(spec_env: SpecEnv) -> None:
    _check(spec_env, asynchronous=True)
