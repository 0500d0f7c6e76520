"""The generated files come from the Jinja templates in ``templates/``: a user folder overrides
any single template (API and CLI), and the loader finds the defaults in an installed wheel's
layout (``codegen/templates``) as well as in a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from codegen.openapi.generate import generate
from codegen.openapi.render import Renderer, default_templates
from tests.codegen.openapi.conftest import SPECS

ROOT = Path(__file__).resolve().parents[3]
SPEC = SPECS / "petstore.yaml"


def _files(package_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(package_dir.iterdir()) if p.suffix == ".py"}


def test_a_template_in_the_user_folder_replaces_only_its_namesake(tmp_path: Path) -> None:
    default = generate(SPEC, tmp_path / "default", "pkg")
    mine = tmp_path / "mine"
    mine.mkdir()
    original = (default_templates() / "errors.py.jinja").read_text()
    (mine / "errors.py.jinja").write_text(original + "# house footer: reviewed by legal\n")
    custom = generate(SPEC, tmp_path / "custom", "pkg", templates=mine)
    before, after = _files(default.package_dir), _files(custom.package_dir)
    # ruff format puts a blank line between the last docstring and the comment
    assert after["errors.py"] == before["errors.py"] + "\n# house footer: reviewed by legal\n"
    assert {k: v for k, v in after.items() if k != "errors.py"} == {
        k: v for k, v in before.items() if k != "errors.py"
    }


def test_an_overridden_partial_is_used_by_every_template_including_it(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    head = (default_templates() / "_typing_head.jinja").read_text()
    (mine / "_typing_head.jinja").write_text("# typing imports: house style\n" + head)
    result = generate(SPEC, tmp_path / "out", "pkg", templates=mine)
    for name in ("errors.py", "client.py", "stubs.py"):
        text = (result.package_dir / name).read_text()
        assert "\n# typing imports: house style\n" in text, name


def test_cli_templates_option(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "pyproject.toml.jinja").write_text('[project]\nname = "{{ distribution }}-sdk"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "codegen", "generate", "openapi", str(SPEC)]
    command += ["--out", str(tmp_path / "out"), "--package", "my_pkg", "--quiet"]
    done = subprocess.run(
        [*command, "--templates", str(mine)], check=False, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "out" / "pyproject.toml").read_text() == '[project]\nname = "my-pkg-sdk"\n'
    assert (tmp_path / "out" / "my_pkg" / "client.py").is_file()
    missing = [*command, "--templates", str(tmp_path / "absent")]
    refused = subprocess.run(missing, check=False, env=env, capture_output=True, text=True)
    assert refused.returncode == 2
    assert "templates folder" in refused.stderr and "does not exist" in refused.stderr


def test_a_misspelt_name_in_a_template_fails_instead_of_writing_empty_text(tmp_path: Path) -> None:
    (tmp_path / "t.jinja").write_text("x = {{ packge }}\n")
    with pytest.raises(jinja2.UndefinedError, match="packge"):
        Renderer(tmp_path).render("t.jinja", package="p")


def test_the_wheel_layout_finds_its_templates(tmp_path: Path) -> None:
    """In a wheel, templates/ is force-included as codegen/templates (pyproject.toml)."""
    site = tmp_path / "site"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "codegen", site / "codegen", ignore=skip)
    shutil.copytree(ROOT / "templates", site / "codegen" / "templates")
    code = (
        "import sys; from pathlib import Path\n"
        "from codegen.openapi.render import default_templates\n"
        "from codegen.openapi.generate import generate\n"
        "print(default_templates())\n"
        f"generate(Path({str(SPEC)!r}), Path({str(tmp_path / 'out')!r}), 'pkg')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(site / "codegen" / "templates")
    assert "class Pet(" in (tmp_path / "out" / "pkg" / "models.py").read_text()


def test_a_template_added_to_the_folder_later_is_used_by_the_next_run(tmp_path: Path) -> None:
    """Environments are reused within a process: one must not keep serving the default."""
    mine = tmp_path / "mine"
    mine.mkdir()
    first = generate(SPEC, tmp_path / "one", "pkg", templates=mine)
    original = (default_templates() / "errors.py.jinja").read_text()
    (mine / "errors.py.jinja").write_text(original + "# added later\n")
    second = generate(SPEC, tmp_path / "two", "pkg", templates=mine)
    assert not (first.package_dir / "errors.py").read_text().endswith("# added later\n")
    assert (second.package_dir / "errors.py").read_text().endswith("\n# added later\n")
