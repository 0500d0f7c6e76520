"""Fixtures for the oracle suite: one generated package, one recording server and one independent
validator per corpus spec, shared by the request and response oracles.

CI runs derandomised with a few examples per operation (``ORACLE_EXAMPLES``, default 2);
``make fuzz`` sets ``ORACLE_DEEP=1`` for many more, with fresh randomness.
"""

from __future__ import annotations

import importlib
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from codegen.openapi.plan import OperationPlan
from tests.codegen.openapi.conftest import (  # noqa: F401 (fixtures re-exported for this package)
    CORPUS,
    CORPUS_FILES,
    Generated,
    generated_root,
    make_package,
)
from tests.codegen.oracle.recording import RecordingApp
from tests.codegen.oracle.validators import Validator
from tests.servers.runners import run_uvicorn

DEEP = os.environ.get("ORACLE_DEEP") == "1"
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", "50" if DEEP else "2"))
# Response schemas per spec drawn EXAMPLES times in CI (the others once): test_responses.py.
RICH_SCHEMAS = int(os.environ.get("ORACLE_RICH_SCHEMAS", "25"))
SPEC_NAMES = [p.name for p in CORPUS_FILES]

# Derandomised in CI (same examples every run, nothing stored between runs); no shrinking, since
# the oracle collects every finding itself instead of stopping at the first falsifying example.
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    derandomize=not DEEP,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Tally:
    """Counts for the per-spec table (printed at the end of the run)."""

    operations: int = 0
    requests: int = 0
    payloads: int = 0
    schemathesis_cases: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    limits: Counter[str] = field(default_factory=Counter)  # judge_limits.json kinds matched

    def record(self, settled: Any, cause: Callable[[Any], str]) -> None:
        """Count one test's unexplained findings by cause, and its explained ones by kind."""
        for finding in settled.unexplained:
            self.failures[cause(finding)] += 1
        for lim in settled.stale:
            self.failures[f"stale judge limit: {lim.kind}"] += 1
        for _, lim in settled.explained:
            self.limits[f"{lim.fault}: {lim.check}: {lim.kind}"] += 1

    def merge(self, data: dict[str, Any]) -> None:
        self.operations = max(self.operations, data["operations"])
        self.requests += data["requests"]
        self.payloads += data["payloads"]
        self.schemathesis_cases += data["schemathesis_cases"]
        self.failures.update(data["failures"])
        self.limits.update(data["limits"])


TALLY: dict[str, Tally] = defaultdict(Tally)


@dataclass
class SpecEnv:
    name: str
    spec: Path
    package: str
    result: Any
    client_module: ModuleType
    stubs: ModuleType
    validator: Validator
    app: RecordingApp
    base_url: str
    prefix: str
    args: dict[str, dict[str, Any]] = field(default_factory=dict)
    _schemas: Any = None
    _request_schemas: Any = None
    body_problems: dict[str, str] = field(default_factory=dict)

    @property
    def request_schemas(self) -> Any:
        """Request body schemas as JSON Schemas (readOnly properties dropped), cached."""
        if self._request_schemas is None:
            from tests.codegen.oracle.payloads import SchemaSource

            self._request_schemas = SchemaSource(self.validator.document, requests=True)
        return self._request_schemas

    @property
    def schemas(self) -> Any:
        """The document's response schemas as JSON Schemas (payloads.SchemaSource), cached."""
        if self._schemas is None:
            from tests.codegen.oracle.payloads import SchemaSource

            self._schemas = SchemaSource(self.validator.document)
        return self._schemas

    @property
    def plans(self) -> tuple[OperationPlan, ...]:
        plans: tuple[OperationPlan, ...] = self.result.operations
        return plans

    def ambiguous(self) -> set[str]:
        """Templates a router cannot tell apart (a '#fragment' key, or the same template up to
        parameter names): the validator judges those against that one path item only."""
        shapes = Counter(re.sub(r"\{[^}]*\}", "{}", p.op.path.split("#")[0]) for p in self.plans)
        return {
            p.op.path
            for p in self.plans
            if "#" in p.op.path or shapes[re.sub(r"\{[^}]*\}", "{}", p.op.path)] > 1
        }

    def client_class(self, asynchronous: bool) -> Any:
        name = f"{'Async' if asynchronous else ''}{self.result.api_name}Client"
        return getattr(self.client_module, name)


@pytest.fixture(scope="session", params=SPEC_NAMES)
def spec_env(
    request: pytest.FixtureRequest,
    make_package: Callable[[Path, str], Generated],  # noqa: F811 (the fixture imported above)
) -> Iterator[SpecEnv]:
    spec = CORPUS / request.param
    result, _ = make_package(spec, "c")
    name = result.package_dir.name
    app = RecordingApp()
    stubs = importlib.import_module(f"{name}.stubs")
    with run_uvicorn("h11", app=app) as server:
        yield SpecEnv(
            name=request.param,
            spec=spec,
            package=name,
            result=result,
            client_module=importlib.import_module(f"{name}.client"),
            stubs=stubs,
            validator=Validator(spec),
            app=app,
            base_url=server.url + stubs.SERVER_PREFIX,
            prefix=stubs.SERVER_PREFIX,
        )


def rng_for(*parts: str) -> random.Random:
    return random.Random("/".join(parts) if not DEEP else None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker, hand this worker's counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["oracle_tally"] = {
            spec: {**vars(t), "failures": dict(t.failures), "limits": dict(t.limits)}
            for spec, t in TALLY.items()
        }


def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller, add up what each worker counted."""
    for spec, data in getattr(node, "workeroutput", {}).get("oracle_tally", {}).items():
        TALLY[spec].merge(data)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One spec's tests on one worker (``--dist loadgroup``): its package is generated once."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "spec_env" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(callspec.params["spec_env"]))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    write = terminalreporter.write_line
    write(
        "oracle: spec | operations | requests judged | payloads decoded | schemathesis cases | "
        "left, with reason (judge_limits.json, open_defects.json) | failures"
    )
    for spec, t in sorted(TALLY.items()):
        limits = ", ".join(f"{k} x{v}" for k, v in sorted(t.limits.items())) or "none"
        causes = ", ".join(f"{k} x{v}" for k, v in t.failures.most_common()) or "none"
        write(
            f"oracle: {spec} | {t.operations} | {t.requests} | {t.payloads} | "
            f"{t.schemathesis_cases} | {limits} | {causes}"
        )
