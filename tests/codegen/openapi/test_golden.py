"""Golden snapshots: the generated files for small specs, byte for byte.

Set UPDATE_GOLDEN=1 to rewrite them after an intended change (then review the diff).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.codegen.openapi.conftest import CORPUS, GOLDEN, SPECS, Generated

CASES = {
    "discriminators": SPECS / "discriminators.yaml",
    "allof_recursion": SPECS / "allof_recursion.yaml",
    "read_write_only": SPECS / "read_write_only.yaml",
    "negotiation": SPECS / "negotiation.yaml",
    "swaggerapi_petstore": CORPUS / "swaggerapi_petstore.yaml",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, make_package: Callable[[Path, str], Generated]) -> None:
    spec = CASES[case]
    if not spec.exists():
        pytest.skip(f"corpus folder {CORPUS} is absent: golden {case} not checked")
    result, _ = make_package(spec, "g")
    names = ["models.py", "__init__.py"]
    if case == "swaggerapi_petstore":
        names += ["errors.py", "operations.py", "client.py", "stubs.py", "testing.py"]
    if case in ("read_write_only", "negotiation"):
        names += ["operations.py"]
    if "operations.py" in names:  # the builders and parsers live in the per-group modules
        names += sorted(p.name for p in result.package_dir.glob("_ops*.py"))
    for name in names:
        got = (result.package_dir / name).read_text()
        golden = GOLDEN / case / f"{name}.golden"
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(got)
        assert got == golden.read_text(), f"{golden} differs: review, then UPDATE_GOLDEN=1"


def test_adding_an_unrelated_schema_renames_nothing(tmp_path: Path) -> None:
    from codegen.openapi.generate import generate

    text = (SPECS / "discriminators.yaml").read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(
        text + "    Aardvark: {type: object, properties: {x: {oneOf: [{type: string}]}}}\n"
    )
    before = generate(tmp_path / "a.yaml", tmp_path / "outa", "pkg").exported
    after = generate(tmp_path / "b.yaml", tmp_path / "outb", "pkg").exported
    assert sorted(set(after) - set(before)) == ["Aardvark"]
    assert set(before) <= set(after)


def test_client_imports_an_operation_group_on_first_call(
    make_package: Callable[[Path, str], Generated],
) -> None:
    """G23: ``import pkg.client`` compiles no builder or parser; a call imports only its group."""
    spec = CASES["swaggerapi_petstore"]
    if not spec.exists():
        pytest.skip(f"corpus folder {CORPUS} is absent")
    result, _ = make_package(spec, "g")
    package = result.package_dir.name
    code = f"""
import sys
import {package}.client as c

def groups():
    return sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("{package}._ops"))

assert groups() == [] and "{package}.operations" not in sys.modules, groups()
api = c.{result.api_name}Client(base_url="http://127.0.0.1:9")
api.get_inventory(timeout=0.5)
assert groups() == ["_ops_store"], groups()
api.get_inventory(timeout=0.5)
api.get_pet_by_id(pet_id=1, timeout=0.5)
assert groups() == ["_ops_pet", "_ops_store"], groups()
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=result.package_dir.parent,
        capture_output=True,
        text=True,
        check=False,
        # this checkout's flext_api, not whichever one the interpreter would find first
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert done.returncode == 0, done.stderr
