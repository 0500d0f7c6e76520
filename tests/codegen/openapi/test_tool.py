"""``flext-api generate openapi`` as a user runs it: paths, refusals, --strict, all-or-nothing.

In-process through `codegen.cli.main` (the installed script's entry point); the installed wheel
itself is exercised by tests/codegen/test_wheel.py.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

from codegen.cli import main
from codegen.openapi import output
from tests.codegen.openapi.conftest import SPECS

PETSTORE = SPECS / "petstore.yaml"  # no diagnostics
WITH_DIAGNOSTICS = SPECS / "operations_31.yaml"
CODEGEN = Path(__file__).resolve().parents[3] / "codegen"


def _generate(spec: Path | str, out: Path | str, package: str, *extra: str) -> int:
    return main(["generate", "openapi", str(spec), "--out", str(out), "--package", package, *extra])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The whole of stderr, which must be exactly one ``error:`` line."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_relative_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(PETSTORE, tmp_path / "api.yaml")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert _generate("../api.yaml", "sdk/out", "shop", "--quiet") == 0
    assert (tmp_path / "work/sdk/out/shop/client.py").is_file()
    assert (tmp_path / "work/sdk/out/pyproject.toml").is_file()
    assert _generate(tmp_path / "api.yaml", tmp_path / "abs", "shop", "--quiet") == 0
    # The same document gives the same bytes wherever it was written from (and formatted).
    assert _tree(tmp_path / "abs") == _tree(tmp_path / "work/sdk/out")
    assert [p.name for p in (tmp_path / "abs").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("package", "says"),
    [
        ("json", "would shadow the standard library module"),
        ("asyncio", "would shadow the standard library module"),
        ("msgspec", "which the generated code imports"),
        ("class", "is a Python keyword"),
        ("not-valid", "is not a Python identifier"),
        ("a.b", "dots are not allowed"),
        ("9lives", "is not a Python identifier"),
    ],
)
def test_package_names_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], package: str, says: str
) -> None:
    assert _generate(PETSTORE, tmp_path / "out", package) == 2
    assert says in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_binary_file_directory_and_file_as_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "api.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert _generate(binary, tmp_path / "new" / "out", "shop") == 1
    assert "is a binary file, not a JSON or YAML OpenAPI document" in _error_line(capsys)
    latin1 = tmp_path / "latin1.yaml"
    data = "openapi: 3.0.3\ninfo: {title: Caf\xe9, version: '1'}\n".encode("latin-1")
    latin1.write_bytes(data)
    assert _generate(latin1, tmp_path / "out", "shop") == 1
    assert f"is not UTF-8 text (byte {data.index(0xE9)})" in _error_line(capsys)
    assert _generate(tmp_path, tmp_path / "out", "shop") == 2
    assert "is a directory; give the path of the OpenAPI document" in _error_line(capsys)
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    assert _generate(PETSTORE, afile, "shop") == 2
    assert f"--out {afile} is a file" in _error_line(capsys)
    assert afile.read_text() == "mine\n"
    assert _generate(PETSTORE, afile / "sub", "shop") == 2
    assert f"--out {afile / 'sub'} is a file ({afile} is)" in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.yaml", "latin1.yaml", "notes.txt"]


def test_strict_turns_diagnostics_into_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(WITH_DIAGNOSTICS, tmp_path, "ops", "--strict", "--quiet") == 1
    err = capsys.readouterr().err
    assert "warning: #/paths/~1empty/delete: operation has no responses" in err
    assert err.endswith(
        "diagnostic(s) and --strict: nothing written; fix the document or drop --strict\n"
    )
    assert list(tmp_path.iterdir()) == []
    # Without --strict the same document is written (G2); a clean one passes --strict.
    assert _generate(WITH_DIAGNOSTICS, tmp_path, "ops", "--quiet") == 0
    assert (tmp_path / "ops" / "client.py").is_file()
    assert "warning: #/paths/~1empty/delete" in capsys.readouterr().err
    assert _generate(PETSTORE, tmp_path / "clean", "shop", "--strict", "--quiet") == 0
    assert capsys.readouterr().err == ""
    assert (tmp_path / "clean" / "shop" / "client.py").is_file()


def test_strict_failure_keeps_the_previous_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(PETSTORE, tmp_path, "ops", "--quiet") == 0
    before = _tree(tmp_path)
    assert _generate(WITH_DIAGNOSTICS, tmp_path, "ops", "--strict", "--quiet") == 1
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops", "pyproject.toml"]


def test_document_failure_keeps_the_previous_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(PETSTORE, tmp_path / "out", "shop", "--quiet") == 0
    before = _tree(tmp_path / "out")
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.3\npaths: [unclosed\n")
    assert _generate(broken, tmp_path / "out", "shop") == 1
    assert "not valid JSON or YAML" in _error_line(capsys)
    assert _tree(tmp_path / "out") == before


def test_formatting_failure_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _generate(PETSTORE, tmp_path, "shop", "--quiet") == 0
    before = _tree(tmp_path)
    # A real formatter process that fails once everything is rendered into the staging folder.
    failing = [sys.executable, "-c", "import sys; print('boom: cannot parse'); sys.exit(2)"]
    monkeypatch.setattr(output, "ruff_command", lambda: failing)
    assert _generate(WITH_DIAGNOSTICS, tmp_path, "shop", "--quiet") == 1
    line = _error_line(capsys)
    assert "ruff check failed on the generated code (boom: cannot parse)" in line
    assert _tree(tmp_path) == before  # the earlier package, and no staging folder left over
    # A first run into folders it had to create removes them again.
    assert _generate(PETSTORE, tmp_path / "new" / "deeper", "shop", "--quiet") == 1
    assert "ruff check failed" in _error_line(capsys)
    assert not (tmp_path / "new").exists()


def test_regenerating_replaces_the_whole_package(tmp_path: Path) -> None:
    assert _generate(WITH_DIAGNOSTICS, tmp_path, "shop", "--quiet") == 0
    (tmp_path / "shop" / "_ops_gone.py").write_text("# Generated by flext-api codegen\n")
    assert _generate(PETSTORE, tmp_path, "shop", "--quiet") == 0
    assert not (tmp_path / "shop" / "_ops_gone.py").exists()
    assert "Pet" in (tmp_path / "shop" / "models.py").read_text()


def test_folders_it_did_not_write_are_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "shop"
    mine.mkdir()
    (mine / "__init__.py").write_text("HANDWRITTEN = True\n")
    assert _generate(PETSTORE, tmp_path, "shop") == 2
    assert "exists and was not written by this generator" in _error_line(capsys)
    assert (mine / "__init__.py").read_text() == "HANDWRITTEN = True\n"
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert _generate(PETSTORE, project, "shop") == 2
    assert "pyproject.toml exists and was not written by this generator" in _error_line(capsys)
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml"]
    (tmp_path / "empty").mkdir()  # an empty folder of that name is fine
    assert _generate(PETSTORE, tmp_path, "empty", "--quiet") == 0


def test_help_shows_user_commands_and_what_is_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    top = capsys.readouterr().out
    assert top.startswith("usage: flext-api [-h] command")
    assert "generate" in top and "unasync" not in top
    with pytest.raises(SystemExit):
        main(["generate", "openapi", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: flext-api generate openapi")
    for written in ("models.py", "client.py", "stubs.py", "errors.py", "--strict"):
        assert written in text
    with pytest.raises(SystemExit) as exc:
        main(["unasync", "--check"])
    assert exc.value.code == 2
    assert "invalid choice: 'unasync'" in capsys.readouterr().err


def test_generator_imports_are_package_relative() -> None:
    """The wheel ships codegen/ as flext_api_codegen: an absolute `codegen` import breaks it."""
    absolute = []
    for path in sorted(CODEGEN.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            absolute += [
                f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "codegen"
            ]
    assert absolute == []
