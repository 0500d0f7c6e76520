"""Response oracle: for every documented JSON response schema of every corpus spec, payloads
drawn by hypothesis-jsonschema (not by our generator's models) are served by the recording
server; the generated client must decode each one into its Ok value or typed error body, and
re-encoding that value must give back the payload once undeclared fields are dropped and
formats normalised.

A schema hypothesis-jsonschema cannot draw from (a recursive reference) must be listed, with
the reason, in exclusions.json; that list is the only way out, and a listed schema that can be
drawn from again fails the run so the list stays true.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import msgspec

from codegen.openapi.plan import OperationPlan, ResponsePlan
from flext_api import Failure, HTTPStatusError, Success
from tests.codegen.openapi.test_round_trip import _credentials, _status_for
from tests.codegen.oracle.compare import first_difference, plain
from tests.codegen.oracle.conftest import DEEP, EXAMPLES, RICH_SCHEMAS, TALLY, SpecEnv, rng_for
from tests.codegen.oracle.limits import Finding, dump, settle, verdict
from tests.codegen.oracle.payloads import declared, examples
from tests.codegen.oracle.recording import Reply
from tests.codegen.oracle.test_requests import arguments_for

EXCLUSIONS_FILE = Path(__file__).with_name("exclusions.json")
EXCLUSIONS: dict[tuple[str, str], str] = {
    (e["spec"], e["pointer"]): e["reason"] for e in json.loads(EXCLUSIONS_FILE.read_text())
}


def _value_of(result: Any) -> tuple[bool, Any]:
    match result:
        case Success(value=value):
            return True, value
        case Failure(error=HTTPStatusError() as error) if hasattr(error, "body"):
            return True, error.body
        case _:
            return False, result


def _served_and_decoded(
    env: SpecEnv,
    *,
    client: Any,
    plan: OperationPlan,
    response: ResponsePlan,
    payload: Any,
    schema: dict[str, Any],
) -> str | None:
    documented = {r.status for r in plan.responses}
    status = _status_for(response.status, documented)
    env.app.reply = Reply(status, response.media_type, json.dumps(payload).encode())
    method = getattr(client, plan.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = method(**arguments_for(env, plan, method))
    env.app.seen.clear()
    decoded, value = _value_of(result)
    if not decoded:
        return f"{status}: not decoded: {value!r}"[:500]
    got = plain(msgspec.json.decode(msgspec.json.encode(value)))
    difference = first_difference(got, plain(declared(payload, [schema], schema)))
    return None if difference is None else f"{status}: re-encoded differs at {difference}"


def _richly_drawn(env: SpecEnv) -> set[str]:
    """The response schemas that get EXAMPLES payloads; the others get one (Hypothesis' first,
    simplest, payload). Drawing one random discord object takes about 0.3 s, so in CI a seeded
    choice of RICH_SCHEMAS schemas per spec gets the random ones; `make fuzz` draws for all."""
    pointers = sorted(
        {
            p
            for plan in env.plans
            for r in plan.responses
            if r.kind == "json"
            and (p := env.schemas.response_pointer(plan.op.pointer, r.status, r.media_type))
        }
    )
    if DEEP:
        return set(pointers)
    return set(rng_for(env.name, "rich").sample(pointers, min(len(pointers), RICH_SCHEMAS)))


def test_generated_client_decodes_independently_generated_payloads(spec_env: SpecEnv) -> None:
    env = spec_env
    source = env.schemas
    cls = env.client_class(False)
    tally = TALLY[env.name]
    findings: list[Finding] = []
    exercised: list[str] = []
    used: set[str] = set()
    rich = _richly_drawn(env)
    with cls(base_url=env.base_url, **_credentials(cls, env.result)) as client:
        for plan in env.plans:
            for response in plan.responses:
                if response.kind != "json":
                    continue
                pointer = source.response_pointer(
                    plan.op.pointer, response.status, response.media_type
                )
                where = f"{plan.name} {response.status}"
                exercised.append(where)
                if pointer is None:  # a JSON media type without a schema: nothing to draw from
                    continue
                try:
                    schema = source.json_schema(pointer)
                    payloads = examples(schema, EXAMPLES if pointer in rich else 1)
                except Exception as error:  # what hypothesis-jsonschema cannot draw from
                    if (env.name, pointer) in EXCLUSIONS:
                        used.add(pointer)
                        continue
                    findings.append(
                        Finding(
                            "response",
                            where,
                            f"no independent payloads from {pointer} "
                            f"({type(error).__name__}: {error})"[:500],
                        )
                    )
                    continue
                if (env.name, pointer) in EXCLUSIONS:
                    findings.append(
                        Finding("response", where, f"{pointer} in exclusions.json, drawable now")
                    )
                for payload in payloads:
                    tally.payloads += 1
                    problem = _served_and_decoded(
                        env,
                        client=client,
                        plan=plan,
                        response=response,
                        payload=payload,
                        schema=schema,
                    )
                    if problem is not None:
                        findings.append(Finding("response", where, problem))
    dump(env.name, findings)
    settled = settle(env.name, "response", exercised, findings, stale_check=not DEEP)
    tally.record(settled, _cause)
    problems = verdict(env.name, "", settled)
    assert not problems, f"{len(problems)} response findings:\n" + "\n".join(problems[:60])


def _cause(finding: Finding) -> str:
    if ": not decoded:" in finding.text:
        return "response: not decoded"
    if "re-encoded differs" in finding.text:
        return "response: re-encoded differs"
    return "response: " + finding.text.split(" (", 1)[0][:40]
